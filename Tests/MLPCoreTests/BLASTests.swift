import MLPCore
import Testing

@Suite struct BLASTests {
    @Test func productWorkedByHand() {
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        var a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [7, 8, 9, 10, 11, 12], c = [Float](repeating: -1, count: 4)
        a.withUnsafeMutableBufferPointer { a in b.withUnsafeMutableBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
            BLAS.gemm(Matrix(a.baseAddress!, rows: 2, columns: 3), Matrix(b.baseAddress!, rows: 3, columns: 2),
                      into: Matrix(c.baseAddress!, rows: 2, columns: 2))
        } } }
        #expect(c == [58, 64, 139, 154])
    }

    @Test func transposesAlphaAndBeta() {
        // C = 2 · Aᵀ · Bᵀ + 0.5 · C with A (3×2), B (2×3): Aᵀ·Bᵀ = (B·A)ᵀ
        var a: [Float] = [1, 4, 2, 5, 3, 6]          // Aᵀ = [1 2 3; 4 5 6]
        var b: [Float] = [7, 9, 11, 8, 10, 12]        // Bᵀ = [7 8; 9 10; 11 12]
        var c: [Float] = [2, 2, 2, 2]
        a.withUnsafeMutableBufferPointer { a in b.withUnsafeMutableBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
            BLAS.gemm(Matrix(a.baseAddress!, rows: 3, columns: 2), Matrix(b.baseAddress!, rows: 2, columns: 3),
                      into: Matrix(c.baseAddress!, rows: 2, columns: 2), transposeA: true, transposeB: true, alpha: 2, beta: 0.5)
        } } }
        #expect(c == [117, 129, 279, 309])
    }

    @Test func columnSumsAddedToVector() {
        var a: [Float] = [1, 2, 3, 4, 5, 6], y: [Float] = [10, 20, 30], ones: [Float] = [1, 1]
        a.withUnsafeMutableBufferPointer { a in y.withUnsafeMutableBufferPointer { y in ones.withUnsafeMutableBufferPointer { o in
            BLAS.addColumnSums(of: Matrix(a.baseAddress!, rows: 2, columns: 3), into: y.baseAddress!, alpha: -1, beta: 1, ones: o.baseAddress!)
        } } }
        #expect(y == [5, 13, 21])
    }

    /// Products run on one OpenBLAS thread whatever OPENBLAS_NUM_THREADS says: the thread count
    /// changes a product's bits (IntegrationTests' Determinism suite checks the whole run).
    @Test func productsRunOnOneThread() {
        var a: [Float] = [1, 2], c: [Float] = [0]
        a.withUnsafeMutableBufferPointer { a in c.withUnsafeMutableBufferPointer { c in
            BLAS.gemm(Matrix(a.baseAddress!, rows: 1, columns: 2), Matrix(a.baseAddress!, rows: 2, columns: 1),
                      into: Matrix(c.baseAddress!, rows: 1, columns: 1))
        } }
        #expect(c == [5])
        #expect(BLAS.threads == 1)
        #expect(BLAS.scoringThreads() >= 1)
    }
}
