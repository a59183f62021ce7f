// Rows times a weight matrix, two rows at a time: out = scale · (a · W[:, columns]). The first layer
// takes its rows without their zeros (RowPairs), the deeper layers take dense rows (`denseProduct`).
// Each pair's terms are listed once with both rows' values, so a row of W is loaded once for two
// rows: one row at a time the product was bound by those loads from L2. The pairing never changes
// a row's sums (Tile.swift), so any division of the rows among ranks gives the same bits.

/// Some rows of a sparse input (the training set's non-zeros), merged in pairs of neighbours: each
/// pixel that either row of a pair has is listed once, with both values (0 for the row without it);
/// a pair lists about 1.5 times one image's pixels. (Pairing similar images instead, greedily within
/// windows of 16 rows, saved 10 % of the product and cost as much in the pairing.) Buffers are made
/// once for `capacity` rows and refilled every step.
public final class RowPairs {
    public let capacity: Int
    public let columns: Int
    public private(set) var rows = 0
    private let pairStart: Storage<Int32>      // (pairs + 1) into the lists below
    private let pixel: Storage<Int32>          // ascending within a pair
    private let firstValue: FloatStorage
    private let secondValue: FloatStorage      // all 0 for a last pair of one

    public init(capacity: Int, columns: Int) {
        self.capacity = capacity
        self.columns = columns
        let pairs = (capacity + 1) / 2
        pairStart = Storage(count: pairs + 1)
        pixel = Storage(count: capacity * columns)
        firstValue = FloatStorage(count: capacity * columns)
        secondValue = FloatStorage(count: capacity * columns)
    }

    public var pairs: Int { (rows + 1) / 2 }
    /// Listed terms (a pixel of a pair counts once).
    public var entries: Int { Int(pairStart.base[pairs]) }

    /// Takes `count` rows, row r being `source` row `sample(r)`, merging the sorted pixels of each
    /// pair of neighbours (without branches on the data: a merge's comparisons are unpredictable).
    public func fill(from source: SparseRows, count: Int, sample: (Int) -> Int) {
        precondition(count <= capacity && source.columns == columns, "rows beyond the pairs' buffers")
        rows = count
        let (rowStart, columnIndex, values) = (source.rowStart.base, source.columnIndex.base, source.values.base)
        let (pixel, first, second) = (self.pixel.base, firstValue.base, secondValue.base)
        var k = 0
        for p in 0..<pairs {
            pairStart.base[p] = Int32(k)
            let a = sample(2 * p), b = 2 * p + 1 < count ? sample(2 * p + 1) : -1
            var i = Int(rowStart[a]), j = b >= 0 ? Int(rowStart[b]) : 0
            let iEnd = Int(rowStart[a + 1]), jEnd = b >= 0 ? Int(rowStart[b + 1]) : 0
            while i < iEnd || j < jEnd {
                // Reading one past a row is safe (SparseRows keeps a spare entry) and unused.
                let ci = i < iEnd ? columnIndex[i] : Int32.max, cj = j < jEnd ? columnIndex[j] : Int32.max
                let takeI = ci <= cj, takeJ = cj <= ci
                pixel[k] = min(ci, cj)
                first[k] = takeI ? values[i] : 0
                second[k] = takeJ ? values[j] : 0
                i &+= takeI ? 1 : 0
                j &+= takeJ ? 1 : 0
                k += 1
            }
        }
        pairStart.base[pairs] = Int32(k)
    }

    /// out = scale · (these rows · w[:, columns]), out (rows, columns.count), w (self.columns, n).
    public func multiply(by w: Matrix, columns: Range<Int>, scale: Float, into out: Matrix) {
        precondition(w.rows == self.columns && columns.upperBound <= w.columns && out.rows == rows
                     && out.columns == columns.count, "shape mismatch in the first layer's product")
        RowProduct.pairs(count: pairs, w: w.columns(columns.lowerBound, count: columns.count), scale: scale, out: out) {
            (Int(pairStart.base[$0]), Int(pairStart.base[$0 + 1]), 2 * $0, 2 * $0 + 1 < rows ? 2 * $0 + 1 : -1)
        } term: { _, k in
            (Int(pixel.base[k]), firstValue.base[k], secondValue.base[k])
        }
    }
}

/// out = a · w for dense rows `a` (n, k) and w (k, m), out (n, m), two rows at a time, every term
/// taken in order of k. The deeper layers' forward products and the backward products through Wᵀ.
func denseProduct(_ a: Matrix, _ w: Matrix, into out: Matrix) {
    precondition(a.columns == w.rows && out.rows == a.rows && out.columns == w.columns, "shape mismatch in a row product")
    let n = a.rows, k = a.columns
    RowProduct.pairs(count: (n + 1) / 2, w: w, scale: 1, out: out) { p in
        (0, k, 2 * p, 2 * p + 1 < n ? 2 * p + 1 : -1)
    } term: { p, i in
        (i, a.row(2 * p)[i], 2 * p + 1 < n ? a.row(2 * p + 1)[i] : 0)
    }
}

enum RowProduct {
    /// The shared loop: for each pair p, `pair(p)` = (first term, end of terms, its two rows of
    /// `out`, the second -1 for a pair of one), the terms `term(p, k)` each `(row of w, first
    /// value, second value)`, summed per tile of 128 columns in registers; a scalar tail for the
    /// last columns.
    @inline(__always)
    static func pairs(count: Int, w: Matrix, scale: Float, out: Matrix,
                      pair: (Int) -> (Int, Int, Int, Int), term: (Int, Int) -> (Int, Float, Float)) {
        let width = w.columns
        @inline(__always) func tile<T: TilePositions>(_ tile: T) {
            for p in 0..<count {
                let (lo, hi, a, b) = pair(p)
                var acc = PairAccumulator()
                for k in lo..<hi {
                    let (i, x, y) = term(p, k)
                    acc.add(x, y, times: w.row(i), tile)
                }
                acc.first.store(to: out.row(a), scale: scale, tile)
                if b >= 0 { acc.second.store(to: out.row(b), scale: scale, tile) }
            }
        }
        Tile.forEachOfProduct(width: width, whole: tile, narrow: tile)
        let tail = Tile.productColumns(width: width)
        guard tail < width else { return }
        for p in 0..<count {   // the last columns, fewer than 16: the same chain of fused multiply-adds
            let (lo, hi, a, b) = pair(p)
            let first = out.row(a), second = b >= 0 ? out.row(b) : nil
            for c in tail..<width {
                var s: Float = 0, t: Float = 0
                for k in lo..<hi {
                    let (i, x, y) = term(p, k)
                    let v = w.row(i)[c]
                    s = s.addingProduct(x, v)
                    t = t.addingProduct(y, v)
                }
                first[c] = scale * s
                second?[c] = scale * t
            }
        }
    }
}
