// P ranks under real mpirun against one rank: same parameters within a stated tolerance for every
// exchange path and uneven shards, bit-identical reruns, identical early-stopping decisions.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct DataParallel {
        /// 2 epochs of 20 steps (40 updates) on the first 400 or 420 training images.
        func train(ranks: Int?, batch: Int, exchange: String = "auto", in scratch: Scratch, name: String,
                   extra: [String] = []) throws -> (RunResult, Checkpoint?) {
            let dir = scratch.directory(name)
            let result = try Launcher.mlp(["train", "--train-limit", String(20 * batch), "--eval-limit", "200",
                                           "--batch-size", String(batch), "--epochs", "2", "--exchange", exchange,
                                           "--check-replicas", "1", "--checkpoint-dir", dir, "--log-json", dir + "/log.jsonl"] + extra,
                                          ranks: ranks)
            return (result, try? Checkpoint.load(dir + "/last.safetensors"))
        }

        /// Every exchange way on P = 2, 3, 4 and 8 ranks (8 oversubscribed), with the parameters
        /// shared on the node (auto's choice here) and private to each rank (as across nodes). The
        /// first layer from the inputs' non-zeros (auto picks it for MNIST) and, on 1 and 2 ranks,
        /// from the GEMMs (`--sparse-input off`): both against the same reference.
        static let ways = ["dense", "factors", "sharded", "split", "columns", "auto"]
        static let paths: [(ranks: Int, exchange: String, memory: String, sparse: String)] =
            [2, 3, 4, 8].flatMap { p in ways.map { (p, $0, "auto", "auto") } }
            + [2, 3, 8].flatMap { p in ["dense", "factors", "sharded", "split"].map { (p, $0, "private", "auto") } }
            + [(1, "auto", "auto", "off")] + ways.map { (2, $0, "auto", "off") }

        /// Each path equals P = 1 after 40 steps, at a batch that divides P and one that does not
        /// (21: shards of 11+10, 7+7+7, 6+5+5+5, 3×5+2×3). Stated tolerance: |Δθ| ≤ 1e-4 · (|θ| + 1e-3)
        /// for every parameter (float rounding of sums taken in another order; a wrong shard or a
        /// missing gradient is orders larger). On 3 and 8 ranks every way runs twice: the same bits.
        @Test(arguments: [20, 21])
        func ranksMatchOneRank(batch: Int) throws {
            let scratch = Scratch()
            let (oneResult, one) = try train(ranks: nil, batch: batch, in: scratch, name: "one")
            #expect(oneResult.status == 0, "\(oneResult.output)")
            let reference = try #require(one)
            #expect(reference.state.iteration == 40)
            #expect(oneResult.stdout.contains("first layer from the non-zero inputs only"), "\(oneResult.stdout)")
            for (ranks, exchange, memory, sparse) in Self.paths where batch == 21 || ranks <= 4 {
                let name = "P=\(ranks) \(exchange) \(memory) sparse \(sparse)"
                let (result, many) = try train(ranks: ranks, batch: batch, exchange: exchange, in: scratch,
                                               name: "p\(ranks)\(exchange)\(memory)\(sparse)",
                                               extra: ["--parameter-memory", memory, "--sparse-input", sparse])
                #expect(result.status == 0, "\(name): \(result.output)")
                let shared = ranks > 1 && memory == "auto" && exchange != "columns"
                #expect(result.stdout.contains("shared on the node") == shared, "\(name): \(result.stdout)")
                #expect(result.stdout.contains("data-parallel") == (exchange != "columns" || ranks == 1), "\(name): \(result.stdout)")
                #expect(result.stdout.contains("model-parallel") == (["split", "columns"].contains(exchange) && ranks > 1), "\(name): \(result.stdout)")
                #expect(result.stdout.contains("first layer dense GEMMs") == (sparse == "off"), "\(name): \(result.stdout)")
                guard let many else { Issue.record("\(name): no checkpoint"); continue }
                #expect(many.state.iteration == 40 && many.worldSize == ranks)
                expectClose(UnsafeBufferPointer(many.parameters.flat), UnsafeBufferPointer(reference.parameters.flat),
                            tolerance: 1e-4, "\(name) batch \(batch) against one rank")
                #expect(worstRelativeDifference(many.parameters, reference.parameters) > 0 || (exchange != "dense" && sparse != "off"),
                        "\(name): sums in another order: some rounding must show")
                if batch == 21 && (ranks == 3 || ranks == 8) && memory == "auto" {
                    let (_, again) = try train(ranks: ranks, batch: batch, exchange: exchange, in: scratch, name: "again\(ranks)\(exchange)",
                                               extra: ["--parameter-memory", memory, "--sparse-input", sparse])
                    let rerun = try #require(again)
                    expectSameBits(UnsafeBufferPointer(rerun.parameters.flat), UnsafeBufferPointer(many.parameters.flat), "\(name): rerun")
                }
            }
        }

        /// Shuffled minibatches: the sparse first layer copies the shuffled samples' non-zeros; on 1
        /// and 2 ranks it matches the GEMMs on one rank (same tolerance as above).
        @Test func shuffledSparseMatchesGEMMs() throws {
            let scratch = Scratch()
            let (_, gemm) = try train(ranks: nil, batch: 20, in: scratch, name: "gemm", extra: ["--shuffle", "--sparse-input", "off"])
            let reference = try #require(gemm)
            for ranks in [nil, 2] {
                let (result, sparse) = try train(ranks: ranks, batch: 20, in: scratch, name: "sparse\(ranks ?? 1)",
                                                 extra: ["--shuffle", "--sparse-input", "on"])
                #expect(result.status == 0, "\(result.output)")
                let run = try #require(sparse)
                let worst = worstRelativeDifference(run.parameters, reference.parameters)
                #expect(worst <= 1e-4 && worst > 0, "\(ranks ?? 1) rank(s): worst relative difference \(worst)")
            }
        }

        /// A short run whose patience runs out: every validation, the stop and the summary are the
        /// same on 1, 2 and 3 ranks (rank 0 decides; the others follow through the control block).
        @Test func earlyStoppingIsTheSameOnAnyNumberOfRanks() throws {
            let scratch = Scratch()
            var logs: [[[String: Any]]] = []
            for ranks in [1, 2, 3] {
                let log = scratch.file("log\(ranks).jsonl")
                let result = try Launcher.mlp(["train", "--train-limit", "2000", "--eval-limit", "500", "--epochs", "30",
                                               "--patience", "300", "--lr", "0.002", "--log-json", log], ranks: ranks)
                #expect(result.status == 0, "\(result.output)")
                #expect(result.stdout.contains("patience ran out"), "\(result.stdout)")
                logs.append(logEvents(log))
            }
            func decisions(_ events: [[String: Any]]) -> [String] {
                events.filter { $0["event"] as? String != "start" }.map { e in
                    ["iteration", "validation_error", "best_validation_error", "test_error", "best_iteration", "epochs", "iterations", "stop_reason"]
                        .map { "\($0)=\(e[$0] ?? "-")" }.joined(separator: " ")
                }
            }
            #expect(decisions(logs[0]).count >= 3)
            #expect(decisions(logs[1]) == decisions(logs[0]))
            #expect(decisions(logs[2]) == decisions(logs[0]))
        }

        @Test func batchSmallerThanRanksIsRefusedAtOnce() throws {
            let result = try Launcher.mlp(["train", "--batch-size", "2", "--train-limit", "100"], ranks: 3, timeout: 60)
            #expect(result.status == 2 && !result.timedOut)
            #expect(result.errorLines.count == 1, "one line, from rank 0: \(result.stderr)")
            #expect(result.stderr.contains("--batch-size 2 is smaller than the 3 ranks"))
        }

        /// One rank cannot read its data (missing directory, corrupt file): every rank ends promptly,
        /// that rank's message names the file, rank 0 names the failing rank.
        @Test(arguments: [2, 3])
        func oneRankWithoutItsDataEndsTheJob(ranks: Int) throws {
            let scratch = Scratch()
            let corrupt = scratch.directory("corrupt")
            for name in [MNIST.trainImages, MNIST.trainLabels, MNIST.testImages, MNIST.testLabels] {
                try FileManager.default.copyItem(atPath: Launcher.data + "/" + name + ".gz", toPath: corrupt + "/" + name + ".gz")
            }
            let damaged = corrupt + "/" + MNIST.testImages + ".gz"
            var bytes = [UInt8](FileManager.default.contents(atPath: damaged)!)
            bytes.removeLast(bytes.count / 2)
            _ = FileManager.default.createFile(atPath: damaged, contents: Data(bytes))

            for (broken, expected) in [("/nonexistent/mnist", "no such data directory"), (corrupt, "corrupt gzip")] {
                let result = try Launcher.mlpPerRank(["train", "--epochs", "1"], ranks: ranks, timeout: 60) { rank in
                    rank == ranks - 1 ? ["--data", broken] : []
                }
                #expect(!result.timedOut && result.seconds < 30, "took \(result.seconds) s")
                #expect(result.status != 0)
                #expect(result.stderr.contains("mlp: error (rank \(ranks - 1)): \(broken)"), "\(result.stderr)")
                #expect(result.stderr.contains(expected))
                #expect(result.stderr.contains("mlp: error (rank 0): stopping: rank \(ranks - 1) failed"))
            }
        }
    }
}
