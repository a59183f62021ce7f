// Hostile conditions that a user or a scheduler can create: two trainers on one checkpoint
// directory, the program's own resume hint run as printed, full disks, signals sent twice.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct Hostile {
        /// A second trainer on a directory that a running one holds is refused at once, on every
        /// rank, naming the directory and the first trainer's process; the first goes on.
        @Test func twoTrainersOnOneDirectory() throws {
            let s = Scratch()
            let dir = s.file("shared"), log = s.file("first.jsonl")
            let started = Date()
            let (first, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary, "train", "--eval-limit", "500", "--epochs", "50",
                                                                              "--checkpoint-dir", dir, "--log-json", log])
            defer { Launcher.killJob(first); _ = Launcher.finish(first, scratch, started: started, timeout: 30) }
            waitForValidations(log, 1, timeout: 60)
            let second = try Launcher.mlp(["train", "--train-limit", "1000", "--checkpoint-dir", dir], ranks: 2, timeout: 60)
            #expect(second.status == 2 && second.seconds < 30, "\(second.status) after \(second.seconds) s: \(second.output)")
            #expect(second.errorLines.count == 1 && second.stderr.contains("--checkpoint-dir \(dir): another trainer (process "), "\(second.stderr)")
            #expect(!second.stdout.contains("epoch 1,"))
            #expect(kill(first.pid, 0) == 0, "the first trainer goes on")
        }

        /// The hint printed after a signal resumes the run as given (it used to fail for a run with
        /// --train-limit: the resume took the full training set and refused the checkpoint).
        @Test func printedResumeHintWorks() throws {
            let s = Scratch()
            let log = s.file("log.jsonl")
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary, "train", "--train-limit", "2000", "--eval-limit", "300",
                                                                                "--epochs", "400", "--checkpoint-dir", s.file("d"), "--log-json", log])
            waitForValidations(log, 2, timeout: 60)
            kill(process.pid, SIGUSR1)   // mpirun forwards it at once
            let stopped = Launcher.finish(process, scratch, started: started, timeout: 60)
            let hint = try #require(stopped.stderr.components(separatedBy: "\n").compactMap { line in
                line.range(of: "resume with: ").map { String(line[$0.upperBound...]) }
            }.first, "\(stopped.output)")
            var words = Readme.words(hint)
            #expect(words.first == "mlp")
            words[0] = Launcher.binary
            let resumed = try Launcher.run(Launcher.mpirun(2) + words + ["--epochs", "40"])
            #expect(resumed.status == 0, "\(hint): \(resumed.output)")
            let last = try Checkpoint.load(s.file("d/last.safetensors"))
            #expect(last.trainSamples == 2000 && last.evaluationSamples == 300 && last.state.iteration == 40 * 100)
            #expect(hint.contains("--checkpoint-dir \(s.file("d")) --log-json \(log)"), "the outputs go on: \(hint)")
            #expect(try RunLog.readValidations(log).map(\.iteration) == (1...40).map { $0 * 100 })
        }

        /// A FIFO where a data file or a checkpoint should be: refused at once with what it is, where
        /// open() used to block for ever (the test's own time limit bounds a regression).
        @Test func fifoIsRefusedAtOnce() throws {
            let s = Scratch()
            let data = s.directory("data")
            for name in [MNIST.trainImages, MNIST.trainLabels, MNIST.testLabels] {
                try FileManager.default.copyItem(atPath: Launcher.data + "/" + name + ".gz", toPath: data + "/" + name + ".gz")
            }
            #expect(mkfifo(data + "/" + MNIST.testImages + ".gz", 0o644) == 0)
            let train = try Launcher.mlp(["train", "--data", data, "--epochs", "1"], ranks: 2, timeout: 60)
            #expect(train.status == 2 && train.seconds < 30, "\(train.output)")
            #expect(train.stderr.contains("\(data)/\(MNIST.testImages).gz: is a named pipe (FIFO), not a file"), "\(train.stderr)")
            let predict = try Launcher.mlp(["predict", "--checkpoint", data + "/" + MNIST.testImages + ".gz", "--images", data + "/" + MNIST.testImages + ".gz"],
                                           timeout: 30)
            #expect(predict.status != 0 && predict.stderr.contains("is a named pipe (FIFO), not a file"), "\(predict.output)")
        }

        /// A 1.5 GB gzip bomb (a header promising 100 images, then zeros): refused after inflating
        /// one byte more than the header promised, in bounded memory.
        @Test func gzipBombStaysSmall() throws {
            let s = Scratch()
            let bomb = s.file("bomb.gz")
            let make = try Launcher.run(["sh", "-c", "(printf '\\000\\000\\010\\003\\000\\000\\000\\144\\000\\000\\000\\034\\000\\000\\000\\034'; head -c 1500000000 /dev/zero) | gzip -1 > \(bomb)"],
                                        timeout: 120)
            #expect(make.status == 0, "\(make.output)")
            let trained = try Launcher.mlp(["train", "--train-limit", "100", "--eval-limit", "100", "--epochs", "1", "--checkpoint-dir", s.file("d")], timeout: 60)
            #expect(trained.status == 0, "\(trained.output)")
            let result = try Launcher.run(["/usr/bin/time", "-f", "peak %M kB", Launcher.binary, "predict",
                                           "--checkpoint", s.file("d/last.safetensors"), "--images", bomb], timeout: 60)
            #expect(result.status == 1 && result.stderr.contains("longer than its header promises (78416 bytes)"), "\(result.output)")
            let peak = result.stderr.split(separator: "\n").compactMap { $0.hasPrefix("peak ") ? Int($0.split(separator: " ")[1]) : nil }.first ?? .max
            #expect(peak < 400_000, "peak resident memory \(peak) kB while refusing a 1.5 GB bomb")
        }

        /// A log on a full disk (/dev/full): one line naming the file and the cause, status 1, every
        /// rank stopped at the first step (the start record is the first write), no crash.
        @Test func logOnAFullDisk() throws {
            let s = Scratch()
            let result = try Launcher.mlp(["train", "--train-limit", "1000", "--eval-limit", "200", "--epochs", "3",
                                           "--checkpoint-dir", s.file("d"), "--log-json", "/dev/full"], ranks: 2, timeout: 60)
            #expect(result.status == 1 && !result.timedOut, "\(result.output)")
            #expect(result.stderr.contains("--log-json /dev/full: writing the log failed (No space left on device)"), "\(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(result.stderr)")
        }

        /// A small tmpfs that fills up under 2 ranks: first the checkpoints (the second last.safetensors
        /// does not fit), then, with the checkpoints elsewhere, the log (it cannot grow past its first
        /// page). Each ends the job with one line naming the file, status 1, and whole checkpoints.
        @Test func fullTmpfsUnderTwoRanks() throws {
            let s = Scratch()
            let disk = s.directory("disk")
            let mount = try Launcher.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk], timeout: 30)
            try #require(mount.status == 0, "this test mounts a tmpfs and needs root (CI runs as root): \(mount.output)")
            defer { _ = try? Launcher.run(["umount", "-l", disk], timeout: 30) }
            let common = ["train", "--train-limit", "1000", "--eval-limit", "200", "--epochs", "50"]

            // Two 1.6 MB checkpoints fit in 4 MB, the temporary third does not.
            let checkpoints = try Launcher.mlp(common + ["--checkpoint-dir", disk + "/c", "--log-json", disk + "/c/log.jsonl"], ranks: 2, timeout: 60)
            #expect(checkpoints.status == 1 && !checkpoints.timedOut, "\(checkpoints.output)")
            #expect(checkpoints.errorLines.count == 1 && checkpoints.stderr.contains("\(disk)/c/last.safetensors: writing the checkpoint failed (No space left on device). Free some space"),
                    "\(checkpoints.stderr)")
            #expect(!checkpoints.stderr.contains("Fatal error"))
            let last = try Checkpoint.load(disk + "/c/last.safetensors")   // verified: the previous one, whole
            #expect(last.state.iteration == 50)
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: disk + "/c")).contains { $0.contains(".tmp.") }, "the partial file is gone")
            try FileManager.default.removeItem(atPath: disk + "/c")

            // The log alone on the disk, with one page left: its first 4096 bytes fit, the rest not.
            let fill = try Launcher.run(["sh", "-c", "head -c $(( $(stat -f -c '%a' \(disk)) * $(stat -f -c '%S' \(disk)) - 4096 )) /dev/zero > \(disk)/fill"], timeout: 30)
            #expect(fill.status == 0, "\(fill.output)")
            let log = try Launcher.mlp(common + ["--checkpoint-dir", s.file("c"), "--log-json", disk + "/log.jsonl"], ranks: 2, timeout: 60)
            #expect(log.status == 1 && !log.timedOut, "\(log.output)")
            #expect(log.errorLines.count == 1 && log.stderr.contains("--log-json \(disk)/log.jsonl: writing the log failed (No space left on device)"), "\(log.stderr)")
            #expect(!log.stdout.contains("epoch 50,"), "the run stopped at the failed write")
            _ = try Checkpoint.load(s.file("c/last.safetensors"))
        }

        /// Ctrl-C (SIGINT) to mpirun reaches the ranks as SIGTERM; the message says both, instead of
        /// claiming a SIGTERM nobody sent.
        @Test func sigintUnderMpirunIsNamed() throws {
            let s = Scratch()
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary, "train", "--train-limit", "5000", "--eval-limit", "500",
                                                                                "--epochs", "400", "--checkpoint-dir", s.file("c"), "--log-json", s.file("log.jsonl")])
            waitForValidations(s.file("log.jsonl"), 1, timeout: 60)
            kill(process.pid, SIGINT)
            let stopped = Launcher.finish(process, scratch, started: started, timeout: 60)
            #expect(!stopped.timedOut && stopped.stderr.contains("mlp: stopped by SIGTERM (from mpirun, which sends it for SIGINT too) after iteration "),
                    "\(stopped.stderr)")
            _ = try Checkpoint.load(s.file("c/last.safetensors"))
        }

        /// Two SIGTERMs and a SIGINT 0.2 s apart. To mpirun itself they are fatal at once (it ends
        /// without passing the first on; its ranks train on for about a second and are killed: no
        /// stop checkpoint, last.safetensors is a logged validation's, whole); Scripts/train.sh
        /// passes the first as SIGUSR1 and ignores the rest, so the stop completes with its
        /// checkpoint and the script ends with 143.
        @Test func signalsSentTwice() throws {
            func burst(_ pid: pid_t) {   // the burst itself is the input: signals 0.2 s apart, as a user's
                kill(pid, SIGTERM); usleep(200_000); kill(pid, SIGTERM); usleep(200_000); kill(pid, SIGINT)
            }
            func waitForValidation(_ log: String) {
                waitForValidations(log, 1, timeout: 60)
            }
            let arguments = ["--train-limit", "5000", "--eval-limit", "500", "--epochs", "400"]

            let s = Scratch().linkRepository()
            var started = Date()
            let (script, scriptScratch) = try Launcher.start(["bash", "Scripts/train.sh"] + arguments, directory: s.path)
            waitForValidation(s.file("runs/latest/log.jsonl"))
            burst(script.pid)
            let stopped = Launcher.finish(script, scriptScratch, started: started, timeout: 60)
            #expect(stopped.status == 143 && !stopped.timedOut, "\(stopped.output)")
            #expect(stopped.stderr.contains("mlp: SIGTERM: every rank stops at its next step"), "\(stopped.stderr)")
            let iteration = try #require(stopped.stderr.components(separatedBy: "\n").compactMap { line -> Int? in
                guard let range = line.range(of: "stopped by SIGUSR1 after iteration ") else { return nil }
                return Int(line[range.upperBound...].prefix { $0.isNumber })
            }.first, "\(stopped.stderr)")
            #expect(try Checkpoint.load(s.file("runs/latest/last.safetensors")).state.iteration == iteration, "the stop checkpoint")

            let raw = Scratch()
            started = Date()
            let (mpirun, rawScratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary, "train"] + arguments +
                                                          ["--checkpoint-dir", raw.file("c"), "--log-json", raw.file("log.jsonl")])
            waitForValidation(raw.file("log.jsonl"))
            let ranks = Launcher.descendants(of: mpirun.pid)
            burst(mpirun.pid)
            let killed = Launcher.finish(mpirun, rawScratch, started: started, timeout: 60)
            #expect(killed.status != 0 && !killed.timedOut, "\(killed.output)")
            // The ranks outlive mpirun by about a second, still validating and writing checkpoints:
            // read the log and the checkpoint only when they are gone.
            Launcher.waitForExit(ranks, timeout: 10, what: "the ranks of the killed mpirun")
            // A validation logs its record, then writes its checkpoint: killed between the two, the
            // checkpoint is the validation's before. Either way it is a logged validation's, whole.
            let validations = logEvents(raw.file("log.jsonl")).filter { $0["event"] as? String == "validation" }.compactMap { $0["iteration"] as? Int }
            let saved = try Checkpoint.load(raw.file("c/last.safetensors")).state.iteration
            #expect(validations.suffix(2).contains(saved),
                    "the last validation's checkpoint (or, killed between its record and its file, the one before's), whole: saved \(saved), logged \(validations)")
        }

        /// A rank whose peer has stopped (SIGSTOP: a descheduled or preempted process) sleeps in
        /// the step's exchange instead of polling: it gives its core to whatever else runs there.
        /// Polled waits (Open MPI's transport, c29a3e7..73b8e64) used about 20 % of a core here.
        @Test func rankWaitingForAStoppedPeerSleeps() throws {
            let s = Scratch()
            let log = s.file("log.jsonl")
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary, "train", "--eval-limit", "200", "--epochs", "100",
                                                                                "--log-json", log])
            defer { Launcher.killJob(process); _ = Launcher.finish(process, scratch, started: started, timeout: 30) }
            waitForValidations(log, 1, timeout: 60)
            let stopped = try #require(Launcher.rankProcess(under: process.pid, rank: 0))
            let waiting = try #require(Launcher.rankProcess(under: process.pid, rank: 1))
            func cpuTicks(_ pid: Int32) -> Int {   // utime + stime, /proc/PID/stat fields 14 and 15
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
                return fields.count > 13 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : -1
            }
            kill(stopped, SIGSTOP)
            defer { kill(stopped, SIGCONT) }
            let before = cpuTicks(waiting)
            Thread.sleep(forTimeInterval: 2)   // the window measured, not a synchronisation
            let used = Double(cpuTicks(waiting) - before) / Double(sysconf(Int32(_SC_CLK_TCK)))
            #expect(before >= 0 && used < 0.1, "rank 1 used \(used) s of CPU in 2 s waiting for a stopped rank 0")
        }
    }
}
