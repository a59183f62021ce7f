// One line of the run's log, written by rank 0 after each validation.

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
