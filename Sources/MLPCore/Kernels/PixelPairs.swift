// The first layer's weight update from a minibatch's non-zero pixels: W[j, :] += c · Σ_r x_rj · δ_r
// for every pixel j that some row of the batch has, each such row of W read and written once, two
// rows of W at a time (neighbouring pixels are mostly non-zero together, so one load of δ_r serves
// both). Rows of W whose pixel no sample has are not touched at all: their decay is kept lazily as
// a scale (SGD.swift), so the update costs what the batch's non-zeros cost.

/// A minibatch's non-zeros grouped by pairs of pixels (j, j+1) of one range of pixels, each pair's
/// rows ascending, each row listed once with its values at both pixels (0 where it has only one).
/// Each pair has room for every row of the batch, so one pass over the rows fills the lists.
/// Buffers are made once for `capacity` rows and refilled every step.
public final class PixelPairs {
    public let capacity: Int
    public let pixels: Range<Int>              // the rows of W this update touches; starts even
    private let pairCount: Int
    private let length: Storage<Int32>         // (pairs) rows listed for each pair
    private let row: Storage<Int32>            // (pairs, capacity)
    private let firstValue: FloatStorage       // (pairs, capacity): x_rj
    private let secondValue: FloatStorage      // (pairs, capacity): x_r(j+1)

    public init(capacity: Int, pixels: Range<Int>) {
        precondition(pixels.lowerBound % 2 == 0, "pixel pairs start on an even pixel")
        self.capacity = capacity
        self.pixels = pixels
        pairCount = (pixels.count + 1) / 2
        length = Storage(count: max(pairCount, 1))
        row = Storage(count: capacity * pairCount)
        firstValue = FloatStorage(count: capacity * pairCount)
        secondValue = FloatStorage(count: capacity * pairCount)
    }

    /// Listed (row, pixel pair) terms.
    public var entries: Int { (0..<pairCount).reduce(0) { $0 + Int(length.base[$1]) } }

    /// Takes `count` rows, row r being `source` row `sample(r)`, in order, from the source's lists
    /// by pairs of columns: each pair q's list gets (r, x_r(2q), x_r(2q+1)) at its end.
    public func fill(from source: SparseRows, count: Int, sample: (Int) -> Int) {
        precondition(count <= capacity && pixels.upperBound <= source.columns && source.hasColumnPairs,
                     "rows beyond the pixel pairs' buffers")
        let length = self.length.base, row = self.row.base, first = firstValue.base, second = secondValue.base
        length.update(repeating: 0, count: pairCount)
        let (pairStart, pairIndex, pairFirst, pairSecond) = (source.pairStart.base, source.pairIndex.base, source.pairFirst.base, source.pairSecond.base)
        let firstPair = Int32(pixels.lowerBound / 2), endPair = Int32(pixels.lowerBound / 2 + pairCount), capacity = self.capacity
        for r in 0..<count {
            let i = sample(r)
            var k = Int(pairStart[i])
            let kEnd = Int(pairStart[i + 1])
            while k < kEnd && pairIndex[k] < firstPair { k += 1 }
            while k < kEnd && pairIndex[k] < endPair {
                let q = Int(pairIndex[k] - firstPair), n = Int(length[q]), slot = q * capacity + n
                row[slot] = Int32(r)
                first[slot] = pairFirst[k]
                second[slot] = pairSecond[k]
                length[q] = Int32(n + 1)
                k += 1
            }
        }
    }

    /// w[j, columns] += scale · Σ_r x_rj · delta[r, :] for every listed pixel j, where `delta`
    /// (rows, columns.count) holds the batch's rows in the order they were filled and `w` is the
    /// whole weight (all pixels as rows). Each element's terms are added in row order.
    public func addProducts(delta: Matrix, scale: Float, into w: Matrix, columns: Range<Int>) {
        precondition(w.rows >= pixels.upperBound && columns.upperBound <= w.columns && delta.columns == columns.count,
                     "shape mismatch in the first layer's update")
        let target = w.columns(columns.lowerBound, count: columns.count)
        let width = columns.count, first = pixels.lowerBound, end = pixels.upperBound
        let tail = Tile.updateColumns(width: width)
        for q in 0..<pairCount {
            let n = Int(length.base[q])
            guard n > 0 else { continue }
            let listed = q * capacity, j = first + 2 * q, hasSecond = j + 1 < end
            let a = target.row(j), b = hasSecond ? target.row(j + 1) : a
            @inline(__always) func tile<T: TilePositions>(_ tile: T) {
                var acc = PairAccumulator(a, b, tile)
                for k in listed..<listed + n {
                    acc.add(scale * firstValue.base[k], scale * secondValue.base[k], times: delta.row(Int(row.base[k])), tile)
                }
                acc.first.store(to: a, tile)
                if hasSecond { acc.second.store(to: b, tile) }
            }
            Tile.forEachOfUpdate(width: width, whole: tile, narrow: tile)
            for c in tail..<width {   // the last columns, fewer than 16: the same chain, scalar
                var s = a[c], t = hasSecond ? b[c] : 0
                for k in listed..<listed + n {
                    let d = delta.row(Int(row.base[k]))[c]
                    s = s.addingProduct(scale * firstValue.base[k], d)
                    t = t.addingProduct(scale * secondValue.base[k], d)
                }
                a[c] = s
                if hasSecond { b[c] = t }
            }
        }
    }
}
