// `mlp sweep` under real mpirun: each configuration equals `mlp train` run alone with the same flags
// on as many ranks (bit for bit), a diverging configuration stays local, an interrupted sweep rerun
// gives the table of one never stopped, halving keeps the better half, bad input is refused first.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct Sweeps {
        /// 50 steps per epoch, short validations.
        let quick = ["--train-limit", "1000", "--eval-limit", "300", "--epochs", "3"]

        func results(_ out: String) throws -> [SweepResult] {
            let text = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8)
            return try text.split(separator: "\n").map { try JSONDecoder().decode(SweepResult.self, from: Data($0.utf8)) }
        }

        /// Every configuration's best.safetensors and figures against `mlp train` with the same
        /// flags on `ranks` ranks (nil: one process, no mpirun).
        func expectEqualToTrainAlone(_ out: String, ranks: Int?, flags: [String], scratch: Scratch) throws {
            for result in try results(out) where result.status == .done {
                let name = result.point.name
                // A configuration that halving stopped early trained to its rung's epochs (the last --epochs wins).
                let alone = try Launcher.mlp(["train"] + flags + result.point.trainArguments + ["--epochs", String(result.rungEpochs),
                                                                                                 "--checkpoint-dir", scratch.file("alone-" + name)],
                                             ranks: ranks, timeout: 120)
                #expect(alone.status == 0, "\(name): \(alone.output)")
                let swept = try Checkpoint.load(out + "/" + name + "/best.safetensors")
                let single = try Checkpoint.load(scratch.file("alone-" + name + "/best.safetensors"))
                expectSameBits(UnsafeBufferPointer(swept.parameters.flat), UnsafeBufferPointer(single.parameters.flat), "\(name): sweep against mlp train")
                #expect(swept.state.stopping.bestValidationError == single.state.stopping.bestValidationError, "\(name)")
                #expect(result.bestValidationError == single.state.stopping.bestValidationError, "\(name): the table's figure")
                #expect(result.bestIteration == single.state.stopping.bestIteration + 1, "\(name)")
                #expect(result.ranks == (ranks ?? 1))
            }
        }

        /// 4 ranks in 2 groups of 2: each configuration as `mpirun -np 2 mlp train`, bit for bit.
        @Test func groupsOfTwoEqualTrainOnTwoRanks() throws {
            let s = Scratch()
            let out = s.file("sweep")
            let sweep = try Launcher.mlp(["sweep", "--lr", "0.1,0.03", "--hidden", "40,80", "--ranks-per-run", "2", "--out", out] + quick,
                                         ranks: 4, timeout: 180)
            #expect(sweep.status == 0, "\(sweep.output)")
            #expect(sweep.stdout.contains("4 configurations, 2 groups of 2 ranks"), "\(sweep.stdout)")
            let rows = try results(out)
            #expect(rows.count == 4 && rows.allSatisfy { $0.status == .done && $0.epochs == 3 })
            #expect(rows.map { $0.bestValidationError ?? 1 } == rows.map { $0.bestValidationError ?? 1 }.sorted(), "sorted by validation error")
            try expectEqualToTrainAlone(out, ranks: 2, flags: quick, scratch: s)
            // The closing sentence names the best configuration's figures (chosen on validation).
            let best = try #require(rows.first)
            #expect(sweep.stdout.contains(String(format: "Optimization complete. Best validation score of %.2f %% obtained at iteration %ld, with test performance %.2f %%.",
                                                 best.bestValidationError! * 100, best.bestIteration, best.testError! * 100)), "\(sweep.stdout)")
            for file in ["results.csv", "results.md", "results.svg", "sweep.json"] {
                #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
            }
            let csv = try String(contentsOfFile: out + "/results.csv", encoding: .utf8)
            #expect(csv.hasPrefix("lr,hidden,l1,l2,batch_size,lr_decay,best_validation_error,best_iteration,test_error,epochs,seconds,ranks,status,"))
            #expect(csv.split(separator: "\n").count == 5)
        }

        /// 2 groups of 1: each configuration as a lone `mlp train`; one diverges (--lr 1e6) and is
        /// recorded as such with its reason, the others finish; a rerun trains nothing.
        @Test func groupsOfOneEqualLoneRunsAndDivergenceStaysLocal() throws {
            let s = Scratch()
            let out = s.file("sweep")
            let command = ["sweep", "--lr", "0.1,1e6", "--hidden", "30,60", "--out", out] + quick
            let sweep = try Launcher.mlp(command, ranks: 2, timeout: 180)
            #expect(sweep.status == 0, "\(sweep.output)")
            let rows = try results(out)
            #expect(rows.count == 4)
            let diverged = rows.filter { $0.status == .diverged }
            #expect(diverged.map { $0.point.values[.lr] } == ["1000000", "1000000"], "\(rows.map(\.status))")
            #expect(diverged.allSatisfy { $0.reason.contains("NaN or infinite at iteration") && $0.bestValidationError == nil })
            #expect(rows.prefix(2).allSatisfy { $0.status == .done }, "the finished ones first")
            try expectEqualToTrainAlone(out, ranks: nil, flags: quick, scratch: s)

            let again = try Launcher.mlp(command, ranks: 2, timeout: 120)
            #expect(again.status == 0 && !again.stdout.contains("[group"), "nothing left to train: \(again.output)")
            #expect(try results(out).map(\.bestValidationError) == rows.map(\.bestValidationError))
            // Other shared flags on the same --out would mix two sweeps: refused.
            let other = try Launcher.mlp(command + ["--epochs", "4"], ranks: 2, timeout: 60)
            #expect(other.status == 2 && other.errorLines.count == 1, "\(other.output)")
            #expect(other.stderr.contains("--out \(out) holds a sweep with other flags (train_flags: "), "\(other.stderr)")
        }

        /// Work goes to the group that asks: with one dear configuration and five cheap ones on two
        /// groups, the group that draws the dear one (first: dear ones go first) trains it alone
        /// while the other trains the five.
        @Test func groupsDrawAsTheyFinish() throws {
            let s = Scratch()
            let out = s.file("sweep")
            let sweep = try Launcher.mlp(["sweep", "--hidden", "3000,10,11,12,13,14", "--train-limit", "10000", "--eval-limit", "300",
                                          "--epochs", "4", "--out", out], ranks: 2, timeout: 180)
            #expect(sweep.status == 0, "\(sweep.output)")
            let rows = try results(out)
            let dear = try #require(rows.first { $0.point.values[.hidden] == "3000" })
            let others = rows.filter { $0.point.values[.hidden] != "3000" }
            #expect(others.count == 5 && others.allSatisfy { $0.group != dear.group }, "\(rows.map { ($0.point.name, $0.group, $0.seconds) })")
        }

        /// SIGTERM mid-sweep: every group stops with a checkpoint, the finished configurations keep
        /// their rows; the same command again skips those, resumes the rest, and ends with the table
        /// of a sweep never stopped (all but the seconds).
        @Test func interruptedSweepRerunGivesTheSameTable() throws {
            let s = Scratch()
            // About 3 s per configuration: long enough for mpirun's one-second delay in passing SIGTERM on.
            let flags = ["--lr", "0.1,0.03", "--hidden", "300,500", "--train-limit", "20000", "--eval-limit", "500", "--epochs", "20"]
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary, "sweep", "--out", s.file("stopped")] + flags)
            // The first configuration done: the other group is mid-way through its own.
            waitFor("a first configuration's result.json", timeout: 90) {
                let folders = (try? FileManager.default.contentsOfDirectory(atPath: s.file("stopped"))) ?? []
                return folders.contains { FileManager.default.fileExists(atPath: s.file("stopped/\($0)/result.json")) }
            }
            kill(process.pid, SIGTERM)
            let stopped = Launcher.finish(process, scratch, started: started, timeout: 60)
            #expect(!stopped.timedOut && stopped.status != 0, "\(stopped.output)")
            #expect(stopped.stderr.contains("mlp: stopped by SIGTERM"), "\(stopped.stderr)")
            #expect(stopped.stderr.contains("run the same command again to finish"), "\(stopped.stderr)")
            let partial = (try? results(s.file("stopped"))) ?? []
            #expect(partial.count < 4, "stopped before the end: \(partial.count) done")

            let rerun = try Launcher.mlp(["sweep", "--out", s.file("stopped")] + flags, ranks: 2, timeout: 180)
            #expect(rerun.status == 0, "\(rerun.output)")
            let straight = try Launcher.mlp(["sweep", "--out", s.file("straight")] + flags, ranks: 2, timeout: 180)
            #expect(straight.status == 0, "\(straight.output)")
            let withoutSeconds = { (rows: [SweepResult]) in rows.map { row -> SweepResult in var r = row; r.seconds = 0; r.group = 0; return r } }
            let a = withoutSeconds(try results(s.file("stopped"))), b = withoutSeconds(try results(s.file("straight")))
            #expect(a.count == 4 && a == b, "\(a.map { ($0.point.name, $0.bestValidationError ?? -1, $0.epochs) }) against \(b.map { ($0.point.name, $0.bestValidationError ?? -1, $0.epochs) })")
            let aBest = try Checkpoint.load(s.file("stopped/\(a[0].point.name)/best.safetensors"))
            let bBest = try Checkpoint.load(s.file("straight/\(b[0].point.name)/best.safetensors"))
            expectSameBits(UnsafeBufferPointer(aBest.parameters.flat), UnsafeBufferPointer(bBest.parameters.flat), "the best configuration's model")
        }

        /// --halving 1 --epochs 4: rungs at 1, 2 and 4 epochs. Each rung keeps the better half by
        /// the validation error at its end; the survivor continues from its own checkpoint, so it
        /// ends as `mlp train --epochs 4` of that configuration.
        @Test func halvingKeepsTheBetterHalf() throws {
            let s = Scratch()
            let out = s.file("sweep")
            let flags = ["--train-limit", "1000", "--eval-limit", "300", "--epochs", "4"]
            let sweep = try Launcher.mlp(["sweep", "--lr", "0.2,0.1,0.03,0.01", "--hidden", "30", "--halving", "1", "--out", out] + flags,
                                         ranks: 2, timeout: 180)
            #expect(sweep.status == 0, "\(sweep.output)")
            #expect(sweep.stdout.contains("successive halving at epochs 1, 2, 4"), "\(sweep.stdout)")
            let rows = try results(out)
            #expect(rows.count == 4 && rows.allSatisfy { $0.rungErrors.count == $0.rung })
            // Rung 1: the two best by their error after 1 epoch go on; rung 2: the best of those.
            let byFirst = rows.sorted { ($0.rungErrors[0] ?? 1) < ($1.rungErrors[0] ?? 1) }
            #expect(Set(rows.filter { $0.rung >= 2 }.map(\.point)) == Set(byFirst.prefix(2).map(\.point)), "\(rows.map { ($0.point.name, $0.rung, $0.rungErrors) })")
            let second = rows.filter { $0.rung >= 2 }.sorted { ($0.rungErrors[1] ?? 1) < ($1.rungErrors[1] ?? 1) }
            let winner = try #require(rows.first { $0.rung == 3 })
            #expect(rows.filter { $0.rung == 3 }.count == 1 && winner.point == second.first?.point)
            #expect(winner.epochs == 4 && rows.filter { $0.rung == 1 }.allSatisfy { $0.epochs == 1 })
            let csv = try String(contentsOfFile: out + "/results.csv", encoding: .utf8)
            #expect(csv.hasPrefix(SweepResult.columns.joined(separator: ",") + ",rung,reason\n"))
            try expectEqualToTrainAlone(out, ranks: nil, flags: flags, scratch: s)   // the winner too: 4 epochs in three legs
        }

        /// Bad input, each refused in one line naming the flag, status 2, before --out is made.
        @Test(arguments: [
            (["--lr", "0.1,,0.01"], 1, "--lr \"0.1,,0.01\": an empty value in the list"),
            (["--lr", "0.1,1e-1"], 1, "--lr 0.1,1e-1: 1e-1 appears twice (as 0.1)"),
            (["--lr", "0.1,-1"], 1, "--lr -1.0: must be a finite number > 0"),
            (["--hidden", "100,0"], 1, "--hidden 0: layer width 0 is not in"),
            (["--lr", "0.1,0.01", "--checkpoint-dir", "x"], 1, "--checkpoint-dir: mlp sweep writes each configuration's checkpoints"),
            (["--lr", "0.1,0.01", "--halving", "3", "--epochs", "3"], 1, "--halving 3: must be smaller than --epochs 3"),
            (["--lr", "0.1,0.01", "--ranks-per-run", "3"], 2, "--ranks-per-run 3 is larger than the 2 ranks of this job"),
            (["--lr", "0.1,0.01,0.001", "--ranks-per-run", "2"], 3, "--ranks-per-run 2 does not divide the 3 ranks"),
            (["--lr", "0.1"], 2, "2 groups of 1 rank for 1 configuration"),
        ] as [([String], Int, String)])
        func badInputIsRefusedFirst(flags: [String], ranks: Int, message: String) throws {
            let s = Scratch()
            let result = try Launcher.mlp(["sweep", "--out", s.file("never")] + flags, ranks: ranks > 1 ? ranks : nil, timeout: 60)
            #expect(result.status == 2, "\(result.output)")
            #expect(result.errorLines.count == 1 && result.stderr.contains(message), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: s.file("never")), "nothing started")
        }
    }
}
