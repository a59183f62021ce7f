// The two small kernels of OverlapStep's correction z ← k·z + Σ_j g_j·d_j, where g_j = α·(x·a_j):
// dot products of a row with a minibatch's images, and a row scaled and added to B rows. Each
// result is one fixed sequence of operations on its own row's inputs, so it does not depend on
// which rows or ranks share a call.

enum LowRankCorrection {
    /// x · y over `count` floats: four vector sums over 64-float blocks, then 16-float blocks, then
    /// the rest one by one, in that order.
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count: Int) -> Float {
        var a0 = Vector16(), a1 = Vector16(), a2 = Vector16(), a3 = Vector16()
        var i = 0
        while i + 64 <= count {
            a0 = a0.addingProduct(.load(x + i), .load(y + i)); a1 = a1.addingProduct(.load(x + i + 16), .load(y + i + 16))
            a2 = a2.addingProduct(.load(x + i + 32), .load(y + i + 32)); a3 = a3.addingProduct(.load(x + i + 48), .load(y + i + 48))
            i += 64
        }
        while i + 16 <= count {
            a0 = a0.addingProduct(.load(x + i), .load(y + i))
            i += 16
        }
        var sum = ((a0 + a1) + (a2 + a3)).sum()
        while i < count {
            sum = sum.addingProduct(x[i], y[i])
            i += 1
        }
        return sum
    }

    /// z ← k·z + Σ_j g[j]·d_j over z's `width` columns, j ascending, for the rows d_j = d + j·stride
    /// whose g[j] is not 0.
    static func scaleAndAdd(_ z: UnsafeMutablePointer<Float>, width: Int, keep: Float, coefficients g: UnsafePointer<Float>,
                            rows d: UnsafePointer<Float>, count: Int, stride: Int) {
        var c = 0
        while c + 16 <= width {
            var sum = Vector16.load(z + c) * keep
            for j in 0..<count where g[j] != 0 { sum.addProduct(g[j], d + j * stride + c) }
            sum.store(to: z + c)
            c += 16
        }
        while c < width {
            var sum = z[c] * keep
            for j in 0..<count where g[j] != 0 { sum = sum.addingProduct(g[j], d[j * stride + c]) }
            z[c] = sum
            c += 1
        }
    }
}
