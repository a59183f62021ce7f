// P ranks under real mpirun against one rank: the same parameters to the bit for every way and
// uneven shards, identical early-stopping decisions, failures that end every rank.
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

        /// Every way on P = 2, 3, 4 and 8 ranks (8 oversubscribed), at a batch that divides P and
        /// one that does not (21: shards of 11+10, 7+7+7, 6+5+5+5, 3×5+2×3): after 40 steps the
        /// parameters are one rank's, bit for bit (every sum of an update runs over the whole
        /// minibatch in its order, on every rank). Shuffled minibatches too.
        static let ways = ["auto", "factors", "sharded", "columns"]

        @Test(arguments: [20, 21])
        func ranksGiveOneRanksBits(batch: Int) throws {
            let scratch = Scratch()
            let (oneResult, one) = try train(ranks: nil, batch: batch, in: scratch, name: "one")
            #expect(oneResult.status == 0, "\(oneResult.output)")
            let reference = try #require(one)
            #expect(reference.state.iteration == 40)
            for ranks in [2, 3, 4, 8] where batch == 21 || ranks <= 4 {
                for exchange in Self.ways where exchange != "columns" || ranks != 8 || batch == 21 {
                    let name = "P=\(ranks) \(exchange)"
                    let (result, many) = try train(ranks: ranks, batch: batch, exchange: exchange, in: scratch, name: "p\(ranks)\(exchange)")
                    #expect(result.status == 0, "\(name): \(result.output)")
                    #expect(result.stdout.contains("data-parallel") == (exchange != "columns"), "\(name): \(result.stdout)")
                    #expect(result.stdout.contains("model-parallel") == (exchange == "columns"), "\(name): \(result.stdout)")
                    guard let many else { Issue.record("\(name): no checkpoint"); continue }
                    #expect(many.state.iteration == 40 && many.worldSize == ranks)
                    expectSameBits(UnsafeBufferPointer(many.parameters.flat), UnsafeBufferPointer(reference.parameters.flat),
                                   "\(name) batch \(batch) against one rank")
                }
            }
        }

        @Test func shuffledRanksGiveOneRanksBits() throws {
            let scratch = Scratch()
            let (_, one) = try train(ranks: nil, batch: 20, in: scratch, name: "one", extra: ["--shuffle"])
            let reference = try #require(one)
            for (ranks, exchange) in [(2, "factors"), (3, "sharded"), (2, "columns")] {
                let (result, many) = try train(ranks: ranks, batch: 20, exchange: exchange, in: scratch, name: "p\(ranks)\(exchange)", extra: ["--shuffle"])
                #expect(result.status == 0, "\(result.output)")
                let run = try #require(many)
                expectSameBits(UnsafeBufferPointer(run.parameters.flat), UnsafeBufferPointer(reference.parameters.flat),
                               "shuffled, P=\(ranks) \(exchange) against one rank")
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
