// The first layer of a training step from the minibatch's non-zero inputs: x · W_0 and the fused
// update W_0 ← β·W_0 + α·xᵀ·δ, each touching only the rows of W_0 whose input is not zero, in place
// of the two largest GEMMs of the step (`--sparse-input`).

/// A minibatch's inputs without their zeros, copied every step from the training set's non-zeros
/// (listed once) into buffers made once: by rows (CSR) for the first layer's product x · W_0, and by
/// columns (CSC) for its weight gradient xᵀ · δ. The two kernels below replace those GEMMs when the
/// inputs are sparse enough (`--sparse-input`).
public final class SparseBatch {
    public let capacity: Int                   // rows at most
    public let columns: Int
    public private(set) var rows = 0
    private let rowStart: Storage<Int32>       // (rows + 1) into rowColumn / rowValue
    private let rowColumn: Storage<Int32>      // (non-zeros) ascending within a row
    private let rowValue: FloatStorage
    private let columnStart: Storage<Int32>    // (columns + 1) into columnRow / columnValue
    private let columnRow: Storage<Int32>      // (non-zeros) ascending within a column
    private let columnValue: FloatStorage

    public init(capacity: Int, columns: Int) {
        self.capacity = capacity
        self.columns = columns
        rowStart = Storage(count: capacity + 1)
        rowColumn = Storage(count: capacity * columns)
        rowValue = FloatStorage(count: capacity * columns)
        columnStart = Storage(count: columns + 1)
        columnRow = Storage(count: capacity * columns)
        columnValue = FloatStorage(count: capacity * columns)
    }

    public var nonZeros: Int { Int(rowStart.base[rows]) }

    /// The columns that the last `fill` took.
    public private(set) var filledColumns = 0..<0

    /// Takes `count` rows of `source` (the training set's non-zeros, listed once at start-up),
    /// row r being source row `sample(r)`: a copy of their entries, without reading the pixels.
    public func fill(from source: SparseRows, count: Int, sample: (Int) -> Int) {
        precondition(count <= capacity && source.columns == columns, "minibatch larger than its sparse buffers")
        rows = count
        filledColumns = source.kept
        var k = 0
        for r in 0..<count {
            rowStart.base[r] = Int32(k)
            let i = sample(r)
            let first = Int(source.rowStart.base[i]), n = Int(source.rowStart.base[i + 1]) - first
            (rowColumn.base + k).update(from: source.columnIndex.base + first, count: n)
            (rowValue.base + k).update(from: source.values.base + first, count: n)
            k += n
        }
        rowStart.base[count] = Int32(k)
        listByColumns()
    }

    /// The same entries by columns: count per column, then place them row by row, so rows ascend.
    private func listByColumns() {
        let k = nonZeros, start = columnStart.base
        start.update(repeating: 0, count: columns + 1)
        for i in 0..<k { start[Int(rowColumn.base[i]) + 1] += 1 }
        for c in 0..<columns { start[c + 1] += start[c] }
        for r in 0..<rows {
            for i in Int(rowStart.base[r])..<Int(rowStart.base[r + 1]) {
                let c = Int(rowColumn.base[i])
                let slot = Int(start[c])
                columnRow.base[slot] = Int32(r)
                columnValue.base[slot] = rowValue.base[i]
                start[c] += 1
            }
        }
        for c in stride(from: columns, to: 0, by: -1) { start[c] = start[c - 1] }   // back to each column's start
        start[0] = 0
    }

    /// Whether the last `fill` took every column in `wanted`.
    private func covers(_ wanted: Range<Int>) -> Bool {
        wanted.isEmpty || (filledColumns.lowerBound <= wanted.lowerBound && wanted.upperBound <= filledColumns.upperBound)
    }

