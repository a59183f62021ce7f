// The training step's kernels against plain loops in Double (stated tolerance), and against
// themselves one row at a time (bits): a row's result must not depend on which rows share a call,
// a pair or a rank, and an update must add every term exactly once.
import Foundation
import MLPCore
import Testing

@Suite struct RowKernelTests {
    /// Random (rows, columns) inputs with `zeros` of them zero, and a random (columns, outputs) matrix.
    func fixtures(rows: Int, columns: Int, outputs: Int, zeros: Double = 0.8) -> (x: LabeledImages, w: FloatStorage) {
        var random = FixtureRandom(state: 23)
        let x = LabeledImages(count: rows, pixelsPerImage: columns), w = FloatStorage(count: columns * outputs)
        for i in 0..<rows * columns where random.next() >= zeros { x.pixels.base[i] = random.uniform(0, 1) }
        for i in 0..<w.count { w.base[i] = random.uniform(-1, 1) }
        return (x, w)
    }

    func expectClose(_ got: UnsafePointer<Float>, _ expected: [Double], _ what: String) {
        var worst = 0.0
        for i in expected.indices { worst = max(worst, abs(Double(got[i]) - expected[i]) / max(1, abs(expected[i]))) }
        #expect(worst <= 1e-5, "\(what): worst relative difference \(worst)")
    }

    /// Widths around the tiles: under one vector, one vector, a narrow tile, whole tiles with a moved
    /// last one (130, 250, 500), a rest under 16 (390 = 3·128 + 6); column ranges at odd places.
    static let shapes: [(outputs: Int, columns: Range<Int>)] =
        [(10, 0..<10), (16, 0..<16), (100, 3..<100), (130, 0..<130), (250, 0..<250), (390, 0..<390), (500, 0..<500), (500, 256..<500), (500, 160..<336)]

    @Test(arguments: shapes.indices)
    func firstLayerProductIsTheProductRowByRow(shape: Int) {
        let (outputs, columns) = Self.shapes[shape]
        let (rows, inputs) = (23, 60)
        let (x, w) = fixtures(rows: rows, columns: inputs, outputs: outputs)
        let sparse = SparseRows(x.all.images, columnPairs: true)
        let weight = Matrix(w.base, rows: inputs, columns: outputs)
        let pairs = RowPairs(capacity: rows, columns: inputs)
        pairs.fill(from: sparse, count: rows) { (rows - 1 - $0) }   // any order of the source's rows
        let got = FloatStorage(count: rows * columns.count)
        got.base.update(repeating: .nan, count: got.count)
        pairs.multiply(by: weight, columns: columns, scale: 0.5, into: Matrix(got.base, rows: rows, columns: columns.count))
        var expected: [Double] = []
        for r in 0..<rows {
            let source = x.all.images.row(rows - 1 - r)
            for c in columns { expected.append(0.5 * (0..<inputs).reduce(0.0) { $0 + Double(source[$1]) * Double(weight.row($1)[c]) }) }
        }
        expectClose(got.base, expected, "x · W[:, \(columns)] of \(outputs)")

        // One row at a time (pairs of one) gives the same bits as the pairs.
        let alone = RowPairs(capacity: 1, columns: inputs), row = FloatStorage(count: columns.count)
        for r in 0..<rows {
            alone.fill(from: sparse, count: 1) { _ in rows - 1 - r }
            alone.multiply(by: weight, columns: columns, scale: 0.5, into: Matrix(row.base, rows: 1, columns: columns.count))
            let same = (0..<columns.count).allSatisfy { row.base[$0].bitPattern == got.base[r * columns.count + $0].bitPattern }
            #expect(same, "row \(r) alone differs from row \(r) in its pair")
        }
    }

    @Test(arguments: shapes.indices)
    func firstLayerUpdateAddsEveryTermOnce(shape: Int) {
        let (outputs, columns) = Self.shapes[shape]
        let (rows, inputs) = (21, 60)
        let (x, w) = fixtures(rows: rows, columns: inputs, outputs: outputs, zeros: 0.6)
        let (d, _) = fixtures(rows: rows, columns: columns.count, outputs: 1, zeros: 0)   // any (rows, columns.count) deltas
        let sparse = SparseRows(x.all.images, columnPairs: true)
        let delta = Matrix(d.pixels.base, rows: rows, columns: columns.count)
        let before = Array(UnsafeBufferPointer(start: w.base, count: w.count))
        let pixels = PixelPairs(capacity: rows, pixels: 0..<inputs)
        pixels.fill(from: sparse, count: rows) { $0 }
        pixels.addProducts(delta: delta, scale: -0.25, into: Matrix(w.base, rows: inputs, columns: outputs), columns: columns)
        var expected = before.map(Double.init)
        for j in 0..<inputs {
            for (k, c) in columns.enumerated() {
                for r in 0..<rows { expected[j * outputs + c] += -0.25 * Double(x.all.images.row(r)[j]) * Double(delta.row(r)[k]) }
            }
        }
        expectClose(w.base, expected, "W[:, \(columns)] += c · xᵀδ, \(outputs) wide")
        let untouched = (0..<inputs).filter { j in (0..<rows).allSatisfy { x.all.images.row($0)[j] == 0 } }
        for j in untouched { #expect((0..<outputs).allSatisfy { w.base[j * outputs + $0] == before[j * outputs + $0] }, "pixel \(j) is no sample's: its row stays") }

        // Two ranks' halves of the pixels (sharded) give the bits of the whole.
        let halves = Array(before)
        let halvesStorage = FloatStorage(count: halves.count)
        halvesStorage.base.update(from: halves, count: halves.count)
        for part in [0..<24, 24..<inputs] {
            let piece = PixelPairs(capacity: rows, pixels: part)
            piece.fill(from: sparse, count: rows) { $0 }
            piece.addProducts(delta: delta, scale: -0.25, into: Matrix(halvesStorage.base, rows: inputs, columns: outputs), columns: columns)
        }
        #expect((0..<w.count).allSatisfy { halvesStorage.base[$0].bitPattern == w.base[$0].bitPattern }, "pixel ranges compose to the whole, bit for bit")
    }
}
