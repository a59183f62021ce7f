// Rank 0's window on a run, for progress, logs and plots.

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
