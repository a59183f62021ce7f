// Hostile conditions that a user or a scheduler can create: two trainers on one checkpoint
// directory, the program's own resume hint run as printed, a log on a full disk.
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
            let deadline = Date().addingTimeInterval(60)
            while logEvents(log).filter({ $0["event"] as? String == "validation" }).isEmpty && Date() < deadline { usleep(20_000) }
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
            let deadline = Date().addingTimeInterval(60)
            while logEvents(log).filter({ $0["event"] as? String == "validation" }).count < 2 && Date() < deadline { usleep(20_000) }
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
    }
}
