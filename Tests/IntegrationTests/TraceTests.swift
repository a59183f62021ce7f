// Where the time goes: `--trace` checked against the trace-event format's own rules and against
// `--profile`, kept whole when the run stops by signal or loses a rank; `mlp plot --trace`; and
// `--tensorboard`'s event files read back by the `tensorboard` Python package.
import Foundation
import MLPCore
import TestSupport
import Testing

/// A parsed trace-event file.
struct TraceFile {
    let events: [[String: Any]]
    let other: [String: Any]

    init(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "a JSON object", sourceLocation: sourceLocation)
        events = try #require(root["traceEvents"] as? [[String: Any]], "traceEvents", sourceLocation: sourceLocation)
        other = root["otherData"] as? [String: Any] ?? [:]
    }

    /// Complete events ("X") of one rank: name, start and end in microseconds.
    func slices(rank: Int) -> [(name: String, start: Double, end: Double)] {
        events.filter { $0["ph"] as? String == "X" && $0["pid"] as? Int == rank }.compactMap {
            guard let name = $0["name"] as? String, let ts = ($0["ts"] as? NSNumber)?.doubleValue, let dur = ($0["dur"] as? NSNumber)?.doubleValue else { return nil }
            return (name, ts, ts + dur)
        }
    }

    /// The format's rules: every event has ph, ts, pid and tid; complete events a duration ≥ 0;
    /// on each track (pid, tid) slices nest (each one inside the one it starts in, or after it).
    func expectWellFormed(sourceLocation: SourceLocation = #_sourceLocation) {
        for event in events {
            #expect(event["ph"] is String && event["ts"] is NSNumber && event["pid"] is Int && event["tid"] is Int,
                    "an event without ph, ts, pid or tid: \(event)", sourceLocation: sourceLocation)
            if event["ph"] as? String == "X" {
                #expect(((event["dur"] as? NSNumber)?.doubleValue ?? -1) >= 0, "a negative or missing duration: \(event)", sourceLocation: sourceLocation)
            }
        }
        let tolerance = 0.0015   // µs: ts and dur are written to the nanosecond
        var tracks: [String: [(start: Double, end: Double, name: String)]] = [:]
        for event in events where event["ph"] as? String == "X" {
            let ts = (event["ts"] as? NSNumber)?.doubleValue ?? 0, dur = (event["dur"] as? NSNumber)?.doubleValue ?? 0
            tracks["\(event["pid"] ?? "?")/\(event["tid"] ?? "?")", default: []].append((ts, ts + dur, event["name"] as? String ?? "?"))
        }
        for (track, slices) in tracks {
            var open: [(start: Double, end: Double, name: String)] = []
            for s in slices.sorted(by: { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }) {
                while let top = open.last, top.end <= s.start + tolerance { open.removeLast() }
                if let top = open.last, s.end > top.end + tolerance {
                    Issue.record("track \(track): \(s.name) [\(s.start), \(s.end)] overlaps \(top.name) [\(top.start), \(top.end)] without nesting in it",
                                 sourceLocation: sourceLocation)
                    return
                }
                open.append(s)
            }
        }
    }
}

extension Integration {
    @Suite struct Tracing {
        let quick = ["train", "--train-limit", "2000", "--eval-limit", "500", "--epochs", "3"]

