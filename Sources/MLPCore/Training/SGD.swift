// Minibatch SGD on the tutorial's cost: mean NLL + λ₁·‖W‖₁ + λ₂·‖W‖₂² over weight matrices only,
// with the learning rate η_t = η̂_t / (1 + d·t), η̂ the peak rate (η₀, or η₀·B/B_ref by the linear
// scaling rule) reached by a linear warm-up from η₀. The update is one pass per layer; where the
// batch gradient is a product Aᵀ·D that every rank can form, the update rides inside that GEMM.

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

    /// W ← (1 − 2ηλ₂)·W − ηλ₁·sign(W) − (η/B)·G and b ← b − (η/B)·g, with G and g summed over
    /// the B samples of the global batch (the allreduced gradient buffer). With `rows`, only those
    /// rows of W; without `bias`, the bias is left to another rank (node-shared parameters).
    public func applyDense(layer l: Int, rows: Range<Int>? = nil, bias: Bool = true, to p: ParameterSet,
                           gradients g: ParameterSet, batchSize: Int, rate eta: Double) {
        let rows = rows ?? 0..<p.layout.layers[l].inputs
        let outputs = p.layout.layers[l].outputs
        let w = p.weight(l).row(rows.lowerBound), gw = g.weight(l).row(rows.lowerBound)
        let n = rows.count * outputs
        let keep = Float(1 - 2 * eta * l2), shrink = Float(eta * l1), alpha = Float(-eta / Double(batchSize))
        if shrink == 0 {
            for i in 0..<n { w[i] = keep * w[i] + alpha * gw[i] }
        } else {
            for i in 0..<n { w[i] = keep * w[i] - shrink * sign(w[i]) + alpha * gw[i] }
        }
        guard bias else { return }
        let b = p.bias(l), gb = g.bias(l)
        for j in 0..<outputs { b[j] += alpha * gb[j] }
    }

    /// The same update with the gradient formed from its factors, every sample of the global batch:
    /// W ← (1 − 2ηλ₂)·W − ηλ₁·sign(W) − (η/B)·Aᵀ·D in one GEMM (β carries the decay), and
    /// b ← b − (η/B)·Σ_rows D. `input` A is (B, n_in), `delta` D is (B, n_out). With `rows`, only
    /// those rows of W are updated (from those columns of A); without `bias`, the bias is left to
    /// another rank (node-shared parameters). `sparseInput`: A without its zeros, for the kernel
    /// that skips them. With `columns`, only those columns of W and b (the columns exchange's
    /// hidden units), and `delta` holds just those columns (B, columns.count).
    public func applyFactors(layer l: Int, rows: Range<Int>? = nil, columns: Range<Int>? = nil, bias: Bool = true,
                             to p: ParameterSet, input: Matrix, sparseInput: SparseBatch.Rows? = nil, delta: Matrix,
                             rate eta: Double, ones: UnsafePointer<Float>) {
        let rows = rows ?? 0..<p.layout.layers[l].inputs
        let columns = columns ?? 0..<p.layout.layers[l].outputs
        let w = p.weight(l).rows(rows.lowerBound, count: rows.count)              // (rows, columns)
            .columns(columns.lowerBound, count: columns.count)
        let a = input.columns(rows.lowerBound, count: rows.count)                 // (B, rows), strided
        let keep = Float(1 - 2 * eta * l2), shrink = Float(eta * l1), alpha = Float(-eta / Double(input.rows))
        var beta = keep
        if shrink != 0 {
            for r in 0..<w.rows {
                let row = w.row(r)
                for i in 0..<w.columns { row[i] = keep * row[i] - shrink * sign(row[i]) }
            }
            beta = 1
        }
        if let sparseInput {
            sparseInput.addTransposedProduct(columns: rows, delta: delta, into: w, alpha: alpha, beta: beta)
        } else if !rows.isEmpty {
            BLAS.gemm(a, delta, into: w, transposeA: true, alpha: alpha, beta: beta)
        }
        if bias { BLAS.addColumnSums(of: delta, into: p.bias(l) + columns.lowerBound, alpha: alpha, beta: 1, ones: ones) }
    }

    /// The penalty λ₁·‖W‖₁ + λ₂·‖W‖₂² over all weight matrices (not biases).
    public func penalty(_ p: ParameterSet) -> Double {
        if l1 == 0 && l2 == 0 { return 0 }
        var absolute = 0.0, squares = 0.0
        for l in 0..<p.layout.layers.count {
            let w = p.weight(l)
            for i in 0..<w.count {
                let v = Double(w.base[i])
                absolute += Swift.abs(v)
                squares += v * v
            }
        }
        return l1 * absolute + l2 * squares
    }
}

/// sign(x) with sign(0) = 0, the subgradient Theano uses for |x|.
@inline(__always)
func sign(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
