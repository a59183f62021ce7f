// What every rank must learn at the same step: that rank 0's early stopping says stop, that a
// signal arrived, that some rank failed, and how long rank 0's last validation pass took. Each rank's block travels with the step's one exchange
// (five floats per rank, gathered), so every rank reads the same blocks and leaves, or goes on,
// together: no extra message, and no rank can miss it.

/// One rank's facts for this step.
public struct ControlBlock: Equatable, Sendable {
    public static let count = 5
    public var stop = false         // rank 0: early stopping says stop after the last update
    public var signal: Int32 = 0    // SIGTERM, SIGINT or SIGUSR1 arrived here (its number)
    public var exitCode: Int32 = 0  // this rank failed, with this exit status (0: it did not)
    /// Rank 0: seconds its last pass over the validation set took (the others sleep most of that
    /// long while it validates next); 0 before the first.
    public var validationSeconds: Float = 0

    public init(stop: Bool = false, signal: Int32 = 0, exitCode: Int32 = 0, validationSeconds: Float = 0) {
        self.stop = stop
        self.signal = signal
        self.exitCode = exitCode
        self.validationSeconds = validationSeconds
    }

    func encode(into p: UnsafeMutablePointer<Float>) {
        p[0] = stop ? 1 : 0
        p[1] = Float(signal)
        p[2] = exitCode != 0 ? 1 : 0
        p[3] = Float(exitCode)
        p[4] = validationSeconds
    }

    init(decoding p: UnsafePointer<Float>) {
        self.init(stop: p[0] != 0, signal: Int32(p[1]), exitCode: p[2] != 0 ? max(1, Int32(p[3])) : 0, validationSeconds: p[4])
    }
}

/// What every rank's blocks, read in rank order, say together: the same on every rank after the
/// exchange. Read once per step, so it keeps the facts, not the blocks (no array made per step).
public struct AgreedControl: Equatable, Sendable {
    /// Rank 0's early stopping asked to stop.
    public private(set) var stop = false
    /// The signal some rank received (the lowest rank's), or 0.
    public private(set) var signal: Int32 = 0
    /// The ranks that failed, in order (empty, and never allocated, in a normal step).
    public private(set) var failedRanks: [Int] = []
    /// How long rank 0's last validation pass took (seconds).
    public private(set) var validationSeconds = 0.0
    /// The largest exit status of the failed ranks.
    public private(set) var exitCode: Int32 = 0
    /// Blocks added so far: the next one is this rank's.
    private var ranks = 0

    public init() {}

    /// Adds the next rank's block (rank 0's first).
    public mutating func add(_ block: ControlBlock) {
        let rank = ranks
        ranks += 1
        if rank == 0 { (stop, validationSeconds) = (block.stop, Double(block.validationSeconds)) }
        if signal == 0 { signal = block.signal }
        if block.exitCode != 0 { failedRanks.append(rank) }
        exitCode = max(exitCode, block.exitCode)
    }
}
