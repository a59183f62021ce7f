// The measured thresholds that choose between kernels and between ways of waiting, in one place.
// Each comes from a measurement on a 2-core node (docs/performance.md says which); change it here.

public enum Tuning {
    /// The first layer trains from the minibatch's non-zero pixels when fewer than this fraction of
    /// the training pixels are non-zero (MNIST: 19 %; the sparse step was 2.2× faster there).
    public static let sparseTrainingDensity = 0.3
    /// A split is scored from its non-zeros when density × (width padded to whole panels) / width
    /// is below this: beyond it, the dense GEMM was faster.
    public static let sparseScoringCost = 0.4
    /// The ranks that wait for rank 0's validation first sleep this fraction of the shortest wait so
    /// far, in one go: each wake-up takes a little of the core rank 0's second scoring thread runs on.
    public static let validationFirstNap = 0.75
    /// Then they check every this many microseconds.
    public static let validationPollMicroseconds: UInt32 = 100
}
