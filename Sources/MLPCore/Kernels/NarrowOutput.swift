// The logits of a scoring pass without a GEMM. With 10 outputs, OpenBLAS runs (n, 500) · (500, 10)
// at a quarter of its peak: its tiles are wider than 10 columns and it first copies the whole
// activation matrix. Here each row's 10 logits are 10 dot products over 16-wide vectors, two rows
// at a time sharing each load of the weights, and summed across lanes by a tree of shuffles
// (faster than sgemm for these shapes: docs/performance.md).

/// The output layer's weights (inputs, outputs ≤ 10), transposed: one zero-padded row of
/// `inputs` rounded up to 16 per output, and zero rows up to 10.
public final class NarrowOutput {
    public static let maxOutputs = 10
    public let inputs: Int
    public let outputs: Int
    private let stride: Int          // floats per transposed row, a multiple of 16
    private let transposed: FloatStorage

    public init(inputs: Int, outputs: Int) {
        precondition(outputs <= Self.maxOutputs, "at most \(Self.maxOutputs) outputs")
        self.inputs = inputs
        self.outputs = outputs
        stride = (inputs + 15) / 16 * 16
        transposed = FloatStorage(count: Self.maxOutputs * stride)
    }

    /// Copies `w` (inputs, outputs) in, transposed; the padding stays zero.
    public func pack(_ w: Matrix) {
        precondition(w.rows == inputs && w.columns == outputs, "shape mismatch packing output weights")
        for i in 0..<inputs {
            let row = w.row(i)
            for j in 0..<outputs { transposed.base[j * stride + i] = row[j] }
        }
    }

    /// Wᵀ as packed, (outputs, inputs): the backward pass multiplies the output delta by it.
    public var transposedWeights: Matrix { Matrix(transposed.base, rows: outputs, columns: inputs, stride: stride) }

    /// out = h · w (n, outputs) for h (n, inputs).
    public func multiply(_ h: Matrix, into out: Matrix) {
        precondition(h.columns == inputs && out.columns == outputs && out.rows == h.rows, "narrow output shapes")
        var i = 0
        while i < h.rows {
            let second = min(i + 1, h.rows - 1)   // an odd last row pairs with itself
            let (first, other) = sums(h.row(i), h.row(second))
            store(first, to: out.row(i))
            if second != i { store(other, to: out.row(second)) }
            i += 2
        }
    }

    private typealias V = SIMD16<Float>
    private typealias Ten = (V, V, V, V, V, V, V, V, V, V)

    /// Both rows' 10 dot products, lane-wise: lane l of .k holds the sum over inputs ≡ l (mod 16).
    @inline(__always)
    private func sums(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> (Ten, Ten) {
        var s: Ten = (V(), V(), V(), V(), V(), V(), V(), V(), V(), V())
        var t: Ten = s
        @inline(__always) func add(_ u: V, _ v: V, _ p: UnsafePointer<Float>) {
            var w = V.load(p); s.0 = s.0.addingProduct(u, w); t.0 = t.0.addingProduct(v, w)
            w = V.load(p + stride); s.1 = s.1.addingProduct(u, w); t.1 = t.1.addingProduct(v, w)
            w = V.load(p + 2 * stride); s.2 = s.2.addingProduct(u, w); t.2 = t.2.addingProduct(v, w)
            w = V.load(p + 3 * stride); s.3 = s.3.addingProduct(u, w); t.3 = t.3.addingProduct(v, w)
            w = V.load(p + 4 * stride); s.4 = s.4.addingProduct(u, w); t.4 = t.4.addingProduct(v, w)
            w = V.load(p + 5 * stride); s.5 = s.5.addingProduct(u, w); t.5 = t.5.addingProduct(v, w)
            w = V.load(p + 6 * stride); s.6 = s.6.addingProduct(u, w); t.6 = t.6.addingProduct(v, w)
            w = V.load(p + 7 * stride); s.7 = s.7.addingProduct(u, w); t.7 = t.7.addingProduct(v, w)
            w = V.load(p + 8 * stride); s.8 = s.8.addingProduct(u, w); t.8 = t.8.addingProduct(v, w)
            w = V.load(p + 9 * stride); s.9 = s.9.addingProduct(u, w); t.9 = t.9.addingProduct(v, w)
        }
        let full = inputs / 16
        for v in 0..<full { add(.load(x + 16 * v), .load(y + 16 * v), transposed.base + 16 * v) }
        if full * 16 < inputs {  // the last inputs, read without running past the row
            var u = V(), v = V()
            for k in full * 16 ..< inputs { u[k - full * 16] = x[k]; v[k - full * 16] = y[k] }
            add(u, v, transposed.base + 16 * full)
        }
        return (s, t)
    }

    /// Sums each of the 10 vectors across its lanes and stores the first `outputs` sums: pairs of
    /// vectors fold into one (halves added), then quarters, then the last four lanes by a shuffle.
    @inline(__always)
    private func store(_ s: Ten, to out: UnsafeMutablePointer<Float>) {
        @inline(__always) func halves(_ a: V, _ b: V) -> V { V(lowHalf: a.lowHalf + a.highHalf, highHalf: b.lowHalf + b.highHalf) }
        @inline(__always) func quarters(_ a: V, _ b: V) -> V {
            V(lowHalf: SIMD8(lowHalf: a.lowHalf.lowHalf + a.lowHalf.highHalf, highHalf: a.highHalf.lowHalf + a.highHalf.highHalf),
              highHalf: SIMD8(lowHalf: b.lowHalf.lowHalf + b.lowHalf.highHalf, highHalf: b.highHalf.lowHalf + b.highHalf.highHalf))
        }
        @inline(__always) func fours(_ a: V) -> SIMD4<Float> {  // a = four groups of 4 lanes: their sums
            let x = SIMD8(a[0], a[4], a[8], a[12], a[1], a[5], a[9], a[13]) + SIMD8(a[2], a[6], a[10], a[14], a[3], a[7], a[11], a[15])
            return x.lowHalf + x.highHalf
        }
        let r0 = fours(quarters(halves(s.0, s.1), halves(s.2, s.3)))
        let r1 = fours(quarters(halves(s.4, s.5), halves(s.6, s.7)))
        let r2 = fours(quarters(halves(s.8, s.9), V()))
        let sums = V(lowHalf: SIMD8(lowHalf: r0, highHalf: r1), highHalf: SIMD8(lowHalf: r2, highHalf: .zero))
        for j in 0..<outputs { out[j] = sums[j] }
    }
}