    /// out = x[rows, columns] · w, where w (columns.count, n_out) holds the rows `columns` of W_0.
    /// Output columns in tiles of 128, each tile for every row before the next, so that the tile
    /// of w being read (up to 400 KB) stays in this core's L2.
    public func multiply(rows range: Range<Int>, columns: Range<Int>, by w: Matrix, into out: Matrix) {
        precondition(range.upperBound <= rows && covers(columns) && w.rows == columns.count
                     && out.rows == range.count && out.columns == w.columns, "shape mismatch in sparse product")
        let first = Int32(columns.lowerBound)
        let vectorEnd = Tile.vectorColumns(width: w.columns)
        var start = 0
        while start < vectorEnd {
            let tile = Tile(start: start, end: vectorEnd)
            for r in range {
                let (lo, hi) = entries(ofRow: r, in: columns)
                var acc = Accumulator128()
                for k in lo..<hi { acc.add(rowValue.base[k], times: w.row(Int(rowColumn.base[k] - first)), tile) }
                acc.store(to: out.row(r - range.lowerBound), tile)
            }
            start += 128
        }
        guard vectorEnd < w.columns else { return }
        for r in range {   // the last columns, fewer than 16
            let (lo, hi) = entries(ofRow: r, in: columns)
            let o = out.row(r - range.lowerBound)
            for c in vectorEnd..<w.columns { o[c] = 0 }
            for k in lo..<hi {
                let v = rowValue.base[k], wr = w.row(Int(rowColumn.base[k] - first))
                for c in vectorEnd..<w.columns { o[c] += v * wr[c] }
            }
        }
    }

    /// The positions in rowColumn / rowValue of row r's entries in `columns`.
    @inline(__always)
    private func entries(ofRow r: Int, in columns: Range<Int>) -> (Int, Int) {
        Self.entries(rowStart.base, rowColumn.base, r, in: columns)
    }

    /// The positions in columnRow / columnValue of column j's entries in `rows`.
    @inline(__always)
    private func entries(ofColumn j: Int, in rows: Range<Int>) -> (Int, Int) {
        Self.entries(columnStart.base, columnRow.base, j, in: rows)
    }

    /// The part of line i's entries (start[i] ..< start[i + 1]) whose index lies in `wanted`; the
    /// indices ascend within a line.
    @inline(__always)
    private static func entries(_ start: UnsafePointer<Int32>, _ index: UnsafePointer<Int32>, _ i: Int,
                                in wanted: Range<Int>) -> (Int, Int) {
        var lo = Int(start[i]), hi = Int(start[i + 1])
        while lo < hi && Int(index[lo]) < wanted.lowerBound { lo += 1 }
        while hi > lo && Int(index[hi - 1]) >= wanted.upperBound { hi -= 1 }
        return (lo, hi)
    }

    /// w = beta · w + alpha · x[rows, columns]ᵀ · delta, for delta (rows.count, n_out) and w
    /// (columns.count, n_out); beta 0 ignores w. Tiles of 128 output columns, each for every row of
    /// w before the next, so that delta's tile stays in this core's L2.
    public func addTransposedProduct(rows range: Range<Int>, columns: Range<Int>, delta: Matrix,
                                     into w: Matrix, alpha: Float, beta: Float) {
        precondition(range.upperBound <= rows && covers(columns) && w.rows == columns.count
                     && delta.rows == range.count && delta.columns == w.columns, "shape mismatch in sparse gradient")
        let first = Int32(range.lowerBound)
        let vectorEnd = Tile.vectorColumns(width: w.columns)
        for j in columns {
            let (lo, hi) = entries(ofColumn: j, in: range)
            let wr = w.row(j - columns.lowerBound)
            var start = 0
            while start < vectorEnd {
                let tile = Tile(start: start, end: vectorEnd)
                var acc = beta == 0 ? Accumulator128() : Accumulator128(beta, times: wr, tile)
                for k in lo..<hi { acc.add(alpha * columnValue.base[k], times: delta.row(Int(columnRow.base[k] - first)), tile) }
                acc.store(to: wr, tile)
                start += 128
            }
        }
        guard vectorEnd < w.columns else { return }
        for j in columns {   // the last columns, fewer than 16
            let (lo, hi) = entries(ofColumn: j, in: range)
            let wr = w.row(j - columns.lowerBound)
            for c in vectorEnd..<w.columns { wr[c] = beta == 0 ? 0 : beta * wr[c] }
            for k in lo..<hi {
                let v = alpha * columnValue.base[k], d = delta.row(Int(columnRow.base[k] - first))
                for c in vectorEnd..<w.columns { wr[c] += v * d[c] }
            }
        }
    }
}

/// The columns of one 128-wide tile of a row, as 8 vectors of 16: vector i starts at
/// min(start + 16·i, end − 16). A last, narrower tile thus computes some of its own columns twice,
/// from the same values in the same order, so both stores write the same bits (and every load
/// comes before any store). Tiles cover `vectorColumns(width)`; the rest (under 16) is scalar.
struct Tile {
    let start: Int
    let offsets: SIMD8<Int>

