// Checkpoints across processes: stop and resume on the same or another number of ranks, other ranks
// never reading the file, flags that conflict with it, and the file read by Python.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct CheckpointResume {
        /// 50 steps per epoch on 1,000 images, validation on 500.
        let common = ["train", "--train-limit", "1000", "--eval-limit", "500", "--check-replicas", "10"]

        func done(_ log: String) -> [String: String] {
            let event = logEvents(log).last { $0["event"] as? String == "done" } ?? [:]
            return ["best_validation_error", "best_iteration", "test_error", "iterations", "epochs"].reduce(into: [:]) { $0[$1] = "\(event[$1] ?? "-")" }
        }

        @Test func resumedRunEqualsTheUninterruptedOne() throws {
            let s = Scratch()
            let straight = try Launcher.mlp(common + ["--epochs", "4", "--checkpoint-dir", s.directory("straight"), "--log-json", s.file("straight.jsonl")], ranks: 2)
            let first = try Launcher.mlp(common + ["--epochs", "2", "--checkpoint-dir", s.directory("first")], ranks: 2)
            let second = try Launcher.mlp(common + ["--epochs", "4", "--resume", s.file("first/last.safetensors"),
                                                   "--checkpoint-dir", s.directory("second"), "--log-json", s.file("second.jsonl")], ranks: 2)
            for run in [straight, first, second] { #expect(run.status == 0, "\(run.output)") }
            #expect(second.stdout.contains("resumed"))
            let a = try Checkpoint.load(s.file("straight/last.safetensors")), b = try Checkpoint.load(s.file("second/last.safetensors"))
            #expect(b.state.iteration == 200)
            expectSameBits(UnsafeBufferPointer(a.parameters.flat), UnsafeBufferPointer(b.parameters.flat), "same P, straight against resumed")
            #expect(done(s.file("straight.jsonl")) == done(s.file("second.jsonl")))
            #expect(done(s.file("second.jsonl"))["iterations"] == "200")

            // Saved on 2 ranks, continued on 1, 3 and 4 (another way, too): the same bits.
            for (ranks, exchange) in [(1, "auto"), (3, "auto"), (4, "columns")] {
                let other = try Launcher.mlp(common + ["--epochs", "4", "--resume", s.file("first/last.safetensors"), "--exchange", exchange,
                                                      "--checkpoint-dir", s.directory("p\(ranks)")], ranks: ranks)
                #expect(other.status == 0, "\(other.output)")
                let c = try Checkpoint.load(s.file("p\(ranks)/last.safetensors"))
                #expect(c.state.iteration == 200 && c.worldSize == ranks)
                expectSameBits(UnsafeBufferPointer(c.parameters.flat), UnsafeBufferPointer(a.parameters.flat),
                               "saved on 2 ranks, resumed on \(ranks) (\(exchange)), against straight on 2")
            }
        }

        /// Rank 0 alone reads the checkpoint: the other ranks are told a path that does not exist.
        @Test func otherRanksNeverReadTheFile() throws {
            let s = Scratch()
            _ = try Launcher.mlp(common + ["--epochs", "1", "--checkpoint-dir", s.directory("first")], ranks: 1)
            let result = try Launcher.mlpPerRank(common + ["--epochs", "2", "--checkpoint-dir", s.directory("second")], ranks: 2) { rank in
                ["--resume", rank == 0 ? s.file("first/last.safetensors") : "/elsewhere/on/another/node.safetensors"]
            }
            #expect(result.status == 0, "\(result.output)")
            #expect(try Checkpoint.load(s.file("second/last.safetensors")).state.iteration == 100)
        }

        /// Flags that define the model or the data order must agree with the checkpoint; the
        /// message names both values. Learning rate and epochs may change.
        @Test func conflictingFlagsAreRefused() throws {
            let s = Scratch()
            _ = try Launcher.mlp(common + ["--epochs", "1", "--checkpoint-dir", s.directory("c")])
            let file = s.file("c/last.safetensors")
            let cases: [([String], String)] = [
                (["--hidden", "300"], "--hidden 300 conflicts with the checkpoint's 500"),
                (["--activation", "relu"], "--activation relu conflicts with the checkpoint's tanh"),
                (["--batch-size", "10"], "--batch-size 10 conflicts with the checkpoint's 20"),
                (["--seed", "7"], "--seed 7 conflicts with the checkpoint's 1234"),
                (["--shuffle"], "--shuffle on conflicts with the checkpoint's off"),
                (["--train-limit", "2000"], "--train-limit 2000 conflicts with the checkpoint's 1000 training samples"),
            ]
            for (flags, message) in cases {
                let result = try Launcher.mlp(common + ["--epochs", "2", "--resume", file] + flags, ranks: 2, timeout: 60)
                #expect(result.status == 2, "\(flags): \(result.output)")
                #expect(result.stderr.contains(message), "\(flags): \(result.stderr)")
                #expect(result.errorLines.count == 1, "\(result.stderr)")
            }
            let allowed = try Launcher.mlp(common + ["--epochs", "2", "--lr", "0.02", "--resume", file])
            #expect(allowed.status == 0 && allowed.stdout.contains("lr 0.02"), "\(allowed.output)")
        }

        @Test func checkpointDirectoryProblemsComeBeforeTraining() throws {
            for (dir, message) in [("/proc/nonexistent/ckpt", "cannot create the directory"), ("/proc", "not writable")] {
                let result = try Launcher.mlp(["train", "--checkpoint-dir", dir], ranks: 2, timeout: 60)
                #expect(result.status == 2 && result.seconds < 20, "\(result.output)")
                #expect(result.stderr.contains("--checkpoint-dir \(dir): \(message)"), "\(result.stderr)")
                #expect(!result.stdout.contains("epoch"), "no training started")
            }
        }

        /// The README's Python snippet (Scripts/checkpoint-eval.py: safetensors + numpy) scores the
        /// test set exactly as `mlp eval` does.
        @Test func pythonReadsTheCheckpoint() throws {
            let s = Scratch()
            _ = try Launcher.mlp(["train", "--train-limit", "5000", "--epochs", "2", "--checkpoint-dir", s.directory("c")])
            let eval = try Launcher.mlp(["eval", "--checkpoint", s.file("c/best.safetensors")])
            let python = try Launcher.run(["python3", "Scripts/checkpoint-eval.py", s.file("c/best.safetensors"), Launcher.data])
            #expect(python.status == 0, "needs `pip install safetensors numpy`: \(python.output)")
            let ours = eval.stdout.split(separator: "\n").first { $0.hasPrefix("test error") }.map(String.init) ?? "?"
            let count = python.stdout.split(separator: "(").last?.split(separator: " ").first.map(String.init) ?? "?"
            #expect(ours.contains("(\(count) of 10000 misclassified)"), "mlp: \(ours) / python: \(python.stdout)")
        }
    }
}
