// Hidden-layer activations: their initialisation scale, a fused "add bias, activate" pass and
// a fused "multiply by the derivative" pass, each one sweep over memory that is still in cache.

public enum Activation: String, CaseIterable, Sendable, Codable {
    case tanh, sigmoid, relu

    /// Half-width of the uniform initialisation of a hidden layer's weights.
    /// tanh: sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, as the tutorial); sigmoid: 4× that;
    /// relu: sqrt(6 / fan_in) (He et al. 2015, uniform form), since relu halves the variance.
    public func initBound(fanIn: Int, fanOut: Int) -> Double {
        switch self {
        case .tanh: return (6.0 / Double(fanIn + fanOut)).squareRoot()
        case .sigmoid: return 4 * (6.0 / Double(fanIn + fanOut)).squareRoot()
        case .relu: return (6.0 / Double(fanIn)).squareRoot()
        }
    }

    /// z[i, j] = f(z[i, j] + bias[j]) for every row of `z`.
    public func addBiasAndActivate(_ z: Matrix, bias: UnsafePointer<Float>) {
        for r in 0..<z.rows {
            let row = z.row(r)
            switch self {
            case .tanh: Kernels.biasTanh(row, bias, z.columns)
            case .sigmoid: Kernels.biasSigmoid(row, bias, z.columns)
            case .relu: Kernels.biasRelu(row, bias, z.columns)
            }
        }
    }

    /// delta ⊙= f'(z), written in terms of the activation a = f(z) that the forward pass kept.
    public func multiplyByDerivative(_ delta: Matrix, activations a: Matrix) {
        precondition(delta.rows == a.rows && delta.columns == a.columns, "derivative shapes differ")
        if delta.isContiguous && a.isContiguous {
            multiplyByDerivative(delta.base, activations: a.base, count: delta.count)
        } else {  // column blocks (the columns exchange): row by row
            for r in 0..<delta.rows { multiplyByDerivative(delta.row(r), activations: a.row(r), count: delta.columns) }
        }
    }

    private func multiplyByDerivative(_ d: UnsafeMutablePointer<Float>, activations h: UnsafePointer<Float>, count n: Int) {
        switch self {
        case .tanh: for i in 0..<n { d[i] *= 1 - h[i] * h[i] }
        case .sigmoid: for i in 0..<n { d[i] *= h[i] * (1 - h[i]) }
        case .relu: for i in 0..<n where h[i] <= 0 { d[i] = 0 }
        }
    }

    /// The scalar function, for tests and references.
    public func callAsFunction(_ x: Float) -> Float {
        var value = x, zero: Float = 0
        switch self {
        case .tanh: Kernels.biasTanh(&value, &zero, 1)
        case .sigmoid: Kernels.biasSigmoid(&value, &zero, 1)
        case .relu: Kernels.biasRelu(&value, &zero, 1)
        }
        return value
    }
}

/// Elementwise kernels written as plain scalar code without calls or branches, which LLVM's loop
/// vectoriser turns into SIMD loops (explicit SIMD types compiled to slower code here).
/// exp is 2^k · e^r with |r| ≤ ln2/2 and a degree-6 polynomial (sigmoid and softmax use it); tanh
/// splits the same way. No libm call sits in the training step. Accuracy: within 2e-7 relative of
/// the exact values.
enum Kernels {
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        // k = round(x / ln2) by the 1.5·2^23 trick: the float's low mantissa bits then hold k.
        let magic: Float = 12_582_912
        let shifted = x * 1.442_695_04 + magic
        let k = shifted - magic
        var r = x - k * 0.693_145_751_953_125     // ln2, high part
        r = r - k * 1.428_606_765_330_187e-06     // ln2, low part
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return p * Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)  // · 2^k
    }

    /// tanh(x) = E / (E + 2) with E = e^{2|x|} − 1, the sign put back. E is 2^k · (e^r − 1) + (2^k − 1)
    /// with e^r − 1 from its own series, so small |x| loses nothing to cancellation and one formula
    /// (fused multiply-adds, one division) serves every x: half the work of a series and an exp.
    @inline(__always)
    static func tanh(_ x: Float) -> Float {
        let t = min(Swift.abs(x), 9) * 2  // tanh(9) rounds to 1 in Float32
        let magic: Float = 12_582_912     // k = round(t / ln2), as in exp
        let shifted = magic.addingProduct(t, 1.442_695_04)
        let k = shifted - magic
        var r = t.addingProduct(k, -0.693_145_751_953_125)   // ln2, high part
        r = r.addingProduct(k, -1.428_606_765_330_187e-06)   // ln2, low part
        var p: Float = 1.0 / 5040
        p = Float(1.0 / 720).addingProduct(p, r)
        p = Float(1.0 / 120).addingProduct(p, r)
        p = Float(1.0 / 24).addingProduct(p, r)
        p = Float(1.0 / 6).addingProduct(p, r)
        p = Float(0.5).addingProduct(p, r)
        let expm1r = r.addingProduct(r * r, p)
        let twoToK = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
        let e = (twoToK - 1).addingProduct(twoToK, expm1r)
        let magnitude = e / (e + 2)
        return x < 0 ? -magnitude : magnitude
    }

    @inline(__always)
    static func sigmoid(_ x: Float) -> Float {
        1 / (1 + exp(-min(max(x, -80), 80)))
    }

    static func biasTanh(_ row: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { row[i] = tanh(row[i] + bias[i]) }
    }

    static func biasSigmoid(_ row: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { row[i] = sigmoid(row[i] + bias[i]) }
    }

    static func biasRelu(_ row: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ n: Int) {
        for i in 0..<n { row[i] = max(row[i] + bias[i], 0) }
    }
}
