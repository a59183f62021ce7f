// What a hostile pass found, each case reproduced and now answered: planted symbolic links never
// followed, finished checkpoints never overwritten without being asked, every input checked against
// what it is used with before it is used (one line, status 1 or 2, never a signal), bounded memory
// and time for absurd inputs.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct HostileInput {
        let quick = ["--train-limit", "400", "--eval-limit", "200", "--epochs", "1"]

        /// One line on stderr, the status, and no crash: every case below ends so.
        func expectRefused(_ result: RunResult, status: Int32, _ words: String, _ name: String) {
            #expect(result.status == status && result.signal == nil, "\(name): status \(result.status), \(result.output)")
            #expect(result.errorLines.count == 1 && result.stderr.contains(words), "\(name): \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack dump"), "\(name): \(result.stderr)")
        }

        /// Links planted in a run directory: at the lock file, at a sweep's configuration folder, and
        /// a log named like a checkpoint. Every target is untouched.
        @Test func plantedLinksAreRefusedAndTargetsUntouched() throws {
            let s = Scratch()
            let victim = s.file("victim")
            FileManager.default.createFile(atPath: victim, contents: Data("precious\n".utf8))
            let run = s.directory("run")
            try FileManager.default.createSymbolicLink(atPath: run + "/.mlp.lock", withDestinationPath: victim)
            expectRefused(try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", run], ranks: 2), status: 2,
                          "\(run)/.mlp.lock is a symbolic link", "lock link")

            let out = s.directory("sweep"), elsewhere = s.directory("elsewhere")
            try FileManager.default.createSymbolicLink(atPath: out + "/lr=0.1", withDestinationPath: elsewhere)
            let sweep = try Launcher.mlp(["sweep", "--lr", "0.1", "--out", out] + quick, timeout: 60)
            expectRefused(sweep, status: 2, "\(out)/lr=0.1 is a symbolic link", "sweep folder link")

            let logInside = try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", s.file("d"), "--log-json", s.file("d/last.safetensors")])
            expectRefused(logInside, status: 2, "that is one of --checkpoint-dir's own files (last.safetensors)", "log as a checkpoint")

            #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
            #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        }

        /// A finished run's checkpoints: a fresh run into its directory is refused, naming them and the
        /// ways on; --overwrite starts afresh; --resume auto with only best.safetensors is refused.
        @Test func finishedWorkIsNeverOverwrittenSilently() throws {
            let s = Scratch()
            let dir = s.file("d")
            #expect(try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", dir]).status == 0)
            let best = try Data(contentsOf: URL(fileURLWithPath: dir + "/best.safetensors"))
            expectRefused(try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", dir], ranks: 2), status: 2,
                          "--checkpoint-dir \(dir) holds last.safetensors and best.safetensors from an earlier run", "fresh run")
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/best.safetensors")) == best)
            let over = try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", dir, "--overwrite", "--lr", "0.02"])
            #expect(over.status == 0, "\(over.output)")

            try FileManager.default.removeItem(atPath: dir + "/last.safetensors")
            expectRefused(try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", dir, "--resume", "auto"]), status: 2,
                          "holds best.safetensors from an earlier run", "best only")
            #expect(FileManager.default.fileExists(atPath: dir + "/best.safetensors"))
        }

        /// A stop that lands before the first step writes a checkpoint that resumes (its best
        /// iteration was 1 past its iteration 0, and every rerun failed).
        @Test func stopBeforeTheFirstStepResumes() throws {
            let s = Scratch()
            let dir = s.file("d")
            let started = Date()
            let (process, scratch) = try Launcher.start([Launcher.binary, "train", "--epochs", "1", "--checkpoint-dir", dir, "--resume", "auto"])
            // Once the handlers are in (SigCgt holds SIGUSR1), the signal stops the run at its first step.
            waitFor("the trainer's signal handlers", timeout: 30) {
                let status = (try? String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8)) ?? ""
                guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
                      let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
                return mask & (1 << (UInt64(SIGUSR1) - 1)) != 0
            }
            kill(process.pid, SIGUSR1)
            let stopped = Launcher.finish(process, scratch, started: started, timeout: 60)
            #expect(stopped.signal == SIGUSR1 || stopped.status == 138, "\(stopped.output)")
            let saved = try Checkpoint.load(dir + "/last.safetensors")
            #expect(saved.state.iteration % 64 == 0, "a stop lands on a fold point: \(saved.state.iteration)")
            let again = try Launcher.mlp(["train", "--epochs", "1", "--train-limit", "2000", "--checkpoint-dir", dir, "--resume", "auto"], ranks: 2)
            #expect(again.status == 0 || again.stderr.contains("--train-limit"), "\(again.output)")
            let resumed = try Launcher.mlp(["train", "--epochs", "1", "--checkpoint-dir", dir, "--resume", "auto", "--eval-limit", "200"], ranks: 2, timeout: 120)
            #expect(resumed.status == 0, "\(resumed.output)")
        }

        /// A checkpoint (valid checksums) whose model does not fit the data: refused by every command
        /// that would use it, where it used to trap or write out of bounds.
        @Test(arguments: [(100, 10, "it takes 100 inputs, the images have 784 pixels"), (784, 5, "it has 5 outputs")])
        func modelThatDoesNotFitTheData(inputs: Int, outputs: Int, words: String) throws {
            let s = Scratch()
            var configuration = TrainingConfiguration()
            configuration.architecture = Architecture(inputSize: inputs, hiddenSizes: [20], outputSize: outputs)
            let state = TrainingState(stopping: EarlyStopping(patience: 10_000, batchesPerEpoch: 20))
            let file = s.file("odd.safetensors")
            let checkpoint = Checkpoint(configuration: configuration, trainSamples: 400, evaluationSamples: 200, state: state, worldSize: 1,
                                        parameters: .initialized(configuration.architecture, seed: 1))
            FileManager.default.createFile(atPath: file, contents: Data(checkpoint.encoded()))
            let images = Launcher.data + "/" + MNIST.testImages + ".gz"
            for command in [["eval", "--checkpoint", file], ["predict", "--checkpoint", file, "--images", images],
                            ["train", "--resume", file, "--epochs", "2"]] {
                expectRefused(try Launcher.mlp(command), status: 2, words, "\(command[0]) with \(inputs)→\(outputs)")
            }
        }

        /// Numbers at the edge of what a count can hold, from flags and files: refused in one line.
        @Test func absurdNumbersAreRefused() throws {
            let s = Scratch()
            let cases: [(command: [String], status: Int32, words: String)] = [
                (["train", "--epochs", "9223372036854775807"], 2, "--epochs 9223372036854775807: must be at least 1 (and at most"),
                (["train", "--lr-scaling", "linear", "--warmup-epochs", "9223372036854775807"], 2, "--warmup-epochs 9223372036854775807"),
                (["bench", "--seconds", "1e300"], 2, "--seconds 1e+300"),
                (["train", "--watchdog", "1e-300"], 2, "--watchdog 1e-300"),
                (["train", "--checkpoint-dir", ""], 2, "--checkpoint-dir '': an empty path"),
                (["train", "--log-json", s.file("a"), "--log-csv", s.file("a")], 2, "--log-json and --log-csv both name"),
                (["sweep", "--out", s.file("w"), "--lr", (1...100).map { "\($0)e-3" }.joined(separator: ","),
                  "--l2", (1...100).map { "\($0)e-3" }.joined(separator: ","), "--l1", (1...100).map { "\($0)e-3" }.joined(separator: ",")],
                 2, "make 1000000 configurations; a sweep trains at most 10000"),
                (["sweep", "--out", s.file("w"), "--lr", (1...10_001).map { "0.\($0)" }.joined(separator: ",")], 2, "10001 values"),
            ]
            for (command, status, words) in cases {
                let result = try Launcher.mlp(command, timeout: 30)
                expectRefused(result, status: status, words, command.prefix(3).joined(separator: " "))
                #expect(result.seconds < 10, "\(command.prefix(3)): \(result.seconds) s")
            }
        }

        /// Logs and benchmark CSVs with values no run writes: one line each, in bounded time.
        @Test func absurdLogsAndTablesAreRefused() throws {
            let s = Scratch()
            let header = ScalingRow.csvHeader
            func row(ranks: String, batch: String = "20") -> String { "\(ranks),1,\(batch),factors,1000,1,1,1,1,1,1,1,1,1,1,1,1,,,1,1,397510" }
            let tables: [(String, [String], String)] = [
                ([header, row(ranks: "nan")].joined(separator: "\n"), [], "bad value in column ranks"),
                ([header, row(ranks: "1e300")].joined(separator: "\n"), [], "bad value in column ranks"),
                ([header, row(ranks: "0")].joined(separator: "\n"), ["--weak"], "bad value in column ranks"),
            ]
            for (i, (text, flags, words)) in tables.enumerated() {
                FileManager.default.createFile(atPath: s.file("t\(i).csv"), contents: Data(text.utf8))
                expectRefused(try Launcher.mlp(["scaling", s.file("t\(i).csv"), "-o", s.file("t\(i).svg")] + flags, timeout: 30), status: 2, words, "table \(i)")
            }
            let start = #"{"event":"start","iteration":0,"batches_per_epoch":2500}"#
            func validation(epoch: String, error: String = "0.1") -> String {
                #"{"event":"validation","epoch":\#(epoch),"iteration":2500,"train_loss":0.5,"validation_error":\#(error),"best_validation_error":0.1,"seconds":1,"samples_per_second":1}"#
            }
            let logs: [(String, String)] = [
                ([start, validation(epoch: "1e20")].joined(separator: "\n"), "epoch is not a count"),
                ([start, validation(epoch: "1", error: "1e307")].joined(separator: "\n"), "validation_error 1e+307 is not in"),
                ([start, validation(epoch: "100000000000000000"), validation(epoch: "100000000000000016")].joined(separator: "\n"), "epoch is not a count"),
                (String(repeating: "x", count: 3 << 20), "a line longer than"),
            ]
            for (i, (text, words)) in logs.enumerated() {
                FileManager.default.createFile(atPath: s.file("l\(i).jsonl"), contents: Data(text.utf8))
                let result = try Launcher.run(["/usr/bin/time", "-f", "peak %M kB", Launcher.binary, "plot", s.file("l\(i).jsonl"), "-o", s.file("l\(i).svg")], timeout: 30)
                #expect(result.status == 2 && result.stderr.contains(words) && !result.stderr.contains("Fatal error"), "log \(i): \(result.output)")
                let peak = Int(result.stderr.split(separator: "\n").last { $0.hasPrefix("peak ") }?.split(separator: " ")[1] ?? "") ?? .max
                #expect(peak < 200_000, "log \(i): peak \(peak) kB")
            }
        }

        /// A huge sparse file given as a checkpoint: refused from its first bytes, without reading
        /// (or broadcasting) its body.
        @Test func hugeFileIsRefusedFromItsHeader() throws {
            let s = Scratch()
            let file = s.file("huge.safetensors")
            #expect(try Launcher.run(["truncate", "-s", "5G", file]).status == 0)
            let inspect = try Launcher.run(["/usr/bin/time", "-f", "peak %M kB", Launcher.binary, "inspect", file], timeout: 30)
            #expect(inspect.status == 1 && inspect.stderr.contains("header length 0 does not fit"), "\(inspect.output)")
            let peak = Int(inspect.stderr.split(separator: "\n").last { $0.hasPrefix("peak ") }?.split(separator: " ")[1] ?? "") ?? .max
            #expect(peak < 200_000 && inspect.seconds < 5, "peak \(peak) kB in \(inspect.seconds) s")
            let resume = try Launcher.mlp(["train", "--resume", file], ranks: 2, timeout: 60)
            #expect(resume.status == 1 && resume.stderr.contains("header length 0 does not fit") && resume.seconds < 20, "\(resume.output)")
        }

        /// `predict | head -1` with SIGPIPE ignored by the shell (as Python's subprocess leaves it):
        /// the first line, and no error from mlp.
        @Test func predictIntoAClosedPipeEndsQuietly() throws {
            let s = Scratch()
            let dir = s.file("d")
            #expect(try Launcher.mlp(["train"] + quick + ["--checkpoint-dir", dir]).status == 0)
            let images = Launcher.data + "/" + MNIST.testImages + ".gz"
            let result = try Launcher.run(["sh", "-c", "trap '' PIPE; \(Launcher.binary) predict --checkpoint \(dir)/best.safetensors --images \(images) | head -1"])
            #expect(result.stdout.split(separator: "\n").count == 1 && result.stderr.isEmpty, "\(result.output)")
        }

        /// A header whose metadata holds terminal control characters (an escape sequence that would
        /// draw a fake "verified" line): shown escaped, never sent to the terminal as is.
        @Test func inspectShowsControlCharactersEscaped() throws {
            let s = Scratch()
            var values = [Float](repeating: 0.5, count: 4)
            let bytes = values.withUnsafeMutableBufferPointer { buffer in
                SafeTensorsFile.encode(metadata: ["note\u{1B}[2K\rverified: fake": "x\u{7}"],
                                       tensors: [("w", [2, 2], UnsafeBufferPointer(buffer))])
            }
            FileManager.default.createFile(atPath: s.file("odd.safetensors"), contents: Data(bytes))
            let result = try Launcher.mlp(["inspect", s.file("odd.safetensors")])
            #expect(!result.stdout.contains("\u{1B}") && !result.stdout.contains("\u{7}"), "\(result.stdout)")
            #expect(result.stdout.contains("note\\u{1B}[2K\\u{D}verified: fake"), "\(result.stdout)")
            #expect(result.status == 1 && result.errorLines.count == 1, "not an mlp checkpoint: \(result.stderr)")
        }

        /// `mlp train | head -1`: training goes on to its end with its checkpoints, alone (with a note
        /// on stderr) and under mpirun alike.
        @Test func trainingOutlivesItsStdout() throws {
            let s = Scratch()
            for (name, launch) in [("alone", [Launcher.binary]), ("mpirun", Launcher.mpirun(2) + [Launcher.binary])] {
                let dir = s.file(name)
                let command = (launch + ["train"] + quick + ["--epochs", "3", "--checkpoint-dir", dir]).joined(separator: " ")
                let result = try Launcher.run(["bash", "-c", "set -o pipefail; \(command) | head -1"], timeout: 120)
                #expect(result.status == 0 && result.stdout.split(separator: "\n").count == 1, "\(name): \(result.output)")
                #expect(try Checkpoint.load(dir + "/last.safetensors").state.iteration == 3 * 20, "\(name): the run finished")
            }
        }

        /// Inputs named in the wrong way: a file as --data, an unknown subcommand.
        @Test func wrongKindsOfInput() throws {
            let s = Scratch()
            FileManager.default.createFile(atPath: s.file("file"), contents: Data("x".utf8))
            expectRefused(try Launcher.mlp(["train", "--data", s.file("file")]), status: 2, "\(s.file("file")): is a file, not a data directory", "--data FILE")
            let unknown = try Launcher.run([Launcher.binary, "frobnicate"])
            #expect(unknown.status == 2 && unknown.stderr.contains("(see `mlp --help`)"), "\(unknown.stderr)")
        }
    }
}
