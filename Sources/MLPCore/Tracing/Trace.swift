// A run's trace (`--trace FILE`): every rank's timeline on one clock, in the Chrome trace-event
// JSON format that Perfetto and chrome://tracing open. Set-up measures each rank's clock against
// rank 0's (round trips; the offset of the fastest one, and half its time as the uncertainty).
// Rank 0 collects the other ranks' slices at every validation, while they wait for it anyway, and
// writes the file when the run ends, however it ends (atomically: whole, or not at all), so a
// failing rank costs at most its slices since the last validation.
import Foundation

public final class Trace {
    public let timeline: Timeline
    private let world: Communicator
    /// Rank 0: where the file goes.
    private let directory: OutputDirectory?
    private let name: String
    /// Rank 0: every rank's host, clock offset to rank 0's and its uncertainty (seconds).
    private var hosts: [String] = []
    private var offsets: [Double] = []
    private var uncertainties: [Double] = []
    /// Rank 0: the slices of the other ranks received so far; every rank: how many of its own it sent.
    private var collected: [[TraceSlice]] = []
    private var sent = 0
    private let origin: Double
    private static let tag: Int32 = 7301

    /// Every rank, together: the clocks measured, the hosts named, the buffers made. `path`: the
    /// file, whose directory rank 0 makes (and checks) now, not when the run ends.
    public init(path: String, window: TraceWindow, world: Communicator, validationEvery: Int) throws {
        self.world = world
        let name = (path as NSString).lastPathComponent
        self.name = name
        directory = try world.together { () -> OutputDirectory? in
            guard world.isRoot else { return nil }
            var isDirectory: ObjCBool = false
            let existingDirectory = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
            guard !name.isEmpty, name != ".", name != "..", !path.hasSuffix("/"), !existingDirectory else {
                throw ConfigurationError("--trace \(path): names a directory. Name the file to write, e.g. \((path as NSString).appendingPathComponent("trace.json")).")
            }
            let parent = (path as NSString).deletingLastPathComponent
            return try OutputDirectory(parent.isEmpty ? "." : parent, flag: "--trace")
        }
        timeline = Timeline(window: window, validationEvery: validationEvery)
        (offsets, uncertainties) = try Self.measureClocks(world)
        hosts = try Self.gatherNames(world)
        collected = Array(repeating: [], count: world.size)
        origin = world.wallTime()
    }

    /// Every rank, together (where all ranks are anyway: after a validation, at the end): rank 0
    /// receives the slices the others recorded since the last call.
    public func collect() throws {
        if world.isRoot {
            for r in 1..<max(world.size, 1) {
                let count = try world.receivePolling(1, from: r, tag: Self.tag)[0]
                let values = count > 0 ? try world.receivePolling(Int(count), from: r, tag: Self.tag) : []
                collected[r] += Timeline.unpacked(values)
            }
        } else {
            let values = timeline.packed(from: sent)
            try world.send([Int64(values.count)], to: 0, tag: Self.tag)
            if !values.isEmpty { try world.send(values, to: 0, tag: Self.tag) }
            sent = timeline.count
        }
    }

    /// Rank 0: writes the file; `note` says why some ranks' last slices are missing (a failure).
    /// Returns the path written.
    @discardableResult
    public func write(note: String? = nil) throws -> String {
        precondition(world.isRoot, "rank 0 writes the trace")
        collected[0] = timeline.recorded
        return try directory!.write(Array(json(note: note).utf8), to: name, what: "the trace")
    }

