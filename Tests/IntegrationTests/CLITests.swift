// The command line as users meet it: every bad flag gets one line naming it and exit status 2
// before anything starts; eval, predict and inspect on a real checkpoint.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct CommandLine {
        static let badFlags: [([String], String)] = [
            (["--batch-size", "0"], "--batch-size 0: must be at least 1"),
            (["--batch-size", "-5"], "--batch-size -5"),
            (["--lr", "0"], "--lr 0.0: must be a finite number > 0"),
            (["--lr", "-1"], "--lr -1.0"),
            (["--lr", "nan"], "--lr nan"),
            (["--lr", "inf"], "--lr inf"),
            (["--l1", "-0.1"], "--l1 -0.1: must be a finite number >= 0"),
            (["--l2", "-1"], "--l2 -1.0"),
            (["--lr-decay", "-1"], "--lr-decay -1.0"),
            (["--hidden", "0"], "--hidden 0: layer width 0"),
            (["--hidden", "500,0"], "layer width 0"),
            (["--hidden", "abc"], "--hidden"),
            (["--activation", "swish"], "--activation"),
            (["--epochs", "0"], "--epochs 0: must be at least 1"),
            (["--patience", "0"], "--patience 0: must be at least 1"),
            (["--seed", "-1"], "--seed -1: must be in 0...4294967295"),
            (["--check-replicas", "-2"], "--check-replicas -2"),
            (["--exchange", "magic"], "--exchange"),
            (["--sparse-input", "on"], "--sparse-input was removed"),
            (["--parameter-memory", "shared"], "--parameter-memory was removed"),
            (["--exchange", "dense"], "--exchange dense was removed"),
            (["--exchange", "split"], "--exchange split was removed"),
            (["--train-limit", "0"], "--train-limit 0"),
            (["--lr-scaling", "square"], "--lr-scaling"),
            (["--warmup-epochs", "-1"], "--warmup-epochs -1: must be at least 0"),
            (["--lr-reference-batch", "0"], "--lr-reference-batch 0: must be at least 1"),
            (["--warmup-epochs", "5"], "--warmup-epochs 5: only means something with --lr-scaling linear"),
            (["--lr-reference-batch", "64"], "--lr-reference-batch 64: only means something with --lr-scaling linear"),
            (["--no-such-flag"], "--no-such-flag"),
            (["--data", "/nonexistent/mnist"], "/nonexistent/mnist: no such data directory"),
            (["--data", "/tmp"], "train-images-idx3-ubyte.gz: file not found"),
            (["--checkpoint-dir", "/proc/nonexistent/x"], "--checkpoint-dir /proc/nonexistent/x: cannot create the directory (/proc/nonexistent: No such file or directory)"),
            (["--resume", "/nonexistent/last.safetensors"], "/nonexistent/last.safetensors: checkpoint not found"),
            (["--log-json", "/proc/nonexistent/log.jsonl"], "--log-json /proc/nonexistent: cannot create the directory"),
        ]

        @Test(arguments: 0..<badFlags.count)
        func badFlagIsOneLineAndStatusTwo(_ index: Int) throws {
            let (flags, expected) = Self.badFlags[index]
            let result = try Launcher.mlp(["train"] + flags, timeout: 60)
            #expect(result.status == 2, "\(flags): status \(result.status) \(result.output)")
            #expect(result.stderr.contains(expected), "\(flags): \(result.stderr)")
            #expect(!result.stdout.contains("epoch"), "nothing started")
            let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.hasPrefix("  See") && !$0.isEmpty }
            #expect(lines.count == 1, "\(flags): \(result.stderr)")
        }

        /// Under mpirun every rank stops on a bad flag; only rank 0 speaks.
        @Test func badFlagUnderMpirun() throws {
            let result = try Launcher.mlp(["train", "--lr", "-1"], ranks: 2, timeout: 60)
            #expect(result.status == 2)
            #expect(result.stderr.components(separatedBy: "--lr -1.0").count == 2, "\(result.stderr)")
        }

        /// The tutorial's defaults on 2 ranks are data-parallel: the start block and the log's
        /// `start` record name the way taken, the start block why (auto: timed at start-up).
        /// A model too large for the machine is refused before anything is allocated, naming --hidden.
        @Test func modelTooLargeForMemory() throws {
            let result = try Launcher.mlp(["train", "--hidden", "1048576,1048576", "--train-limit", "100"], ranks: 2, timeout: 60)
            #expect(result.status == 2 && result.errorLines.count == 1, "\(result.output)")
            #expect(result.stderr.contains("--hidden 1048576,1048576: 1100346294282 parameters need") && result.stderr.contains("Use narrower layers."),
                    "\(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"))
        }

        @Test func defaultIsDataParallel() throws {
            let s = Scratch()
            let log = s.file("log.jsonl")
            let result = try Launcher.mlp(["train", "--train-limit", "2000", "--epochs", "1", "--log-json", log], ranks: 2)
            #expect(result.status == 0, "\(result.output)")
            #expect(result.stdout.contains("data-parallel, 10 samples per rank, exchange auto: "), "\(result.stdout)")
            #expect(result.stdout.contains("(timed here: factors ") && result.stdout.contains(", sharded "), "\(result.stdout)")
            #expect(result.stdout.contains(" through shared memory, "), "one node's ranks exchange through shared memory: \(result.stdout)")
            let start = try #require(logEvents(log).first { $0["event"] as? String == "start" })
            #expect(["factors", "sharded"].contains(start["exchange"] as? String ?? ""), "\(start)")
        }

        /// The columns exchange divides one hidden layer: a deeper model is refused on every rank.
        @Test func columnsNeedOneHiddenLayer() throws {
            let result = try Launcher.mlp(["train", "--hidden", "300,200", "--exchange", "columns"], ranks: 2, timeout: 60)
            #expect(result.status == 2)
            #expect(result.stderr.components(separatedBy: "--exchange columns divides the units of one hidden layer").count == 2,
                    "\(result.stderr)")
            #expect(result.stderr.contains("2 hidden layers (300, 200 units)") && !result.stdout.contains("epoch"), "\(result.output)")
        }

        /// --profile: a row per rank on rank 0's stdout, the scoring share, and the same figures in the log.
        @Test func profilePerRank() throws {
            let s = Scratch()
            let log = s.file("log.jsonl")
            let result = try Launcher.mlp(["train", "--train-limit", "2000", "--epochs", "3", "--profile", "--log-json", log], ranks: 2)
            #expect(result.status == 0, "\(result.output)")
            let rows = result.stdout.split(separator: "\n").filter { $0.hasPrefix("     0 ") || $0.hasPrefix("     1 ") }
            #expect(rows.count == 2 && result.stdout.contains("forward  backward  exchange"), "\(result.stdout)")
            #expect(result.stdout.contains("Scoring the validation and test sets took"), "\(result.stdout)")
            let done = try #require(logEvents(log).last)
            let profile = try #require(done["profile"] as? [[String: Any]])
            #expect(profile.count == 2)
            for (rank, entry) in profile.enumerated() {
                #expect(entry["steps"] as? Int == done["iterations"] as? Int, "every rank counts every step")
                for phase in StepProfile.fields {
                    #expect((entry[phase + "_seconds"] as? Double).map { $0 >= 0 } == true, "rank \(rank) \(phase): \(entry)")
                }
                #expect((entry["forward_seconds"] as? Double ?? 0) > 0)
            }
            // Rank 0 scores (3 validations and their test passes) inside its validation time; rank 1 never scores.
            let (scoring, validation) = (profile[0]["scoring_seconds"] as? Double ?? 0, profile[0]["validation_seconds"] as? Double ?? 0)
            #expect(scoring > 0 && scoring <= validation, "\(profile[0])")
            #expect(profile[1]["scoring_seconds"] as? Double == 0)
        }

        /// --lr-scaling linear trains with --lr · B / --lr-reference-batch, and a warm-up starts at --lr:
        /// one update of batch 40 each, compared with plain runs at the rates they should have used.
        @Test func learningRateScalingAndWarmup() throws {
            let s = Scratch()
            func parameters(_ name: String, _ flags: [String]) throws -> [Float] {
                let result = try Launcher.mlp(["train", "--train-limit", "40", "--eval-limit", "500", "--batch-size", "40", "--epochs", "1",
                                               "--checkpoint-dir", s.directory(name)] + flags, timeout: 60)
                #expect(result.status == 0, "\(flags): \(result.output)")
                let checkpoint = try Checkpoint.load(s.file(name + "/last.safetensors"))
                return withExtendedLifetime(checkpoint) { Array(checkpoint.parameters.flat) }
            }
            let warmup = try parameters("warmup", ["--lr-scaling", "linear", "--warmup-epochs", "1"])
            let plain = try parameters("plain", [])
            let scaled = try parameters("scaled", ["--lr-scaling", "linear"])
            let doubled = try parameters("doubled", ["--lr", "0.02"])
            // Parameters that differ (not the arrays themselves: 400,000 numbers in a failure message).
            func differing(_ a: [Float], _ b: [Float]) -> Int { a.count == b.count ? zip(a, b).filter { $0 != $1 }.count : -1 }
            #expect(differing(warmup, plain) == 0, "the warm-up's first update uses --lr")
            #expect(differing(scaled, doubled) == 0, "batch 40 scales 0.01 to 0.02")
            #expect(differing(scaled, plain) > 1000, "and 0.02 is not 0.01")
            let half = try parameters("half", ["--lr-scaling", "linear", "--lr-reference-batch", "80"])
            let halved = try parameters("halved", ["--lr", "0.005"])
            #expect(differing(half, halved) == 0, "reference batch 80: 0.01 × 40/80")
        }

        @Test func evalPredictInspect() throws {
            let s = Scratch()
            _ = try Launcher.mlp(["train", "--train-limit", "2000", "--epochs", "2", "--checkpoint-dir", s.directory("c")])
            let file = s.file("c/best.safetensors")

            let eval = try Launcher.mlp(["eval", "--checkpoint", file, "--split", "validation"])
            #expect(eval.status == 0 && eval.stdout.contains("validation error:") && eval.stdout.contains("confusion matrix"), "\(eval.output)")
            let rows = eval.stdout.split(separator: "\n").suffix(10).map { $0.split(separator: " ").dropFirst().compactMap { Int($0) } }
            #expect(rows.flatMap { $0 }.reduce(0, +) == 10_000, "the confusion matrix counts every validation image")

            let predict = try Launcher.mlp(["predict", "--checkpoint", file, "--images", Launcher.data + "/t10k-images-idx3-ubyte.gz"])
            let labels = predict.stdout.split(separator: "\n")
            #expect(labels.count == 10_000 && labels.allSatisfy { Int($0).map { (0...9).contains($0) } ?? false })
            let withProbabilities = try Launcher.mlp(["predict", "--checkpoint", file, "--probabilities", "--images", Launcher.data + "/t10k-images-idx3-ubyte.gz"])
            let first = withProbabilities.stdout.split(separator: "\n")[0].split(separator: " ").compactMap { Double($0) }
            #expect(first.count == 11 && abs(first.dropFirst().reduce(0, +) - 1) < 1e-4)

            let inspect = try Launcher.mlp(["inspect", file])
            for word in ["hidden.0.weight", "[784, 500]", "output.bias", "best_validation_error", "verified"] {
                #expect(inspect.stdout.contains(word), "\(inspect.stdout)")
            }

            var bytes = [UInt8](FileManager.default.contents(atPath: file)!)
            bytes[bytes.count - 3] ^= 1
            _ = FileManager.default.createFile(atPath: s.file("bad.safetensors"), contents: Data(bytes))
            let bad = try Launcher.mlp(["eval", "--checkpoint", s.file("bad.safetensors")])
            #expect(bad.status == 1 && bad.errorLines.count == 1 && bad.stderr.contains("checksum"), "\(bad.output)")
        }
    }
}
