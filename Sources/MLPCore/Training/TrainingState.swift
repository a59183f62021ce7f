// What a run carries from step to step besides the parameters; a checkpoint saves it.

/// Everything that changes from step to step besides the parameters.
public struct TrainingState: Equatable, Sendable {
    public var iteration = 0                // minibatch updates completed
    public var stopping: EarlyStopping
    public var lossSinceValidation = 0.0    // Σ mean-NLL of the minibatches since the last validation
    public var stepsSinceValidation = 0
    public var elapsedSeconds = 0.0         // training time spent before this process (resumed runs)

    public init(stopping: EarlyStopping) { self.stopping = stopping }
}
