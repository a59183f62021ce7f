// What a run's bits depend on: the seed, the data, the flags and the number of ranks, and not the
// machine's thread settings. OpenBLAS gave different parameters on 1 and 2 threads after 2 epochs,
// so every product runs on one thread; rank 0 scores on as many threads as it may use, which
// must not change an error count either.
import Foundation
import MLPCore
import TestSupport
import Testing

extension Integration {
    @Suite struct Determinism {
        /// OPENBLAS_NUM_THREADS 1 and 2, and rank 0 confined to one core (one scoring thread) or
        /// not: the same parameters to the bit and the same validation and test errors.
        @Test func threadSettingsChangeNoBit() throws {
            let s = Scratch()
            let flags = ["train", "--train-limit", "3000", "--eval-limit", "2000", "--epochs", "2"]
            let variants: [(name: String, prefix: [String], environment: [String: String])] = [
                ("OPENBLAS_NUM_THREADS=1", [], ["OPENBLAS_NUM_THREADS": "1"]),
                ("OPENBLAS_NUM_THREADS=2", [], ["OPENBLAS_NUM_THREADS": "2"]),
                ("one core (taskset -c 0)", ["taskset", "-c", "0"], ["OPENBLAS_NUM_THREADS": "2"]),
            ]
            var runs: [(name: String, checkpoint: Checkpoint, log: [[String: Any]])] = []
            for variant in variants {
                let dir = s.directory("run\(runs.count)")
                let result = try Launcher.run(variant.prefix + [Launcher.binary] + flags + ["--checkpoint-dir", dir, "--log-json", dir + "/log.jsonl"],
                                              timeout: 120, environment: variant.environment)
                #expect(result.status == 0, "\(variant.name): \(result.output)")
                runs.append((variant.name, try Checkpoint.load(dir + "/last.safetensors"), logEvents(dir + "/log.jsonl")))
            }
            let errors = { (log: [[String: Any]]) in
                log.filter { $0["event"] as? String == "validation" }.map { "\($0["validation_error"] ?? "-") \($0["test_error"] ?? "-")" }
            }
            for run in runs.dropFirst() {
                expectSameBits(UnsafeBufferPointer(run.checkpoint.parameters.flat), UnsafeBufferPointer(runs[0].checkpoint.parameters.flat),
                               "\(run.name) against \(runs[0].name)")
                #expect(errors(run.log) == errors(runs[0].log), "\(run.name)")
            }
            #expect(errors(runs[0].log).count == 2)
        }
    }
}