        /// Two ranks, every step recorded: the format's rules, both ranks named and with every
        /// phase, the clocks' alignment stated, and each rank's slices adding up to --profile's totals.
        @Test func twoRankTraceFollowsTheFormatAndTheProfile() throws {
            let s = Scratch()
            let result = try Launcher.mlp(quick + ["--trace", s.file("t/trace.json"), "--trace-steps", "0:100000", "--profile",
                                                   "--log-json", s.file("log.jsonl"), "--checkpoint-dir", s.directory("c")], ranks: 2)
            #expect(result.status == 0 && result.stderr.contains("wrote \(s.file("t/trace.json"))"), "\(result.output)")
            let trace = try TraceFile(s.file("t/trace.json"))
            trace.expectWellFormed()
            let names = trace.events.filter { $0["name"] as? String == "process_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
            #expect(names.count == 2 && names[0].hasPrefix("rank 0 (") && names[1].hasPrefix("rank 1 ("), "\(names)")
            #expect((trace.other["clock_offsets_us"] as? [Any])?.count == 2 && (trace.other["clock_uncertainty_us"] as? [Any])?.count == 2, "\(trace.other)")
            #expect(trace.events.contains { $0["ph"] as? String == "C" && $0["name"] as? String == "samples/s" })

            let profiles = try #require(logEvents(s.file("log.jsonl")).last { $0["event"] as? String == "done" }?["profile"] as? [[String: Any]])
            for rank in 0..<2 {
                let slices = trace.slices(rank: rank)
                for phase in ["forward", "backward", "exchange", "update", "validation"] + (rank == 0 ? ["scoring", "checkpoint write"] : ["exchange wait"]) {
                    #expect(slices.contains { $0.name == phase }, "rank \(rank) has no \(phase) slice")
                }
                #expect(slices.filter { $0.name == "forward" }.count == 300, "one forward slice per step, 3 epochs of 100")
                for phase in ["forward", "backward", "exchange", "update", "validation", "scoring"] {
                    let traced = slices.filter { $0.name == phase }.map { $0.end - $0.start }.reduce(0, +) / 1e6
                    let profiled = (profiles[rank][phase + "_seconds"] as? NSNumber)?.doubleValue ?? -1
                    #expect(abs(traced - profiled) <= 0.05 * profiled + 1e-6, "rank \(rank) \(phase): traced \(traced) s, --profile \(profiled) s")
                }
            }

            // The same file as a picture: both ranks' rows, bars, and the totals table.
            let plot = try Launcher.mlp(["plot", "--trace", s.file("t/trace.json"), "-o", s.file("trace.svg")])
            #expect(plot.status == 0, "\(plot.output)")
            let svg = try String(contentsOfFile: s.file("trace.svg"), encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.contains(names[0]) && svg.contains(names[1]) && svg.contains("Whole trace, per rank"))
            #expect(svg.components(separatedBy: "<title>forward").count > 2, "forward bars in the default window")
        }

        /// The default window stays small: the first 500 steps and the steps around each validation.
        @Test func defaultWindowIsBounded() throws {
            let s = Scratch()
            let result = try Launcher.mlp(quick + ["--epochs", "4", "--trace", s.file("trace.json")], ranks: 2)
            #expect(result.status == 0, "\(result.output)")
            let trace = try TraceFile(s.file("trace.json"))
            let steps = Set(trace.events.filter { $0["name"] as? String == "forward" && $0["pid"] as? Int == 0 }
                .compactMap { ($0["args"] as? [String: Any])?["iteration"] as? Int })
            // 500 steps from 0 would be all of 400; ask for a window that leaves the validations' neighbours.
            #expect(steps == Set(0..<400), "\(steps.count) steps")
            let narrow = try Launcher.mlp(quick + ["--epochs", "4", "--trace", s.file("narrow.json"), "--trace-steps", "10:5"], ranks: 2)
            #expect(narrow.status == 0, "\(narrow.output)")
            let few = Set(try TraceFile(s.file("narrow.json")).events.filter { $0["name"] as? String == "forward" && $0["pid"] as? Int == 0 }
                .compactMap { ($0["args"] as? [String: Any])?["iteration"] as? Int })
            #expect(few == Set(10..<15).union([0, 1, 98, 99, 100, 101, 198, 199, 200, 201, 298, 299, 300, 301, 398, 399]), "\(few.sorted())")
        }

        /// SIGTERM to mpirun mid-run: the agreed stop, and a whole trace with the stop in it.
        @Test func signalledRunLeavesAWholeTrace() throws {
            let s = Scratch()
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary] + quick +
                                                        ["--epochs", "5000", "--patience", "1000000", "--trace", s.file("trace.json"), "--log-json", s.file("log.jsonl"),
                                                         "--checkpoint-dir", s.directory("c")])
            waitForValidations(s.file("log.jsonl"), 1)
            kill(process.processIdentifier, SIGTERM)
            let result = Launcher.finish(process, scratch, started: started, timeout: 60)
            // (mpirun's own status after passing SIGTERM on varies; what the run says does not.)
            #expect(!result.timedOut && result.stderr.contains("stopped by SIGTERM"), "\(result.output)")
            let trace = try TraceFile(s.file("trace.json"))
            trace.expectWellFormed()
            for rank in 0..<2 { #expect(trace.slices(rank: rank).contains { $0.name == "stop" }, "rank \(rank)'s stop slice") }
            #expect(trace.other["note"] == nil)
        }

