// Options that several commands take, declared once: the data directory, a checkpoint file, an
// output file; and the one way a command writes such a file.
import ArgumentParser
import Foundation
import MLPCore

/// --data: where the four MNIST files are.
struct DataDirectoryOption: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp("Directory holding the four MNIST IDX files (raw or .gz). Every rank reads it.", valueName: "dir"))
    var directory = "data/mnist"
}

/// --checkpoint: a .safetensors file to read.
struct CheckpointFileOption: ParsableArguments {
    @Option(help: ArgumentHelp("A .safetensors checkpoint written by `mlp train`.", valueName: "file"))
    var checkpoint: String
}

/// -o/--output: the file a command writes (each command names its default in its help).
struct OutputFileOption: ParsableArguments {
    @Option(name: .shortAndLong, help: ArgumentHelp("The SVG file to write (default: learning-curves.svg for plot, trace.svg for plot --trace, scaling.svg for scaling).", valueName: "file"))
    var output: String?
}

/// --trace and --trace-steps: a timeline of every rank's steps (train, sweep, bench).
struct TraceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Write a timeline of every rank's steps here at the end (Chrome trace JSON, for Perfetto, chrome://tracing or `mlp plot --trace`; rank 0 writes it).", valueName: "file"))
    var trace: String?

    @Option(help: ArgumentHelp("The steps --trace records: COUNT steps from step FIRST, and 2 either side of every validation. (default: 0:500)", valueName: "first:count"))
    var traceSteps: TraceWindow?

    func validate() throws {
        if traceSteps != nil && trace == nil { throw ValidationError("--trace-steps: says which steps --trace records; add --trace FILE.") }
    }

    func apply(to r: inout RunRequest) {
        r.tracePath = trace
        r.traceWindow = traceSteps ?? .standard
    }
}

extension TraceWindow: ExpressibleByArgument {
    public init?(argument: String) { self.init(parsing: argument) }
}

func write(_ text: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
        throw ConfigurationError("-o \(path): cannot write the file (missing directory or no permission).")
    }
}
