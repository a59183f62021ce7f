// Runs the built `mlp` binary, alone or under real mpirun, with a time limit, and collects what it
// printed. Every integration test goes through here.
import Foundation
import MLPCore
import Testing

/// All integration tests run one at a time: they launch several processes on a small machine.
@Suite(.serialized) struct Integration {}

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let seconds: Double
    let timedOut: Bool

    var output: String { stdout + stderr }
    /// The error lines the program printed ("mlp: error ...").
    var errorLines: [Substring] { stderr.split(separator: "\n").filter { $0.hasPrefix("mlp:") } }
}

enum Launcher {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static let data = repository + "/data/mnist"

    /// The `mlp` built next to this test bundle (or $MLP_BINARY).
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["MLP_BINARY"] { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("mlp").path
    }()

    /// mpirun with the flags every test needs: root allowed, more ranks than cores, no binding
    /// (faster here), and its own warnings about those choices silenced.
    static func mpirun(_ ranks: Int, extra: [String] = []) -> [String] {
        ["mpirun", "--allow-run-as-root", "-np", String(ranks), "--oversubscribe", "--bind-to", "none"] + extra
    }

    /// Starts a command, output to files. Foundation starts it in a process group of its own, which
    /// mpirun's ranks share, so a time-out can end all of it. The test runner's threads block most
    /// signals and a child inherits the spawning thread's mask: mpirun would then never see (nor
    /// forward) a SIGTERM, so the mask is cleared first.
    static func start(_ command: [String], environment: [String: String] = [:], directory: String? = nil) throws -> (Process, String) {
        let scratch = NSTemporaryDirectory() + "mlp-run-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.currentDirectoryURL = URL(fileURLWithPath: directory ?? repository)
        // This test process may itself be an MPI singleton (the unit tests start one); its OMPI_*,
        // PMIX_* and OPAL_* variables would make mpirun believe it runs inside that job.
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "OPAL_", "ORTE_"].contains { key.hasPrefix($0) } || key.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT")
        }
        env["OMPI_MCA_btl_base_warn_component_unused"] = "0"
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"          // CI runs as root; harmless otherwise
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = FileHandle(forWritingAtPath: scratch + "/out")
        process.standardError = FileHandle(forWritingAtPath: scratch + "/err")
        var empty = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, nil)
        try process.run()
        return (process, scratch)
    }

    /// Waits for a started command; after `timeout` seconds its whole process group is killed.
    static func finish(_ process: Process, _ scratch: String, started: Date, timeout: Double) -> RunResult {
        var timedOut = false
        while process.isRunning {
            if Date().timeIntervalSince(started) > timeout {
                timedOut = true
                kill(-process.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        let read = { (name: String) in (try? String(contentsOfFile: scratch + "/" + name, encoding: .utf8)) ?? "" }
        let result = RunResult(status: process.terminationStatus, stdout: read("out"), stderr: read("err"),
                               seconds: Date().timeIntervalSince(started), timedOut: timedOut)
        try? FileManager.default.removeItem(atPath: scratch)
        return result
    }

    static func run(_ command: [String], timeout: Double = 180, environment: [String: String] = [:], directory: String? = nil) throws -> RunResult {
        let started = Date()
        let (process, scratch) = try start(command, environment: environment, directory: directory)
        return finish(process, scratch, started: started, timeout: timeout)
    }

    /// `mlp ARGS` alone (ranks nil: an MPI singleton) or under `mpirun -np ranks`.
    static func mlp(_ arguments: [String], ranks: Int? = nil, timeout: Double = 180) throws -> RunResult {
        try run((ranks.map { mpirun($0) } ?? []) + [binary] + arguments, timeout: timeout)
    }

    /// Under mpirun, with `rankArguments(rank)` appended for each rank (e.g. a broken --data for one).
    static func mlpPerRank(_ arguments: [String], ranks: Int, timeout: Double = 60, _ rankArguments: (Int) -> [String]) throws -> RunResult {
        var command = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
        for rank in 0..<ranks {
            if rank > 0 { command.append(":") }
            command += ["-np", "1", binary] + arguments + rankArguments(rank)
        }
        return try run(command, timeout: timeout)
    }
}

/// A scratch directory for checkpoints and logs, removed afterwards.
final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "mlp-it-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
    func directory(_ name: String) -> String {
        try! FileManager.default.createDirectory(atPath: file(name), withIntermediateDirectories: true)
        return file(name)
    }
}

extension Scratch {
    /// Makes this directory look like the repository for commands that use relative paths
    /// (.build/release/mlp, data/mnist, Scripts/...): links to the real ones; their outputs stay here.
    func linkRepository() -> Scratch {
        for name in [".build", "data", "Scripts", "README.md", "Package.swift", "Sources"] {
            try? FileManager.default.createSymbolicLink(atPath: file(name), withDestinationPath: Launcher.repository + "/" + name)
        }
        return self
    }
}

/// JSON Lines events of a --log-json file.
func logEvents(_ path: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

/// The largest |a − b| / (|b| + floor) over two parameter sets.
func worstRelativeDifference(_ a: ParameterSet, _ b: ParameterSet, floor: Float = 1e-3) -> Float {
    zip(a.flat, b.flat).map { abs($0 - $1) / (abs($1) + floor) }.max() ?? 0
}
