// The `mlp` tool: parse and validate flags, then hand a configuration to MLPCore.
// Exit codes: 0 success, 1 runtime failure, 2 usage error, 128+N stopped by signal N (checkpoint written).
import ArgumentParser
import Foundation
import MLPCore

@main
struct MLPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlp",
        abstract: "Train the Theano tutorial's multilayer perceptron on MNIST, data-parallel over MPI.",
        discussion: "Run `mlp train` as one process, or under `mpirun -np P mlp train` on P ranks.",
        version: Versions.text,
        subcommands: [Train.self, Sweep.self, Evaluate.self, Predict.self, Inspect.self, Plot.self, Bench.self, Scaling.self])

    static func main() {
        _ = Launch.underLauncher   // read now: MPI's start sets such variables for a singleton too
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let stop as StoppedBySignal {
            // After the agreed stop and its checkpoint: alone, end by the signal itself, as Unix
            // tools do, so that a shell loop around the run stops too; under a launcher, exit
            // 128 + N, which mpirun passes on as its own status (a rank killed by a signal would
            // make mpirun report an abnormal termination instead).
            Session.world?.finalize()
            if !Launch.underLauncher {
                signal(stop.signal, SIG_DFL)
                raise(stop.signal)
            }
            Foundation.exit(128 + stop.signal)
        } catch let error as UserFacingError {
            Failure.report(error)
            Failure.exit(error.exitCode)
        } catch let error as ExitCode {
            Failure.exit(error.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Failure.exit(0)
            }
            // One line, as for every other error; every rank of an mpirun job sees the same bad
            // flags, so rank 0 alone says so.
            if Launch.rank.map({ $0 == 0 }) ?? true {
                let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
                let arguments = CommandLine.arguments
                let known = configuration.subcommands.map { $0._commandName }
                let help = arguments.count > 1 && known.contains(arguments[1]) ? "mlp \(arguments[1]) --help" : "mlp --help"
                writeStandardError("mlp: error: \(message) (see `\(help)`)\n")
            }
            // Parse and validation failures are usage errors: exit 2, like other Unix tools.
            Failure.exit(code == .validationFailure ? 2 : code.rawValue)
        }
        Failure.exit(0)
    }
}

/// How a failure leaves the process: one line on stderr, MPI finalized or (when other ranks may be
/// stuck in a collective) aborted, then the exit code.
enum Failure {
    static func report(_ error: UserFacingError) {
        let world = Session.world
        if let world, !world.isRoot {
            if case TrainingError.failedOnOtherRank = error { return }
            if error.raisedByEveryRank { return }
        }
        let prefix = (world?.size ?? 1) > 1 ? "mlp: error (rank \(world!.rank)): " : "mlp: error: "
        writeStandardError(prefix + error.description + "\n")
        if error is EndsTheJob, let world {
            world.abort(exitCode: error.exitCode)
        }
    }

    static func exit(_ code: Int32) -> Never {
        Session.world?.finalize()
        Foundation.exit(code)
    }
}

/// The MPI world of this process, once a command has started it.
enum Session {
    nonisolated(unsafe) static var world: Communicator?

    static func start() throws -> Communicator {
        let world = try Communicator.world()
        Session.world = world
        return world
    }
}

/// How this process was started, read before MPI starts: under mpirun (or srun, or another PMIx
/// launcher) the environment names this process's rank.
enum Launch {
    static let environment = ProcessInfo.processInfo.environment
    /// Open MPI's variable, else PMIx's (srun, prterun).
    static let rank: Int? = (environment["OMPI_COMM_WORLD_RANK"] ?? environment["PMIX_RANK"]).flatMap { Int($0) }
    static let underLauncher = rank != nil
    /// Open MPI's mpirun in particular (it passes SIGINT on as SIGTERM).
    static let underMpirun = environment["OMPI_COMM_WORLD_RANK"] != nil
}

/// A run that a signal stopped after its checkpoint; main ends the process by that signal.
struct StoppedBySignal: Error {
    let signal: Int32
}

/// Everything mlp writes to stderr goes through here: write(2) straight to the descriptor, whose
/// failures (a closed or full stderr) are ignored, where FileHandle.write would stop the process.
func writeStandardError(_ text: String) {
    let bytes = Array(text.utf8)
    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress! + written, $0.count - written) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return }
        written += n
    }
}

/// Flushes stdout; the first time that fails (its reader went away: `mlp train | head`), says once
/// on stderr that training goes on. `mlp train` ignores SIGPIPE so that it behaves alike alone and
/// under mpirun (which keeps the ranks' stdout open whatever happens to its own).
func flushStandardOutput() {
    fflush(nil)
    var descriptor = pollfd(fd: STDOUT_FILENO, events: 0, revents: 0)   // a pipe whose reader left reports POLLERR
    guard poll(&descriptor, 1, 0) == 1, descriptor.revents & Int16(POLLERR) != 0 else { return }
    if !StandardOutput.gone {
        StandardOutput.gone = true
        warn("stdout was closed by its reader; training goes on, and the log and checkpoints have everything")
    }
}

enum StandardOutput { nonisolated(unsafe) static var gone = false }

/// A note or warning for the person at the terminal (stderr, so that stdout stays the results).
func warn(_ text: String) {
    writeStandardError("mlp: \(text)\n")
}

/// "wrote FILE" and the like: to stderr, beside the progress bar, away from the results.
func note(_ text: String) {
    writeStandardError("\(text)\n")
}

/// `mlp --version`: this program's version, and the libraries it runs with.
enum Versions {
    static let mlp = "0.9.0"
    static var text: String {
        "mlp \(mlp)\n\(Communicator.libraryVersion()); \(BLAS.version) (core: \(BLAS.coreName))"
    }
}
