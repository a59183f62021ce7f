// The measured thresholds that choose between kernels and between ways of waiting, in one place.
// Each comes from a measurement on a 2-core node (docs/performance.md says which); change it here.

public enum Tuning {
    /// A broadcast (a checkpoint's bytes to every rank) goes in pieces of this many bytes: MPI's
    /// counts are 32-bit.
    public static let broadcastPieceBytes = 1 << 30
    /// The first layer's decay scale is folded into its weights every this many iterations (and at
    /// every validation and epoch end): a signal's stop waits for the next such iteration, so that
    /// the stop checkpoint holds W₀ itself. A fold is one pass over W₀ (about 40 µs here).
    public static let foldInterval = 64
    /// ...and whenever the scale falls below this (a strong decay), before its precision matters.
    public static let smallestDecayScale = 1.0 / 1024
    /// `--exchange auto` times each data-parallel way in this many alternating rounds (the first a
    /// warm-up) of about this many seconds each, on a scratch copy of the model, and takes the
    /// faster median: 0.1 s or so at set-up.
    public static let autoRounds = 4
    public static let autoRoundSeconds = 0.01
    /// A split is scored from its non-zeros when density × (width padded to whole panels) / width
    /// is below this: beyond it, the dense GEMM was faster.
    public static let sparseScoringCost = 0.4
    /// The ranks that wait for rank 0's validation first sleep this fraction of its last validation
    /// pass, in one go: each wake-up takes a little of the core rank 0's second scoring thread runs on.
    public static let validationFirstNap = 0.75
    /// ...at most this long in one go, whatever rank 0 said.
    public static let longestNapSeconds = 10.0
    /// Then they check every this many microseconds.
    public static let validationPollMicroseconds: UInt32 = 100
    /// A rank waiting for the step's exchange polls for this long; then it yields the core between
    /// polls (to another rank on it, or a busy process beside the job), and after `yieldSeconds`
    /// naps `napMicroseconds` between polls. A normal step's short wait stays a spin. Yielding, not
    /// napping, first: a nap under load lost the core for a time slice (2 ranks beside a busy
    /// process: 5.6 s and 16.7 s against 3.4 and 3.0 for 3 epochs; docs/performance.md).
    public static let spinSeconds = 200e-6
    public static let yieldSeconds = 10e-3
    public static let napMicroseconds: UInt32 = 20
    /// On one node the step's exchange (NodeAllgather) waits otherwise: it spins this long (a
    /// normal step's wait, median 16 µs here), then yields the core until `nodeYieldSeconds` (a
    /// rank sharing the core runs), then sleeps until the awaited rank publishes and wakes it.
    /// Chosen from whole 3-epoch runs, 5 alternating rounds (docs/performance.md, "Under load"):
    /// beside a busy process 2.93 s median, 3.13 slowest, against 3.38 / 5.34 for MPI's polled
    /// exchange with the waits above; sleeping right after the spin collapsed to 7-9 s in some rounds.
    public static let nodeSpinSeconds = 20e-6
    public static let nodeYieldSeconds = 1e-3
    /// A rank asleep in that wait wakes this often to check for a SIGTERM; the awaited rank's
    /// publication wakes it at once.
    public static let sleepCheckSeconds = 10e-3
    /// How long a rank waits for the others after a SIGTERM or SIGINT before it gives up: under
    /// mpirun they mean a rank died (or the job is being killed), and the SIGKILL follows 1 s later.
    public static let abandonWaitSeconds = 0.5
}
