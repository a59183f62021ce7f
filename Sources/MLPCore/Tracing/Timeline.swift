// Where each rank's time goes, step by step (`--trace`): one slice per phase of a step, and for
// validations, scoring and checkpoint writes. Every rank records into one buffer made at set-up,
// and only the steps of its window: the first ones asked for (`--trace-steps FIRST:COUNT`) and a
// few around every validation, so that a whole run never fills a trace by accident. Off, the
// trainer asks one question per step (`records`), and that is all it costs.

/// A phase of a rank's time, as the trace names it.
public enum TracePhase: Int, CaseIterable, Sendable {
    case forward, backward, exchange, wait, update, validation, scoring, checkpoint, stop

    public var name: String {
        switch self {
        case .wait: "exchange wait"
        case .checkpoint: "checkpoint write"
        default: String(describing: self)
        }
    }
}

/// One slice of a rank's time: a phase from `start` to `end` (MPI_Wtime seconds, this rank's clock).
public struct TraceSlice: Equatable, Sendable {
    public var phase: TracePhase
    public var iteration: Int
    public var start: Double
    public var end: Double
}

/// Rank 0's figures at a validation, drawn as counters.
public struct TraceCounter: Equatable, Sendable {
    public var time: Double
    public var samplesPerSecond: Double
    public var trainLoss: Double
}

/// Which steps a trace records: `count` steps from `first`, and `around` steps either side of every
/// validation.
public struct TraceWindow: Equatable, Sendable {
    public var first: Int
    public var count: Int
    public var around: Int

    public static let standard = TraceWindow(first: 0, count: 500, around: 2)
    /// Slices a rank may hold, whatever the window: 16 MB of them.
    public static let capacity = 500_000

    public init(first: Int, count: Int, around: Int = 2) {
        (self.first, self.count, self.around) = (first, count, around)
    }

    /// "FIRST:COUNT", as the flag takes it.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int(parts[0]), let count = Int(parts[1]), first >= 0, count >= 0,
              first <= 1_000_000_000, count <= 1_000_000_000 else { return nil }
        self.init(first: first, count: count)
    }

    /// Whether the step after `iteration` updates is recorded, in a run that validates every
    /// `validationEvery` steps.
    public func contains(_ iteration: Int, validationEvery: Int) -> Bool {
        if iteration >= first && iteration - first < count { return true }
        let intoEpoch = iteration % validationEvery   // a validation follows the step with intoEpoch == validationEvery - 1
        return intoEpoch < around || intoEpoch >= validationEvery - around
    }
}

/// One rank's recorded slices, in a buffer made once.
public final class Timeline {
    public let window: TraceWindow
    private let validationEvery: Int
    private let slices: UnsafeMutableBufferPointer<TraceSlice>
    public private(set) var count = 0
    /// Slices that did not fit.
    public private(set) var dropped = 0
    /// Rank 0: the validations' figures.
    public private(set) var counters: [TraceCounter] = []

    public init(window: TraceWindow, validationEvery: Int) {
        self.window = window
        self.validationEvery = max(1, validationEvery)
        slices = .allocate(capacity: TraceWindow.capacity)
    }

    deinit { slices.deallocate() }

    /// Whether the step after `iteration` updates is recorded.
    @inline(__always)
    public func records(_ iteration: Int) -> Bool { window.contains(iteration, validationEvery: validationEvery) }

    public func add(_ phase: TracePhase, iteration: Int, from start: Double, to end: Double) {
        guard count < slices.count else { dropped += 1; return }
        slices[count] = TraceSlice(phase: phase, iteration: iteration, start: start, end: end)
        count += 1
    }

    public func count(_ counter: TraceCounter) {
        if counters.count < TraceWindow.capacity { counters.append(counter) }
    }

    public var recorded: [TraceSlice] { Array(slices[..<count]) }

    /// The slices as integers for a message: phase, iteration, start and end in nanoseconds.
    func packed(from: Int = 0) -> [Int64] {
        var values: [Int64] = []
        values.reserveCapacity((count - from) * 4)
        for s in slices[from..<count] {
            values.append(Int64(s.phase.rawValue))
            values.append(Int64(s.iteration))
            values.append(Int64((s.start * 1e9).rounded()))
            values.append(Int64((s.end * 1e9).rounded()))
        }
        return values
    }

    static func unpacked(_ values: [Int64]) -> [TraceSlice] {
        stride(from: 0, to: values.count - 3, by: 4).compactMap { i in
            TracePhase(rawValue: Int(values[i])).map {
                TraceSlice(phase: $0, iteration: Int(values[i + 1]), start: Double(values[i + 2]) / 1e9, end: Double(values[i + 3]) / 1e9)
            }
        }
    }
}
