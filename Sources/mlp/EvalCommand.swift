// `mlp eval`: the error rate and confusion matrix of a checkpoint on one split. No MPI.
import ArgumentParser
import Foundation
import MLPCore

extension MNIST.Split: ExpressibleByArgument {}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Score a checkpoint on a split of MNIST: error rate and confusion matrix.")

    @Option(help: ArgumentHelp("A .safetensors checkpoint written by `mlp train`.", valueName: "file"))
    var checkpoint: String

    @Option(name: .customLong("data"), help: ArgumentHelp("Directory holding the MNIST IDX files.", valueName: "dir"))
    var directory = "data/mnist"

    @Option(help: "Which split: test, validation or train.")
    var split: MNIST.Split = .test

    func run() throws {
        let model = try Checkpoint.load(checkpoint)
        let (loaded, owner) = try MNIST.loadSplit(split, directory: directory)
        let samples = loaded.compressedForScoring(model.configuration.architecture)
        let evaluator = Evaluator(model.configuration.architecture, threads: BLAS.scoringThreads())
        let confusion = withExtendedLifetime(owner) { evaluator.confusionMatrix(model.parameters, on: samples) }
        let wrong = samples.count - confusion.indices.reduce(0) { $0 + confusion[$1][$1] }
        print("\(checkpoint): \(model.configuration.architecture.summary), iteration \(model.state.iteration)")
        print(String(format: "%@ error: %.2f %% (%ld of %ld misclassified)", split.rawValue, 100 * Double(wrong) / Double(samples.count), wrong, samples.count))
        print("confusion matrix (rows: true digit, columns: predicted):")
        print("       " + (0..<confusion.count).map { String(format: "%6ld", $0) }.joined())
        for (digit, row) in confusion.enumerated() {
            print(String(format: "  %3ld  ", digit) + row.map { String(format: "%6ld", $0) }.joined())
        }
    }
}

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the predicted digit of every image in an IDX image file, one per line.")

    @Option(help: ArgumentHelp("A .safetensors checkpoint written by `mlp train`.", valueName: "file"))
    var checkpoint: String

    @Option(help: ArgumentHelp("An IDX image file (raw or .gz) of 28×28 images.", valueName: "file"))
    var images: String

    @Flag(help: "After each label, print the ten class probabilities.")
    var probabilities = false

    func run() throws {
        let model = try Checkpoint.load(checkpoint)
        let idx = try IDX.readImages(images)
        let set = LabeledImages(count: idx.dimensions[0])
        for (i, byte) in idx.bytes.enumerated() { set.pixels.base[i] = Float(byte) / 255 }
        let evaluator = Evaluator(model.configuration.architecture)  // one thread: chunks in order
        var out = ""
        _ = evaluator.mapChunks(model.parameters, set.all.compressedForScoring(model.configuration.architecture), initial: ()) { _, logits, _ in
            for i in 0..<logits.rows {
                let row = logits.row(i)
                out += String(SoftmaxCrossEntropy.argmax(row, logits.columns))
                if probabilities {
                    out += " " + SoftmaxCrossEntropy.probabilities(row, logits.columns).map { String(format: "%.6f", $0) }.joined(separator: " ")
                }
                out += "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
            out = ""
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's header, metadata and tensor table, and verify it.")

    @Argument(help: ArgumentHelp("A .safetensors file.", valueName: "file"))
    var file: String

    func run() throws {
        let bytes = try Checkpoint.readBytes(file)
        let container = try SafeTensorsFile.decode(bytes, path: file)
        print("\(file): safetensors, \(bytes.count) bytes, header \(container.dataOffset - 8) bytes, data \(bytes.count - container.dataOffset) bytes")
        print("metadata:")
        let width = container.metadata.keys.map(\.count).max() ?? 0
        for key in container.metadata.keys.sorted() {
            print("  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + container.metadata[key]!)
        }
        print("tensors:")
        print("  " + "name".padding(toLength: 16, withPad: " ", startingAt: 0) + "dtype  " + "shape".padding(toLength: 14, withPad: " ", startingAt: 0) + "data bytes")
        for t in container.tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print("  " + t.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "F32    " + shape.padding(toLength: 14, withPad: " ", startingAt: 0) + "\(t.begin)..<\(t.end)")
        }
        fflush(nil)
        // A failure is reported like every command's: `mlp: error: ...` on stderr, status 1.
        let checkpoint = try Checkpoint.decode(bytes, path: file)
        print("verified: \(checkpoint.configuration.architecture.summary), \(checkpoint.parameters.layout.count) parameters, data checksum \(container.metadata["data_crc32"] ?? "?") matches")
    }
}