    init(start: Int, end: Int) {
        self.start = start
        offsets = pointwiseMin(SIMD8(0, 16, 32, 48, 64, 80, 96, 112) &+ start, SIMD8(repeating: end - 16))
    }

    /// The columns that whole vectors cover: all unless a last tile would be under 16 wide.
    static func vectorColumns(width: Int) -> Int {
        width < 16 ? 0 : (width % 128 >= 16 || width % 128 == 0 ? width : width - width % 128)
    }
}

extension SparseBatch {
    /// Rows `range` of the batch: the first layer's input where a GEMM would take those dense rows.
    public struct Rows {
        public let batch: SparseBatch
        public let range: Range<Int>

        /// out = these rows, restricted to `columns`, · w (the rows `columns` of W_0).
        public func multiply(columns: Range<Int>, by w: Matrix, into out: Matrix) {
            batch.multiply(rows: range, columns: columns, by: w, into: out)
        }

        /// w = beta · w + alpha · (these rows, restricted to `columns`)ᵀ · delta.
        public func addTransposedProduct(columns: Range<Int>, delta: Matrix, into w: Matrix, alpha: Float, beta: Float) {
            batch.addTransposedProduct(rows: range, columns: columns, delta: delta, into: w, alpha: alpha, beta: beta)
        }
    }

    public func rows(_ range: Range<Int>) -> Rows { Rows(batch: self, range: range) }
    public var all: Rows { rows(0..<rows) }

    /// Whether the kernels beat the GEMMs for inputs with this fraction of non-zeros: their work
    /// grows with the non-zeros, and they break even near 40 % (docs/performance.md).
    public static func pays(density: Double) -> Bool { density < Tuning.sparseTrainingDensity }

    /// The kernels' work per row of W_0 (per pixel) in a step of `batchSize` samples drawn from
    /// `images`: the product and the update each touch the row once per non-zero, and the update
    /// rewrites it once more.
    public static func rowCosts(_ images: Matrix, batchSize: Int) -> [Double] {
        var nonZeros = [Int](repeating: 0, count: images.columns)
        for r in 0..<images.rows {
            let row = images.row(r)
            for c in 0..<images.columns where row[c] != 0 { nonZeros[c] += 1 }
        }
        let perStep = Double(batchSize) / Double(max(1, images.rows))
        return nonZeros.map { 2 * Double($0) * perStep + 1 }
    }
}

/// --sparse-input: the first layer's product and gradient from the inputs' non-zeros (on), with
/// GEMMs (off), or whichever the training images' density favours (auto).
public enum SparseInputMode: String, CaseIterable, Sendable {
    case auto, on, off
}

/// 128 sums in 8 vector registers (named fields, so that they stay in registers), at a tile's columns.
private struct Accumulator128 {
    typealias V = SIMD16<Float>
    var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()

    @inline(__always) init() {}

    /// scale · p[tile]
    @inline(__always)
    init(_ scale: Float, times p: UnsafePointer<Float>, _ t: Tile) {
        let s = V(repeating: scale), o = t.offsets
        a0 = s * .load(p + o[0]); a1 = s * .load(p + o[1]); a2 = s * .load(p + o[2]); a3 = s * .load(p + o[3])
        a4 = s * .load(p + o[4]); a5 = s * .load(p + o[5]); a6 = s * .load(p + o[6]); a7 = s * .load(p + o[7])
    }

    /// self += x · p[tile]
    @inline(__always)
    mutating func add(_ x: Float, times p: UnsafePointer<Float>, _ t: Tile) {
        let o = t.offsets
        a0.addProduct(x, p + o[0]); a1.addProduct(x, p + o[1]); a2.addProduct(x, p + o[2]); a3.addProduct(x, p + o[3])
        a4.addProduct(x, p + o[4]); a5.addProduct(x, p + o[5]); a6.addProduct(x, p + o[6]); a7.addProduct(x, p + o[7])
    }

    @inline(__always)
    func store(to p: UnsafeMutablePointer<Float>, _ t: Tile) {
        let o = t.offsets
        a0.store(to: p + o[0]); a1.store(to: p + o[1]); a2.store(to: p + o[2]); a3.store(to: p + o[3])
        a4.store(to: p + o[4]); a5.store(to: p + o[5]); a6.store(to: p + o[6]); a7.store(to: p + o[7])
    }
}
