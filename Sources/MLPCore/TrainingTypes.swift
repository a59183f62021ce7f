// What a training run is given (configuration), what it carries from step to step (state, which a
// checkpoint saves), and what it reports (validation records, summary, profile).

public struct TrainingConfiguration: Equatable, Sendable {
    public var architecture = Architecture()
    public var sgd = SGD()
    public var batchSize = 20          // B, the global minibatch
    public var epochs = 1000
    public var patience = 10_000       // in iterations (minibatches)
    public var seed: UInt32 = 1234     // initial weights (numpy RandomState) and shuffling
    public var shuffle = false
    public var exchange: ExchangeMode = .auto
    public var parameterMemory: ParameterMemory = .auto
    public var sparseInput: SparseInputMode = .auto
    public var checkReplicasEvery = 0  // steps; 0 = never
    public var checkpointDirectory: String?

    public init() {}
}

/// Everything that changes from step to step besides the parameters.
public struct TrainingState: Equatable, Sendable {
    public var iteration = 0                // minibatch updates completed
    public var stopping: EarlyStopping
    public var lossSinceValidation = 0.0    // Σ mean-NLL of the minibatches since the last validation
    public var stepsSinceValidation = 0
    public var elapsedSeconds = 0.0         // training time spent before this process (resumed runs)

    public init(stopping: EarlyStopping) { self.stopping = stopping }
}

/// One line of the run's log: written by rank 0 after each validation.
public struct ValidationRecord: Equatable, Sendable {
    public var epoch: Int                   // 1-based epoch in progress
    public var iteration: Int               // minibatches completed
    public var batchesPerEpoch: Int
    public var trainLoss: Double            // mean NLL of the minibatches since the previous validation
    public var validationError: Double      // fraction
    public var bestValidationError: Double
    public var testError: Double?           // when this validation was a new best
    public var improved: Bool
    public var seconds: Double              // since the start of training (including earlier sessions)
    public var samplesPerSecond: Double     // training samples/s since the previous validation, validation excluded

    public init(epoch: Int, iteration: Int, batchesPerEpoch: Int, trainLoss: Double, validationError: Double,
                bestValidationError: Double, testError: Double?, improved: Bool, seconds: Double, samplesPerSecond: Double) {
        (self.epoch, self.iteration, self.batchesPerEpoch, self.trainLoss) = (epoch, iteration, batchesPerEpoch, trainLoss)
        (self.validationError, self.bestValidationError, self.testError) = (validationError, bestValidationError, testError)
        (self.improved, self.seconds, self.samplesPerSecond) = (improved, seconds, samplesPerSecond)
    }
}

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

/// Rank 0's window on a run, for progress, logs and plots. The trainer calls these on rank 0 only.
public protocol TrainingObserver: AnyObject {
    func started(_ trainer: Trainer)
    func stepped(iteration: Int, batchesPerEpoch: Int)
    func validated(_ record: ValidationRecord)
}

extension TrainingObserver {
    public func started(_ trainer: Trainer) {}
    public func stepped(iteration: Int, batchesPerEpoch: Int) {}
    public func validated(_ record: ValidationRecord) {}
}
