// Runs the built `mlp` binary, alone or under real mpirun, with a time limit, and collects what it
// printed. Every integration test goes through here.
import Foundation
import MLPCore
import TestSupport
import Testing

/// All integration tests run one at a time: they launch several processes on a small machine.
@Suite(.serialized) struct Integration {}

/// A started command.
struct Child {
    let pid: pid_t
    let command: [String]
    var processIdentifier: Int32 { pid }
}

struct RunResult {
    /// The exit status, or 128 + N when signal N ended the process (as a shell reports it).
    let status: Int32
    /// The signal that ended the process, if one did (`status` alone cannot tell 143 from SIGTERM).
    let signal: Int32?
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

    /// The rank-`rank` process among mpirun's children (Open MPI puts the rank in its environment).
    static func rankProcess(under mpirun: Int32, rank: Int) -> Int32? {
        let children = (try? String(contentsOfFile: "/proc/\(mpirun)/task/\(mpirun)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").compactMap { Int32($0) }.first { pid in
            let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
            return environ.split(separator: 0).contains { $0.elementsEqual("OMPI_COMM_WORLD_RANK=\(rank)".utf8) }
        }
    }

    /// Starts a command with posix_spawn, output to files, in a process group of its own (mpirun's
    /// ranks join it, so a time-out can end all of it), with an empty signal mask and default
    /// signal handling: the test runner's threads block most signals, and mpirun, inheriting that,
    /// would never see (nor forward) a SIGTERM a test sends it.
    static func start(_ command: [String], environment: [String: String] = [:], directory: String? = nil) throws -> (Child, String) {
        let scratch = NSTemporaryDirectory() + "mlp-run-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        // This test process may itself be an MPI singleton (the unit tests start one); its OMPI_*,
        // PMIX_* and OPAL_* variables would make mpirun believe it runs inside that job.
        var env = ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "OPAL_", "ORTE_"].contains { key.hasPrefix($0) } || key.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT")
        }
        env["OMPI_MCA_btl_base_warn_component_unused"] = "0"
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"          // CI runs as root; harmless otherwise
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (key, value) in environment { env[key] = value }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t(), defaults = sigset_t()
        sigemptyset(&mask)
        sigemptyset(&defaults)
        for number in [SIGTERM, SIGINT, SIGUSR1, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, scratch + "/out", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, scratch + "/err", O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        // The shell changes directory and then becomes the command (exec keeps the mask).
        let arguments = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory ?? repository] + command
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp)
        guard code == 0 else { throw ConfigurationError("posix_spawn failed: \(String(cString: strerror(code)))") }
        return (Child(pid: pid, command: command), scratch)
    }

    /// Waits for a started command; after `timeout` seconds its whole process group is killed and
    /// the test fails with a line naming itself, the command and the limit (also on stderr at once,
    /// so that a CI log shows it even if the run goes no further).
    static func finish(_ child: Child, _ scratch: String, started: Date, timeout: Double) -> RunResult {
        var timedOut = false, status: Int32 = 0
        while waitpid(child.pid, &status, WNOHANG) == 0 {
            if Date().timeIntervalSince(started) > timeout {
                timedOut = true
                killJob(child)
                waitpid(child.pid, &status, 0)
                let message = "\(Test.current?.name ?? "a test"): timed out after \(Int(timeout)) s and killed: \(child.command.joined(separator: " "))"
                FileHandle.standardError.write(Data(("time-out: " + message + "\n").utf8))
                Issue.record(Comment(rawValue: message))
                break
            }
            usleep(20_000)
        }
        let exited = status & 0x7F == 0
        let read = { (name: String) in (try? String(contentsOfFile: scratch + "/" + name, encoding: .utf8)) ?? "" }
        let result = RunResult(status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F), signal: exited ? nil : status & 0x7F,
                               stdout: read("out"), stderr: read("err"),
                               seconds: Date().timeIntervalSince(started), timedOut: timedOut)
        try? FileManager.default.removeItem(atPath: scratch)
        return result
    }

    /// SIGKILL to a started command and everything it started: Open MPI puts its ranks in process
    /// groups of their own, so killing mpirun's group alone would leave them running.
    static func killJob(_ child: Child) {
        for pid in descendants(of: child.pid) { kill(pid, SIGKILL) }
        kill(-child.pid, SIGKILL)
    }

    /// Waits until none of `pids` runs any more (a zombie counts as gone): an mpirun killed by
    /// signals can exit while its ranks still train and write for about a second. After `timeout` seconds the test
    /// fails with a line naming `what` it waited for.
    static func waitForExit(_ pids: [pid_t], timeout: Double, what: String) {
        let deadline = Date().addingTimeInterval(timeout)
        func running(_ pid: pid_t) -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
        }
        while pids.contains(where: running) {
            guard Date() < deadline else {
                Issue.record(Comment(rawValue: "\(what) (pids \(pids.filter(running))) still ran \(Int(timeout)) s later"))
                return
            }
            usleep(10_000)
        }
    }

    /// Every process below `pid`, from /proc (each process's parent is field 4 of its stat line).
    static func descendants(of pid: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let id = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = pid_t(fields[1]) { children[parent, default: []].append(id) }
        }
        var found: [pid_t] = [], queue = [pid]
        while let next = queue.popLast() {
            for c in children[next] ?? [] { found.append(c); queue.append(c) }
        }
        return found
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

extension Scratch {
    /// Makes this directory look like the repository for commands that use relative paths
    /// (.build/release/mlp, data/mnist, Scripts/...): links to the real ones; their outputs stay here.
    func linkRepository() -> Scratch {
        for name in [".build", "data", "Scripts", "README.md", "Package.swift", "Sources", "Tests"] {
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


/// Waits until the JSON log holds `count` validation records; fails the test, naming the log, if it
/// does not within `timeout` seconds.
@discardableResult
func waitForValidations(_ log: String, _ count: Int, timeout: Double = 60,
                        sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
    waitFor("\(count) validation record(s) in \(log)", timeout: timeout, every: 0.02, sourceLocation: sourceLocation) {
        logEvents(log).filter { $0["event"] as? String == "validation" }.count >= count
    }
}
