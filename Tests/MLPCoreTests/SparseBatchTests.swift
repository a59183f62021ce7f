import Foundation
import MLPCore
import Testing

@Suite struct SparseBatchTests {
    /// Random (rows, columns) inputs, 80 % zeros, and a random (columns, outputs) matrix.
    func fixtures(rows: Int, columns: Int, outputs: Int) -> (x: FloatStorage, w: FloatStorage) {
        var random = FixtureRandom(state: 23)
        let x = FloatStorage(count: rows * columns), w = FloatStorage(count: columns * outputs)
        for i in 0..<x.count where random.next() >= 0.8 { x.base[i] = random.uniform(0, 1) }
        for i in 0..<w.count { w.base[i] = random.uniform(-1, 1) }
        return (x, w)
    }

    func expectClose(_ got: FloatStorage, _ expected: FloatStorage, _ what: String) {
        var worst: Float = 0
        for i in 0..<got.count { worst = max(worst, abs(got.base[i] - expected.base[i]) / max(1, abs(expected.base[i]))) }
        #expect(worst <= 1e-5, "\(what): worst relative difference \(worst)")
    }

    /// Widths around the kernels' tiles: under one vector, one vector, a partial last tile of ≥ 16
    /// columns (130, 500) and one of under 16 (390 = 3·128 + 6).
    @Test(arguments: [10, 16, 130, 390, 500])
    func productOfRowAndColumnRangesEqualsTheGEMM(outputs: Int) {
        let (rows, columns) = (23, 60)
        let (x, wAll) = fixtures(rows: rows, columns: columns, outputs: outputs)
        let batch = SparseBatch(capacity: 30, columns: columns)
        let (rowRange, columnRange) = (5..<19, 17..<44)
        batch.fill(from: SparseRows(Matrix(x.base, rows: rows, columns: columns), columns: 10..<50), count: rows) { $0 }
        #expect(batch.rows == rows && batch.filledColumns == 10..<50)

        let xPart = Matrix(x.base, rows: rows, columns: columns).rows(rowRange.lowerBound, count: rowRange.count)
            .columns(columnRange.lowerBound, count: columnRange.count)
        let w = Matrix(wAll.base, rows: columns, columns: outputs).rows(columnRange.lowerBound, count: columnRange.count)
        let expected = FloatStorage(count: rowRange.count * outputs), got = FloatStorage(count: rowRange.count * outputs)
        BLAS.gemm(xPart, w, into: Matrix(expected.base, rows: rowRange.count, columns: outputs))
        got.base.update(repeating: .nan, count: got.count)
        batch.rows(rowRange).multiply(columns: columnRange, by: w, into: Matrix(got.base, rows: rowRange.count, columns: outputs))
        expectClose(got, expected, "x · W, \(outputs) wide")
    }

    @Test(arguments: [10, 16, 130, 390, 500], [Float(0), 0.9])
    func transposedProductEqualsTheGEMM(outputs: Int, beta: Float) {
        let (rows, columns) = (23, 60)
        let (x, delta) = fixtures(rows: rows, columns: columns, outputs: outputs)   // delta: any (rows, outputs) values
        let batch = SparseBatch(capacity: rows, columns: columns)
        batch.fill(from: SparseRows(Matrix(x.base, rows: rows, columns: columns)), count: rows) { $0 }
        let (rowRange, columnRange) = (4..<21, 9..<52)
        let xPart = Matrix(x.base, rows: rows, columns: columns).rows(rowRange.lowerBound, count: rowRange.count)
            .columns(columnRange.lowerBound, count: columnRange.count)
        let d = Matrix(delta.base, rows: rowRange.count, columns: outputs)
        let expected = FloatStorage(count: columnRange.count * outputs), got = FloatStorage(count: columnRange.count * outputs)
        var random = FixtureRandom(state: 5)
        for i in 0..<got.count { got.base[i] = beta == 0 ? .nan : random.uniform(-1, 1); expected.base[i] = beta == 0 ? 0 : got.base[i] }
        BLAS.gemm(xPart, d, into: Matrix(expected.base, rows: columnRange.count, columns: outputs), transposeA: true, alpha: -0.3, beta: beta)
        batch.rows(rowRange).addTransposedProduct(columns: columnRange, delta: d, into: Matrix(got.base, rows: columnRange.count, columns: outputs),
                                                  alpha: -0.3, beta: beta)
        expectClose(got, expected, "β·W − 0.3·xᵀ·δ, \(outputs) wide, β \(beta)")
    }

    /// Rows picked from a listed set in any order (a shuffled minibatch), then a smaller refill.
    @Test func fillsPickedRowsAndRefills() {
        let (x, w) = fixtures(rows: 8, columns: 40, outputs: 16)
        let listed = SparseRows(Matrix(x.base, rows: 8, columns: 40))
        #expect(listed.nonZeros == (0..<320).filter { x.base[$0] != 0 }.count)
        let batch = SparseBatch(capacity: 8, columns: 40)
        let picked = [5, 0, 7, 5]
        batch.fill(from: listed, count: 4) { picked[$0] }
        #expect(batch.rows == 4 && batch.nonZeros == picked.map { r in (0..<40).filter { x.base[r * 40 + $0] != 0 }.count }.reduce(0, +))

        // Its product equals the GEMM of the picked dense rows.
        let dense = FloatStorage(count: 4 * 40)
        for (r, source) in picked.enumerated() { (dense.base + r * 40).update(from: x.base + source * 40, count: 40) }
        let expected = FloatStorage(count: 4 * 16), got = FloatStorage(count: 4 * 16)
        let wm = Matrix(w.base, rows: 40, columns: 16)
        BLAS.gemm(Matrix(dense.base, rows: 4, columns: 40), wm, into: Matrix(expected.base, rows: 4, columns: 16))
        batch.all.multiply(columns: 0..<40, by: wm, into: Matrix(got.base, rows: 4, columns: 16))
        expectClose(got, expected, "picked rows · W")

        batch.fill(from: listed, count: 2) { $0 }
        #expect(batch.rows == 2 && batch.nonZeros == (0..<80).filter { x.base[$0] != 0 }.count)
    }
}
