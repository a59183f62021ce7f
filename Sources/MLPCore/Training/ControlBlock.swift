// What every rank must learn at the same step: that rank 0's early stopping says stop, that a
// signal arrived, that some rank failed, and how long rank 0's last validation pass took. Each rank's block travels with the step's one exchange
// (four floats per rank, gathered), so every rank reads the same blocks and leaves, or goes on,
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

/// Every rank's block, in rank order: the same on every rank after the exchange.
public struct AgreedControl: Equatable, Sendable {
    public let blocks: [ControlBlock]

    /// Rank 0's early stopping asked to stop.
    public var stop: Bool { blocks[0].stop }
    /// The signal some rank received (the lowest rank's), or 0.
    public var signal: Int32 { blocks.first { $0.signal != 0 }?.signal ?? 0 }
    /// The ranks that failed, in order.
    public var failedRanks: [Int] { blocks.indices.filter { blocks[$0].exitCode != 0 } }
    /// How long rank 0's last validation pass took (seconds).
    public var validationSeconds: Double { Double(blocks[0].validationSeconds) }
    /// The largest exit status of the failed ranks.
    public var exitCode: Int32 { blocks.map(\.exitCode).max() ?? 0 }
}