        /// A rank killed mid-run: rank 0 still writes a whole trace, saying what is missing.
        @Test func killedRankStillLeavesAWholeTrace() throws {
            let s = Scratch()
            let started = Date()
            let (process, scratch) = try Launcher.start(Launcher.mpirun(2) + [Launcher.binary] + quick +
                                                        ["--epochs", "5000", "--patience", "1000000", "--trace", s.file("trace.json"), "--log-json", s.file("log.jsonl")])
            waitForValidations(s.file("log.jsonl"), 2)
            let victim = try #require(Launcher.rankProcess(under: process.processIdentifier, rank: 1))
            kill(victim, SIGKILL)
            let result = Launcher.finish(process, scratch, started: started, timeout: 60)
            #expect(!result.timedOut && result.status != 0)
            let trace = try TraceFile(s.file("trace.json"))
            trace.expectWellFormed()
            #expect((trace.other["note"] as? String)?.contains("the run failed") == true, "\(trace.other) \(result.output)")
            #expect(trace.slices(rank: 1).contains { $0.name == "validation" }, "rank 1's slices up to a validation were collected")
            #expect(result.stderr.contains("wrote \(s.file("trace.json")), up to the failure"), "\(result.output)")
        }

        /// Bad trace flags and files: one line each, before anything trains.
        @Test func badTraceInputIsOneLine() throws {
            let s = Scratch()
            for (arguments, words) in [
                (["--trace-steps", "5"], "--trace-steps"),
                (["--trace", s.file("t.json"), "--trace-steps", "a:b"], "--trace-steps"),
                (["--trace-steps", "0:10"], "add --trace FILE"),
                (["--trace", s.path + "/"], "names a directory"),
            ] {
                let result = try Launcher.mlp(quick + arguments)
                #expect((result.status == 2 || result.status == 1) && result.errorLines.count == 1 && result.stderr.contains(words),
                        "\(arguments): \(result.output)")
            }
            try Data("not json".utf8).write(to: URL(fileURLWithPath: s.file("bad.json")))
            for (file, words) in [(s.file("bad.json"), "not trace-event JSON"), (s.file("missing.json"), "no such file"), (s.path, "is a directory")] {
                let result = try Launcher.mlp(["plot", "--trace", file, "-o", s.file("x.svg")])
                #expect(result.status == 2 && result.errorLines.count == 1 && result.stderr.contains(words), "\(file): \(result.output)")
            }
        }
    }

    @Suite struct TensorBoardEvents {
        /// The `tensorboard` package's event reader: every scalar of every event file in `dir`, as
        /// "tag step value" lines.
        static let reader = """
            import sys
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
            acc.Reload()
            for tag in sorted(acc.Tags()["scalars"]):
                for e in acc.Scalars(tag):
                    print(tag, e.step, repr(e.value))
            """

        func scalars(_ directory: String) throws -> [String: [(step: Int, value: Float)]] {
            let result = try Launcher.run(["python3", "-c", Self.reader, directory])
            #expect(result.status == 0, "needs the tensorboard Python package (bash Scripts/setup.sh --tests installs it): \(result.output)")
            var found: [String: [(step: Int, value: Float)]] = [:]
            for line in result.stdout.split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 3, let step = Int(words[1]), let value = Float(words[2]) { found[String(words[0]), default: []].append((step, value)) }
            }
            return found
        }

        /// Every validation record of the JSON log against TensorBoard's reading of the events.
        func expectSame(_ board: [String: [(step: Int, value: Float)]], asLog log: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let records = logEvents(log).filter { $0["event"] as? String == "validation" }
            for (tag, key) in [("train/loss", "train_loss"), ("validation/error", "validation_error"), ("validation/best_error", "best_validation_error"),
                               ("train/samples_per_second", "samples_per_second"), ("test/error", "test_error")] {
                let expected = records.compactMap { r in ((r[key] as? NSNumber)?.doubleValue).map { (step: r["iteration"] as! Int, value: Float($0)) } }
                let read = board[tag] ?? []
                #expect(read.map(\.step) == expected.map(\.step) && read.map(\.value) == expected.map(\.value),
                        "\(tag): TensorBoard read \(read.prefix(5)), the log says \(expected.prefix(5))", sourceLocation: sourceLocation)
            }
            #expect(board["train/learning_rate"]?.count == records.count, sourceLocation: sourceLocation)
        }

        /// A run, then its resumption: two event files in one directory, one set of curves that
        /// goes on at the right steps, equal to the JSON log's every value.
        @Test func tensorBoardReadsTheCurves() throws {
            let s = Scratch()
            let common = ["train", "--train-limit", "1000", "--eval-limit", "300", "--tensorboard", s.file("tb"),
                          "--log-json", s.file("log.jsonl"), "--checkpoint-dir", s.directory("c"), "--resume", "auto"]
            let first = try Launcher.mlp(common + ["--epochs", "3"], ranks: 2)
            let second = try Launcher.mlp(common + ["--epochs", "5"])
            #expect(first.status == 0 && second.status == 0, "\(first.output) \(second.output)")
            let files = try FileManager.default.contentsOfDirectory(atPath: s.file("tb")).filter { $0.hasPrefix("events.out.tfevents.") }
            #expect(files.count == 2, "\(files)")
            let board = try scalars(s.file("tb"))
            #expect(board["validation/error"]?.map(\.step) == [50, 100, 150, 200, 250], "\(board["validation/error"] ?? [])")
            expectSame(board, asLog: s.file("log.jsonl"))

            // A fresh run may not bury those curves under its own.
            let fresh = try Launcher.mlp(["train", "--train-limit", "1000", "--epochs", "1", "--tensorboard", s.file("tb")])
            #expect(fresh.status == 2 && fresh.errorLines.count == 1 && fresh.stderr.contains("--tensorboard") && fresh.stderr.contains("--overwrite"), "\(fresh.output)")
        }

        /// A sweep: one TensorBoard run per configuration, side by side, each equal to its log.
        @Test func sweepWritesOneRunPerConfiguration() throws {
            let s = Scratch()
            let result = try Launcher.mlp(["sweep", "--lr", "0.1,0.01", "--epochs", "2", "--train-limit", "1000", "--eval-limit", "300",
                                           "--out", s.file("sweep"), "--tensorboard", s.file("tb")], ranks: 2)
            #expect(result.status == 0, "\(result.output)")
            let runs = try FileManager.default.contentsOfDirectory(atPath: s.file("tb")).sorted()
            #expect(runs == ["lr=0.01", "lr=0.1"], "\(runs)")
            for run in runs {
                expectSame(try scalars(s.file("tb/" + run)), asLog: s.file("sweep/\(run)/log.jsonl"))
            }
        }
    }
}
