// What users of mpirun, Lightning and Unix tools expect, tried on the built binary: directories made
// on demand, `--resume auto`, logs that keep their history, `--version`, results on stdout and
// notes on stderr, signals that end the process, one rank per core, checkpoint cadence, plots.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct Conventions {
        static let quick = ["train", "--train-limit", "1000", "--eval-limit", "200"]

        /// Missing directories for checkpoints and logs are made (mkdir -p), on 2 ranks; a file in
        /// the way or a place nothing can be made is refused before training, in one line.
        @Test func directoriesAreMadeWhenMissing() throws {
            let s = Scratch()
            let result = try Launcher.mlp(Self.quick + ["--epochs", "1", "--checkpoint-dir", s.file("a/b/c"),
                                                        "--log-json", s.file("logs/x/log.jsonl"), "--log-csv", s.file("logs/y/log.csv")], ranks: 2)
            #expect(result.status == 0, "\(result.output)")
            for file in ["a/b/c/last.safetensors", "a/b/c/best.safetensors", "logs/x/log.jsonl", "logs/y/log.csv"] {
                #expect(FileManager.default.fileExists(atPath: s.file(file)), "\(file)")
            }
            _ = FileManager.default.createFile(atPath: s.file("plain"), contents: Data([1]))
            for (flags, words) in [(["--checkpoint-dir", s.file("plain/sub")], "\(s.file("plain")): exists and is not a directory"),
                                   (["--log-json", s.file("plain/log.jsonl")], "--log-json \(s.file("plain")): exists and is not a directory"),
                                   (["--checkpoint-dir", "/proc/mlp-test"], "--checkpoint-dir /proc/mlp-test: cannot create the directory")] {
                let refused = try Launcher.mlp(Self.quick + ["--epochs", "1"] + flags, ranks: 2, timeout: 60)
                #expect(refused.status == 2, "\(flags): \(refused.output)")
                #expect(refused.errorLines.count == 1 && refused.stderr.contains(words), "\(flags): \(refused.stderr)")
                #expect(!refused.stdout.contains("epoch 1"), "nothing trained: \(refused.stdout)")
            }
        }

        /// The same command twice with `--resume auto`: the first run starts afresh and is killed
        /// with SIGKILL on 2 ranks after its second validation; the second, on 1 rank, continues from
        /// last.safetensors and finishes. The log holds both runs, and reads as one run's curve.
        @Test func resumeAutoFinishesAKilledRun() throws {
            let s = Scratch()
            let dir = s.file("run"), log = s.file("run/log.jsonl")
            let command = ["train", "--train-limit", "4000", "--eval-limit", "500", "--epochs", "30",
                           "--checkpoint-dir", dir, "--log-json", log, "--resume", "auto"]
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary] + command)
            waitForValidations(log, 2, timeout: 60)
            Launcher.killJob(process)   // mpirun and both ranks, at once
            let killed = Launcher.finish(process, scratch, started: started, timeout: 30)
            #expect(killed.stderr.contains("--resume auto: no \(dir)/last.safetensors yet, so this run starts afresh"), "\(killed.output)")
            let saved = try Checkpoint.load(dir + "/last.safetensors")
            #expect(saved.state.iteration >= 200 && saved.state.iteration < 30 * 200, "killed at \(saved.state.iteration)")

            let resumed = try Launcher.mlp(command, ranks: nil)
            #expect(resumed.status == 0, "\(resumed.output)")
            #expect(resumed.stdout.contains("resumed     \(dir)/last.safetensors at iteration \(saved.state.iteration)"), "\(resumed.stdout)")
            let events = logEvents(log)
            let starts = events.filter { $0["event"] as? String == "start" }
            #expect(starts.count == 2 && starts[0]["resumed"] as? Bool == false && starts[1]["resumed"] as? Bool == true)
            #expect((starts[1]["iteration"] as? Int) == saved.state.iteration && (starts[1]["world_size"] as? Int) == 1)
            let curve = try RunLog.readValidations(log)
            #expect(curve.map(\.iteration) == (1...30).map { $0 * 200 }, "one validation per epoch, once each: \(curve.map(\.iteration))")
            #expect(try Checkpoint.load(dir + "/last.safetensors").state.iteration == 30 * 200)
        }

        /// A fresh run refuses a log that holds an earlier run; a resumed one appends to it (the
        /// JSON log gets a second start record, the CSV no second header).
        @Test func logsKeepTheirHistory() throws {
            let s = Scratch()
            let outputs = ["--checkpoint-dir", s.file("d"), "--log-json", s.file("log.jsonl"), "--log-csv", s.file("log.csv")]
            let first = try Launcher.mlp(Self.quick + ["--epochs", "2"] + outputs, ranks: 2)
            #expect(first.status == 0, "\(first.output)")
            let again = try Launcher.mlp(Self.quick + ["--epochs", "2"] + outputs, ranks: 2, timeout: 60)
            #expect(again.status == 2 && again.errorLines.count == 1, "\(again.output)")
            #expect(again.stderr.contains("--checkpoint-dir \(s.file("d")) holds last.safetensors and best.safetensors from an earlier run")
                    && again.stderr.contains("--resume auto"), "\(again.stderr)")
            let logOnly = try Launcher.mlp(Self.quick + ["--epochs", "2", "--log-json", s.file("log.jsonl")], ranks: 2, timeout: 60)
            #expect(logOnly.status == 2 && logOnly.stderr.contains("--log-json \(s.file("log.jsonl")): holds an earlier run's log"), "\(logOnly.stderr)")
            let resumed = try Launcher.mlp(["train", "--resume", s.file("d/last.safetensors"), "--epochs", "3"] + outputs, ranks: 2)
            #expect(resumed.status == 0, "\(resumed.output)")
            let events = logEvents(s.file("log.jsonl"))
            #expect(events.filter { $0["event"] as? String == "start" }.count == 2)
            #expect(events.filter { $0["event"] as? String == "validation" }.map { $0["iteration"] as? Int ?? 0 } == [50, 100, 150])
            let csv = try String(contentsOfFile: s.file("log.csv"), encoding: .utf8).split(separator: "\n")
            #expect(csv.count == 4 && csv.filter { $0.hasPrefix("epoch,") }.count == 1, "\(csv)")
        }

        /// `mlp --version`: the program's version, then the MPI and BLAS libraries it runs with.
        @Test func versionNamesTheLibraries() throws {
            let result = try Launcher.mlp(["--version"], timeout: 30)
            #expect(result.status == 0, "\(result.output)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 2 && lines[0].hasPrefix("mlp "), "\(result.stdout)")
            #expect(lines.last?.contains("Open MPI v") == true && lines.last?.contains("OpenBLAS 0.") == true
                    && lines.last?.contains("(core: ") == true, "\(result.stdout)")
        }

        /// Results on stdout, notes and the progress bar on stderr; the bar only on a terminal
        /// whose TERM is not dumb. `script` gives the run a terminal while its stdout goes to a file.
        @Test func resultsOnStdoutNotesOnStderr() throws {
            let s = Scratch()
            let flags = ["train", "--train-limit", "20000", "--eval-limit", "200", "--epochs", "1", "--log-json", s.file("log.jsonl")]
            let plain = try Launcher.mlp(flags, ranks: 2)
            #expect(plain.status == 0 && plain.stdout.contains("epoch 1, minibatch 1000/1000") && plain.stdout.contains("Optimization complete"))
            #expect(!plain.stderr.contains("ETA") && !plain.stderr.contains("epoch 1,"), "\(plain.stderr)")
            let plot = try Launcher.mlp(["plot", s.file("log.jsonl"), "-o", s.file("curves.svg")])
            #expect(plot.status == 0 && plot.stdout.isEmpty && plot.stderr.contains("wrote \(s.file("curves.svg"))"), "\(plot.output)")
            let svg = (try? String(contentsOfFile: s.file("curves.svg"), encoding: .utf8)) ?? ""
            #expect(svg.contains("best ") && svg.contains(" %</text>"), "the best validation point is marked with its value")
            _ = FileManager.default.createFile(atPath: s.file("broken.safetensors"), contents: Data([1, 2, 3]))
            let inspect = try Launcher.mlp(["inspect", s.file("broken.safetensors")])
            #expect(inspect.status != 0 && inspect.stderr.hasPrefix("mlp: error: ") && !inspect.stdout.contains("truncated"), "\(inspect.output)")

            for (term, bar) in [("xterm", true), ("dumb", false)] {
                let typescript = s.file("tty-\(term)")
                let inner = (Launcher.mpirun(2) + [Launcher.binary] + flags.dropLast(2)).joined(separator: " ") + " > \(s.file("out-\(term)"))"
                let result = try Launcher.run(["script", "-qfec", inner, typescript], environment: ["TERM": term])
                #expect(result.status == 0, "\(result.output)")
                let screen = (try? String(contentsOfFile: typescript, encoding: .utf8)) ?? ""
                let stdout = (try? String(contentsOfFile: s.file("out-\(term)"), encoding: .utf8)) ?? ""
                #expect(screen.contains("ETA") == bar, "TERM=\(term): \(screen)")
                #expect(!stdout.contains("ETA") && stdout.contains("Optimization complete"), "TERM=\(term): \(stdout)")
            }
        }

        /// SIGTERM or SIGINT to a lone process: the agreed stop, last.safetensors, then the process
        /// ends by that very signal (so a shell loop around it stops too). Under mpirun the ranks
        /// exit 128 + N, which mpirun passes on (FaultTests checks that).
        @Test(arguments: [SIGTERM, SIGINT])
        func aLoneProcessEndsByItsSignal(signal: Int32) throws {
            let s = Scratch()
            let started = Date()
            let (process, scratch) = try Launcher.start([Launcher.binary, "train", "--eval-limit", "500", "--epochs", "50",
                                                         "--checkpoint-dir", s.file("d"), "--log-json", s.file("log.jsonl")])
            waitForValidations(s.file("log.jsonl"), 1, timeout: 60)
            kill(process.pid, signal)
            let result = Launcher.finish(process, scratch, started: started, timeout: 60)
            #expect(result.signal == signal, "ended by signal \(result.signal.map(String.init) ?? "none"), status \(result.status): \(result.output)")
            #expect(result.stderr.contains("stopped by \(StopSignal.name(signal)) after iteration"), "\(result.stderr)")
            let saved = try Checkpoint.load(s.file("d/last.safetensors"))
            #expect(saved.state.iteration >= 2500)
        }

        /// --checkpoint-every 2 on 2 ranks: last.safetensors still holds the end of the run, best
        /// every new best; the cadence itself is TrainerTests.checkpointEveryWritesEveryNth.
        @Test func checkpointEveryKeepsTheEnd() throws {
            let s = Scratch()
            let result = try Launcher.mlp(Self.quick + ["--epochs", "3", "--checkpoint-every", "2", "--checkpoint-dir", s.file("d")], ranks: 2)
            #expect(result.status == 0, "\(result.output)")
            #expect(try Checkpoint.load(s.file("d/last.safetensors")).state.iteration == 150)
            #expect(try Checkpoint.load(s.file("d/best.safetensors")).state.iteration == 150, "the error falls every epoch here")
            let zero = try Launcher.mlp(Self.quick + ["--checkpoint-every", "0"], timeout: 30)
            #expect(zero.status == 2 && zero.stderr.contains("--checkpoint-every 0: must be at least 1"), "\(zero.output)")
            let auto = try Launcher.mlp(Self.quick + ["--resume", "auto"], timeout: 30)
            #expect(auto.status == 2 && auto.stderr.contains("--resume auto: continues from <checkpoint-dir>/last.safetensors, so it needs --checkpoint-dir DIR"),
                    "\(auto.output)")
        }

        /// Scripts/train.sh lets mpirun place one rank per core (as it counts them) and runs as a
        /// user or as root.
        @Test func trainScriptRunsOneRankPerCore() throws {
            let s = Scratch().linkRepository()
            let result = try Launcher.run(["bash", "Scripts/train.sh", "--epochs", "1", "--train-limit", "1000", "--eval-limit", "200"],
                                          timeout: 300, directory: s.path)
            #expect(result.status == 0, "\(result.output)")
            let cores = Set(((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").components(separatedBy: "\n\n")
                .filter { !$0.isEmpty }
                .map { block in ["physical id", "core id"].map { key in block.split(separator: "\n").first { $0.hasPrefix(key) } ?? "" } }).count
            #expect(result.stdout.contains("parallel    \(cores) rank"), "\(cores) cores: \(result.stdout)")
        }
    }
}
