// Minibatch SGD on the tutorial's cost: mean NLL + λ₁·‖W‖₁ + λ₂·‖W‖₂² over weight matrices only,
// with the learning rate η_t = η̂_t / (1 + d·t), η̂ the peak rate (η₀, or η₀·B/B_ref by the linear
// scaling rule) reached by a linear warm-up from η₀. Every layer's update is formed from the whole
// minibatch's factors (A, D) in one pass (Kernels/OuterProducts.swift, Kernels/PixelPairs.swift); the
// first layer's decay is kept as a scale (DecayScale, below).

/// How the learning rate follows the global batch B. `linear`: Goyal et al. (2017), "Accurate,
/// Large Minibatch SGD": η₀ was tuned at batch B_ref, so batch B gets η₀ · B / B_ref.
public enum LearningRateScaling: String, CaseIterable, Sendable, Codable {
    case none, linear
}

public struct SGD: Equatable, Sendable {
    public var learningRate: Double  // η₀
    public var decay: Double         // d
    public var l1: Double            // λ₁
    public var l2: Double            // λ₂
    public var scaling: LearningRateScaling = .none
    public var referenceBatch = 20   // B_ref: the batch η₀ is tuned for (the tutorial's)
    public var warmupEpochs = 0      // epochs over which η rises linearly from η₀ to the peak rate

    public init(learningRate: Double = 0.01, decay: Double = 0, l1: Double = 0, l2: Double = 0.0001) {
        self.learningRate = learningRate
        self.decay = decay
        self.l1 = l1
        self.l2 = l2
    }

    /// The rate after warm-up for global batch `batchSize`: η₀, or η₀ · B / B_ref.
    public func peakRate(batchSize: Int) -> Double {
        scaling == .linear ? learningRate * Double(batchSize) / Double(referenceBatch) : learningRate
    }

    /// η_t for the update that follows `iteration` completed updates of `batchSize` samples, with
    /// `batchesPerEpoch` updates to an epoch. During warm-up (Goyal et al.: per iteration, from η₀
    /// to the peak) η̂ = η₀ + (peak − η₀) · t / T; the decay applies on top.
    public func rate(at iteration: Int, batchSize: Int, batchesPerEpoch: Int) -> Double {
        let peak = peakRate(batchSize: batchSize)
        let warmup = warmupEpochs * batchesPerEpoch
        let ramped = iteration < warmup ? learningRate + (peak - learningRate) * Double(iteration) / Double(warmup) : peak
        return ramped / (1 + decay * Double(iteration))
    }

    /// The factor an update at rate η multiplies every weight by for the L2 penalty: 1 − 2ηλ₂.
    public func keep(rate eta: Double) -> Double { 1 - 2 * eta * l2 }
}

/// The first layer's weight as W₀ = s·V: its L2 decay (every weight × (1 − 2ηλ₂) every step)
/// multiplies the scale s instead of every row, so that an update writes only the rows of V whose
/// pixel some sample of the batch has (MNIST: about 424 of 784 at batch 20). The forward pass
/// multiplies its sums by s. Folded back (V ← s·V, s ← 1) at the iterations the trainer names, so
/// that checkpoints hold W₀ itself and a resumed run goes on with the same bits, and whenever s
/// falls below `Tuning.smallestDecayScale`. With an L1 penalty, or a decay that would more than
/// halve the weights in one step, every row is updated directly (s stays 1).
struct DecayScale {
    private(set) var value = 1.0
    var factor: Float { Float(value) }

    /// The first layer's update at rate `eta`: v (784, columns) ← from the batch's non-zeros
    /// `pixels` and the deltas `delta` (B, columns) of the whole minibatch; `fold` folds the scale
    /// into the rank's copy of V (whatever part of it the rank keeps).
    mutating func update(_ v: Matrix, columns: Range<Int>, pixels: PixelPairs, delta: Matrix, sgd: SGD, batchSize: Int,
                         rate eta: Double, fold: (Float) -> Void) {
        let keep = sgd.keep(rate: eta), alpha = -eta / Double(batchSize)
        if sgd.l1 != 0 || keep < 0.5 {
            if value != 1 { fold(factor); value = 1 }
            let shrink = Float(eta * sgd.l1), k = Float(keep)
            let target = v.columns(columns.lowerBound, count: columns.count)
            for j in pixels.pixels {
                let row = target.row(j)
                for c in 0..<target.columns { row[c] = k * row[c] - shrink * sign(row[c]) }
            }
            pixels.addProducts(delta: delta, scale: Float(alpha), into: v, columns: columns)
            return
        }
        value *= keep
        pixels.addProducts(delta: delta, scale: Float(alpha / value), into: v, columns: columns)
        if value < Tuning.smallestDecayScale { fold(factor); value = 1 }
    }

    /// V ← s·V (by the caller, over its part of V) and s ← 1.
    mutating func fold(_ apply: (Float) -> Void) {
        guard value != 1 else { return }
        apply(factor)
        value = 1
    }
}
