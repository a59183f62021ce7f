// The tutorial's patience-based early stopping, verbatim: validate every
// min(batches per epoch, patience / 2) iterations; on a new best, test; on a new best that beats the
// old by the improvement threshold, extend patience to iteration × 2; stop once patience ≤ iteration.
// `iteration` is the tutorial's 0-based `iter` of the minibatch just trained on.

public struct EarlyStopping: Equatable, Sendable {
    public static let patienceIncrease = 2
    public static let improvementThreshold = 0.995

    public private(set) var patience: Int
    public let validationFrequency: Int
    public private(set) var bestValidationError: Double = .infinity
    public private(set) var bestIteration: Int = 0          // 0-based iter of the best validation
    public private(set) var testErrorAtBest: Double?

    public init(patience: Int, batchesPerEpoch: Int) {
        self.patience = patience
        validationFrequency = max(1, min(batchesPerEpoch, patience / 2))
    }

    /// Restores the state saved in a checkpoint.
    public init(patience: Int, validationFrequency: Int, bestValidationError: Double, bestIteration: Int,
                testErrorAtBest: Double?) {
        self.patience = patience
        self.validationFrequency = validationFrequency
        self.bestValidationError = bestValidationError
        self.bestIteration = bestIteration
        self.testErrorAtBest = testErrorAtBest
    }

    /// Whether the tutorial validates after minibatch `iteration`.
    public func isValidationPoint(_ iteration: Int) -> Bool { (iteration + 1) % validationFrequency == 0 }

    /// Records a validation error; returns true for a new best, after which the caller scores the
    /// test set and calls `recordTest`.
    public mutating func recordValidation(_ error: Double, at iteration: Int) -> Bool {
        guard error < bestValidationError else { return false }
        if error < bestValidationError * Self.improvementThreshold {
            patience = max(patience, iteration * Self.patienceIncrease)
        }
        bestValidationError = error
        bestIteration = iteration
        return true
    }

    public mutating func recordTest(_ error: Double) { testErrorAtBest = error }

    /// The tutorial's `patience <= iter`: stop after this minibatch.
    public func shouldStop(after iteration: Int) -> Bool { patience <= iteration }
}
