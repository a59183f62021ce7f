// The register blocks of the training step's kernels: 128 output columns as 8 vectors of 16, for
// one row or two. Every sum a kernel forms is one chain of fused multiply-adds per output element,
// in the order its terms are listed, so an element's value depends only on its own row's terms:
// never on which rows share a call, a pair or a rank (the data-parallel ways' bit-identity rests on it).

/// Where the 8 vectors of 16 columns of one 128-wide tile of a row start. Two tilings:
///  - a kernel that writes what it computes from inputs it does not write (a product) covers a row
///    at least 128 wide with tiles at 0, 128, 256, ..., the last moved left to end at the row's end:
///    it computes some columns of the tile before it again, from the same values in the same order,
///    so both stores write the same bits;
///  - a kernel that adds into its output (an update) must never take a column twice: its tiles lie
///    at 0, 128, ..., and the rest, when at least 16 wide, is one narrow tile whose vectors start at
///    min(start + 16·i, end − 16), all loaded before any is stored; fewer columns are left scalar.
/// A row 16 to 127 wide is one narrow tile in both; a row under 16 wide is all scalar.
protocol TilePositions {
    func at(_ i: Int) -> Int
}

/// A tile whose vectors lie 16 apart from `start`.
struct WholeTile: TilePositions {
    let start: Int
    @inline(__always) func at(_ i: Int) -> Int { start + 16 * i }
}

/// A tile from `start` to `end` (16 to 127 columns), its last vectors overlapping one another.
struct NarrowTile: TilePositions {
    let offsets: SIMD8<Int>
    @inline(__always) func at(_ i: Int) -> Int { offsets[i] }

    init(start: Int, end: Int) {
        offsets = pointwiseMin(SIMD8(0, 16, 32, 48, 64, 80, 96, 112) &+ start, SIMD8(repeating: end - 16))
    }
}

enum Tile {
    /// The columns a product's tiles cover: all of a row at least 16 wide.
    static func productColumns(width: Int) -> Int { width < 16 ? 0 : width }

    /// Calls `whole` with each tile of a product's row `width` wide, in order, or `narrow` with its
    /// only tile.
    @inline(__always)
    static func forEachOfProduct(width: Int, whole: (WholeTile) -> Void, narrow: (NarrowTile) -> Void) {
        guard width >= 128 else {
            if width >= 16 { narrow(NarrowTile(start: 0, end: width)) }
            return
        }
        var start = 0
        while start < width {
            whole(WholeTile(start: min(start, width - 128)))
            start += 128
        }
    }

    /// The columns an update's tiles cover; the rest (under 16) is scalar.
    static func updateColumns(width: Int) -> Int {
        let rest = width % 128
        return rest >= 16 || rest == 0 ? width : width - rest
    }

    /// Calls `whole` with each whole tile of an update's row `width` wide, then `narrow` with the
    /// tile of the rest if it is at least 16 wide: no column in two tiles.
    @inline(__always)
    static func forEachOfUpdate(width: Int, whole: (WholeTile) -> Void, narrow: (NarrowTile) -> Void) {
        var start = 0
        while start + 128 <= width {
            whole(WholeTile(start: start))
            start += 128
        }
        if width - start >= 16 { narrow(NarrowTile(start: start, end: width)) }
    }
}

typealias Vector16 = SIMD16<Float>

extension SIMD16<Float> {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }

    @inline(__always)
    func store(to p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }

    /// self += x · p[0 ..< 16]
    @inline(__always)
    mutating func addProduct(_ x: Float, _ p: UnsafePointer<Float>) { self = addingProduct(Self(repeating: x), .load(p)) }
}

/// 128 sums in 8 vector registers (named fields, so that they stay in registers), at a tile's columns.
struct RowAccumulator {
    var a0 = Vector16(), a1 = Vector16(), a2 = Vector16(), a3 = Vector16()
    var a4 = Vector16(), a5 = Vector16(), a6 = Vector16(), a7 = Vector16()

    @inline(__always) init() {}

    /// Starts from p[tile] (an update adds to the weights' row).
    @inline(__always)
    init<T: TilePositions>(_ p: UnsafePointer<Float>, _ t: T) {
        a0 = .load(p + t.at(0)); a1 = .load(p + t.at(1)); a2 = .load(p + t.at(2)); a3 = .load(p + t.at(3))
        a4 = .load(p + t.at(4)); a5 = .load(p + t.at(5)); a6 = .load(p + t.at(6)); a7 = .load(p + t.at(7))
    }

    /// p[tile] = scale · self
    @inline(__always)
    func store<T: TilePositions>(to p: UnsafeMutablePointer<Float>, scale: Float, _ t: T) {
        let s = Vector16(repeating: scale)
        (s * a0).store(to: p + t.at(0)); (s * a1).store(to: p + t.at(1)); (s * a2).store(to: p + t.at(2)); (s * a3).store(to: p + t.at(3))
        (s * a4).store(to: p + t.at(4)); (s * a5).store(to: p + t.at(5)); (s * a6).store(to: p + t.at(6)); (s * a7).store(to: p + t.at(7))
    }

    /// p[tile] = self
    @inline(__always)
    func store<T: TilePositions>(to p: UnsafeMutablePointer<Float>, _ t: T) {
        a0.store(to: p + t.at(0)); a1.store(to: p + t.at(1)); a2.store(to: p + t.at(2)); a3.store(to: p + t.at(3))
        a4.store(to: p + t.at(4)); a5.store(to: p + t.at(5)); a6.store(to: p + t.at(6)); a7.store(to: p + t.at(7))
    }
}

/// Two rows' 128 sums, fed from one load of each shared row of the other factor: (x, y) · p[tile]
/// adds x · p to the first and y · p to the second. A zero coefficient adds an exact zero, so a
/// row's sums are those it would have alone.
struct PairAccumulator {
    var first = RowAccumulator(), second = RowAccumulator()

    @inline(__always) init() {}

    @inline(__always)
    init<T: TilePositions>(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ t: T) {
        first = RowAccumulator(p, t)
        second = RowAccumulator(q, t)
    }

    @inline(__always)
    mutating func add<T: TilePositions>(_ x: Float, _ y: Float, times p: UnsafePointer<Float>, _ t: T) {
        let u = Vector16(repeating: x), v = Vector16(repeating: y)
        var w = Vector16.load(p + t.at(0)); first.a0 = first.a0.addingProduct(u, w); second.a0 = second.a0.addingProduct(v, w)
        w = .load(p + t.at(1)); first.a1 = first.a1.addingProduct(u, w); second.a1 = second.a1.addingProduct(v, w)
        w = .load(p + t.at(2)); first.a2 = first.a2.addingProduct(u, w); second.a2 = second.a2.addingProduct(v, w)
        w = .load(p + t.at(3)); first.a3 = first.a3.addingProduct(u, w); second.a3 = second.a3.addingProduct(v, w)
        w = .load(p + t.at(4)); first.a4 = first.a4.addingProduct(u, w); second.a4 = second.a4.addingProduct(v, w)
        w = .load(p + t.at(5)); first.a5 = first.a5.addingProduct(u, w); second.a5 = second.a5.addingProduct(v, w)
        w = .load(p + t.at(6)); first.a6 = first.a6.addingProduct(u, w); second.a6 = second.a6.addingProduct(v, w)
        w = .load(p + t.at(7)); first.a7 = first.a7.addingProduct(u, w); second.a7 = second.a7.addingProduct(v, w)
    }
}