    /// The trace-event JSON: metadata naming each rank, its slices as complete events ("X") on one
    /// track, rank 0's counters, and the clocks' alignment under "otherData".
    func json(note: String?) -> String {
        var events: [String] = []
        let originNs = Int64((origin * 1e9).rounded())
        for rank in 0..<collected.count {
            let label = "rank \(rank) (\(hosts.indices.contains(rank) ? hosts[rank] : "?"))"
            events.append(#"{"ph":"M","name":"process_name","pid":\#(rank),"tid":0,"ts":0,"args":{"name":\#(SafeTensorsFile.jsonString(label))}}"#)
            events.append(#"{"ph":"M","name":"process_sort_index","pid":\#(rank),"tid":0,"ts":0,"args":{"sort_index":\#(rank)}}"#)
            events.append(#"{"ph":"M","name":"thread_name","pid":\#(rank),"tid":0,"ts":0,"args":{"name":"training"}}"#)
            let shift = Int64(((offsets.indices.contains(rank) ? offsets[rank] : 0) * 1e9).rounded()) - originNs
            for s in collected[rank] {
                let start = Int64((s.start * 1e9).rounded()) + shift, end = Int64((s.end * 1e9).rounded()) + shift
                events.append(#"{"ph":"X","name":"\#(s.phase.name)","cat":"\#(s.phase.category)","pid":\#(rank),"tid":0,"ts":\#(Self.micros(start)),"dur":\#(Self.micros(max(0, end - start))),"args":{"iteration":\#(s.iteration)}}"#)
            }
        }
        for c in timeline.counters {
            let ts = Self.micros(Int64((c.time * 1e9).rounded()) - originNs)
            events.append(#"{"ph":"C","name":"samples/s","pid":0,"tid":0,"ts":\#(ts),"args":{"samples/s":\#(Self.number(c.samplesPerSecond))}}"#)
            events.append(#"{"ph":"C","name":"train loss","pid":0,"tid":0,"ts":\#(ts),"args":{"train loss":\#(Self.number(c.trainLoss))}}"#)
        }
        let w = timeline.window
        var other = [
            #""format":"mlp trace, Chrome trace-event JSON; ts and dur in microseconds from rank 0's start of tracing""#,
            #""window":"steps \#(w.first) to \#(w.first + w.count - 1), and \#(w.around) either side of every validation""#,
            #""clock_offsets_us":[\#(offsets.map { Self.number($0 * 1e6) }.joined(separator: ","))]"#,
            #""clock_uncertainty_us":[\#(uncertainties.map { Self.number($0 * 1e6) }.joined(separator: ","))]"#,
            #""slices_dropped_on_rank_0":\#(timeline.dropped)"#,
        ]
        if let note { other.append(#""note":\#(SafeTensorsFile.jsonString(note))"#) }
        return "{\"traceEvents\":[\n" + events.joined(separator: ",\n") + "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{"
            + other.joined(separator: ",") + "}}\n"
    }

    /// Each rank's clock against rank 0's: offset = rank 0's time − this rank's, from the round
    /// trip that took least time. Rank 0 gets every rank's; the others, empty lists.
    private static func measureClocks(_ world: Communicator) throws -> ([Double], [Double]) {
        guard world.size > 1 else { return ([0], [0]) }
        var offsets = [0.0], uncertainties = [0.0]
        for r in 1..<world.size {
            var best = (offset: 0.0, halfTrip: Double.infinity)
            for _ in 0..<16 {
                if world.rank == r {
                    let sent = world.wallTime()
                    try world.send([0], to: 0, tag: tag)
                    let answer = try world.receive(1, from: 0, tag: tag).values[0]
                    let back = world.wallTime()
                    if (back - sent) / 2 < best.halfTrip { best = (Double(answer) / 1e9 - (sent + back) / 2, (back - sent) / 2) }
                } else if world.isRoot {
                    _ = try world.receive(1, from: r, tag: tag)
                    try world.send([Int64((world.wallTime() * 1e9).rounded())], to: r, tag: tag)
                }
            }
            if world.rank == r {
                try world.send([Int64((best.offset * 1e9).rounded()), Int64((best.halfTrip * 1e9).rounded())], to: 0, tag: tag)
            } else if world.isRoot {
                let values = try world.receive(2, from: r, tag: tag).values
                offsets.append(Double(values[0]) / 1e9)
                uncertainties.append(Double(values[1]) / 1e9)
            }
        }
        return world.isRoot ? (offsets, uncertainties) : ([], [])
    }

    /// Every rank's host name, at rank 0.
    private static func gatherNames(_ world: Communicator) throws -> [String] {
        guard world.isRoot else {
            let bytes = Array(world.processorName.utf8.prefix(255)).map(Int64.init)
            try world.send([Int64(bytes.count)] + bytes + Array(repeating: 0, count: 255 - bytes.count), to: 0, tag: tag)
            return []
        }
        var names = [world.processorName]
        for r in 1..<max(world.size, 1) {
            let values = try world.receive(256, from: r, tag: tag).values
            names.append(String(decoding: values[1...].prefix(Int(values[0])).map { UInt8(truncatingIfNeeded: $0) }, as: UTF8.self))
        }
        return names
    }

    /// Nanoseconds as microseconds with three decimals, exactly.
    static func micros(_ ns: Int64) -> String {
        let sign = ns < 0 ? "-" : "", magnitude = ns.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    static func number(_ x: Double) -> String { x.isFinite ? String(format: "%.6g", x) : "null" }
}

extension TracePhase {
    /// The trace's category: the step's phases, or the validation's.
    var category: String {
        switch self {
        case .forward, .backward, .exchange, .wait, .update: "step"
        case .validation, .scoring, .checkpoint: "validation"
        case .stop: "stop"
        }
    }
}
