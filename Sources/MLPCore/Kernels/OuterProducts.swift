// The dense layers' updates from a whole minibatch's factors: W ← keep·W − shrink·sign(W) + α·AᵀD
// and b ← b + α·Σ_rows D. Every element's sum runs over the rows in order, one fused multiply-add
// at a time, so the result is the same whichever rank forms it and whatever else shares the call
// (an sgemm may block its sums differently for other shapes).

enum OuterProducts {
    /// w (n_in, n_out) ← keep·w − shrink·sign(w) + alpha·aᵀ·d, for a (B, n_in) and d (B, n_out).
    /// Inputs in blocks of 16 (one vector lane each), up to 12 outputs at a time in registers.
    static func update(_ w: Matrix, keep: Float, shrink: Float, alpha: Float, a: Matrix, d: Matrix) {
        precondition(a.rows == d.rows && w.rows == a.columns && w.columns == d.columns, "shape mismatch in a dense layer's update")
        let rows = a.rows, inputs = w.rows, outputs = w.columns
        @inline(__always) func finish(_ i: Int, _ j: Int, _ sum: Float) {
            let old = w.row(i)[j]
            w.row(i)[j] = keep * old - shrink * sign(old) + alpha * sum
        }
        var i = 0
        while i + 16 <= inputs {
            var j = 0
            while j < outputs {
                let n = min(12, outputs - j)
                var acc = (Vector16(), Vector16(), Vector16(), Vector16(), Vector16(), Vector16(),
                           Vector16(), Vector16(), Vector16(), Vector16(), Vector16(), Vector16())
                for r in 0..<rows {
                    let x = Vector16.load(a.row(r) + i), e = d.row(r) + j
                    @inline(__always) func add(_ v: inout Vector16, _ k: Int) { if k < n { v = v.addingProduct(x, Vector16(repeating: e[k])) } }
                    add(&acc.0, 0); add(&acc.1, 1); add(&acc.2, 2); add(&acc.3, 3); add(&acc.4, 4); add(&acc.5, 5)
                    add(&acc.6, 6); add(&acc.7, 7); add(&acc.8, 8); add(&acc.9, 9); add(&acc.10, 10); add(&acc.11, 11)
                }
                withUnsafeBytes(of: acc) { raw in
                    let sums = raw.assumingMemoryBound(to: Float.self).baseAddress!   // (12, 16): output k, input lane
                    for k in 0..<n { for lane in 0..<16 { finish(i + lane, j + k, sums[16 * k + lane]) } }
                }
                j += n
            }
            i += 16
        }
        for i in i..<inputs {   // the last inputs, fewer than 16: the same chain, scalar
            for j in 0..<outputs {
                var sum: Float = 0
                for r in 0..<rows { sum = sum.addingProduct(a.row(r)[i], d.row(r)[j]) }
                finish(i, j, sum)
            }
        }
    }

    /// b[j] ← b[j] + alpha · Σ_r d[r, j], the rows in order.
    static func addColumnSums(_ d: Matrix, alpha: Float, into b: UnsafeMutablePointer<Float>) {
        var j = 0
        while j + 16 <= d.columns {
            var sum = Vector16()
            for r in 0..<d.rows { sum += .load(d.row(r) + j) }
            (Vector16.load(b + j) + Vector16(repeating: alpha) * sum).store(to: b + j)
            j += 16
        }
        for j in j..<d.columns {
            var sum: Float = 0
            for r in 0..<d.rows { sum += d.row(r)[j] }
            b[j] += alpha * sum
        }
    }
}

/// sign(x) with sign(0) = 0, the subgradient Theano uses for |x|.
@inline(__always)
func sign(_ x: Float) -> Float { x > 0 ? 1 : (x < 0 ? -1 : 0) }
