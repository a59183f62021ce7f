// Seconds spent per phase of the step on one rank (--profile, mlp bench).

/// Seconds spent per phase of the step on one rank.
public struct StepProfile: Equatable, Sendable {
    public var forward = 0.0      // forward pass and output delta
    public var backward = 0.0     // backpropagation and the dense layers' weight gradients
    public var exchange = 0.0     // allreduce and allgathers, including waiting for other ranks
    public var update = 0.0       // SGD; for factor layers this includes the weight-gradient GEMM
    public var validation = 0.0   // rank 0: validation, test scoring, checkpoints; the others wait
    public var scoring = 0.0      // rank 0: the part of `validation` spent scoring the validation and test sets
    public var steps = 0

    public var total: Double { forward + backward + exchange + update + validation }
    public static let fields = ["forward", "backward", "exchange", "update", "validation", "scoring"]
    public var values: [Double] { [forward, backward, exchange, update, validation, scoring] }

    public init() {}
    public init(values: [Double], steps: Int) {
        (forward, backward, exchange, update, validation, scoring) = (values[0], values[1], values[2], values[3], values[4], values[5])
        self.steps = steps
    }
}
