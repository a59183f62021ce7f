// How a run ended: the tutorial's closing figures, and why it stopped.

public enum StopReason: String, Equatable, Sendable {
    case patience, epochs, signal
}

public struct TrainingSummary: Equatable, Sendable {
    public var bestValidationError: Double
    public var bestIteration: Int           // 1-based, as the tutorial prints best_iter + 1
    public var testError: Double?
    public var epochs: Int                  // epochs started, as the tutorial counts them
    public var iterations: Int
    public var seconds: Double
    public var worldSize: Int
    public var stopReason: StopReason
    public var signal: Int32 = 0

    public var epochsPerMinute: Double { seconds > 0 ? Double(epochs) / (seconds / 60) : 0 }
}
