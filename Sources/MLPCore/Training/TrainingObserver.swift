// Rank 0's window on a run, for progress, logs and plots.

/// Rank 0's window on a run, for progress, logs and plots. The trainer calls these on rank 0 only;
/// an error thrown (a log that cannot be written) stops every rank at the next step, checkpoints kept.
public protocol TrainingObserver: AnyObject {
    func started(_ trainer: Trainer) throws
    func stepped(iteration: Int, batchesPerEpoch: Int)
    func validated(_ record: ValidationRecord) throws
}

extension TrainingObserver {
    public func started(_ trainer: Trainer) throws {}
    public func stepped(iteration: Int, batchesPerEpoch: Int) {}
    public func validated(_ record: ValidationRecord) throws {}
}
