// Inputs that are mostly zeros (81 % of MNIST's pixels) in compressed sparse rows, and their product
// with the first layer's weights that skips the zeros, for scoring a whole split: a fifth of a dense
// GEMM's arithmetic, 2.5× less time here. The training step's kernels are in SparseBatch.swift.

/// The non-zero entries of a matrix, row by row: row i holds values[rowStart[i] ..< rowStart[i + 1]]
/// in the ascending columns columnIndex[...] (the CSR layout). With `kept`, only those columns.
public final class SparseRows {
    public let rows: Int
    public let columns: Int
    public let kept: Range<Int>               // the columns whose non-zeros are listed
    let rowStart: Storage<Int32>              // (rows + 1)
    let columnIndex: Storage<Int32>           // (non-zeros)
    let values: FloatStorage                  // (non-zeros)

    public init(_ m: Matrix, columns kept: Range<Int>? = nil) {
        let kept = kept ?? 0..<m.columns
        precondition(kept.upperBound <= m.columns, "columns outside the matrix")
        rows = m.rows
        columns = m.columns
        self.kept = kept
        let nonZeros = m.nonZeroCount(columns: kept)
        rowStart = Storage<Int32>(count: m.rows + 1)
        columnIndex = Storage<Int32>(count: nonZeros)
        values = FloatStorage(count: nonZeros)
        var k = 0
        for r in 0..<m.rows {
            rowStart.base[r] = Int32(k)
            for c in kept where m.row(r)[c] != 0 {
                columnIndex.base[k] = Int32(c)
                values.base[k] = m.row(r)[c]
                k += 1
            }
        }
        rowStart.base[m.rows] = Int32(k)
    }

    public var nonZeros: Int { values.count }
    public var density: Double { rows * kept.count == 0 ? 1 : Double(nonZeros) / Double(rows * kept.count) }

    /// Whether `multiply` beats a dense GEMM for an output `outputs` wide: the kernel does
    /// density × (outputs rounded up to its panel width) of the dense work at about 40 % of the GEMM's
    /// speed (measured at MNIST's density: 32 ms against 79 ms for 10000×784×500).
    public func beatsDense(outputs: Int) -> Bool {
        let padded = (outputs + PanelWeights.width - 1) / PanelWeights.width * PanelWeights.width
        return density * Double(padded) / Double(max(outputs, 1)) < 0.4
    }

    /// out = rows `range` of this matrix · w, for w of `columns` rows: per non-zero x, x times one
    /// panel row added into 16 SIMD registers per output row, so the output row is written once.
    public func multiply(rows range: Range<Int>, by w: PanelWeights, into out: Matrix) {
        precondition(w.inputs == columns && kept == 0..<columns && out.columns == w.outputs && out.rows == range.count,
                     "shape mismatch in sparse product")
        for panel in 0..<w.panels {
            let first = panel * PanelWeights.width
            let width = min(PanelWeights.width, w.outputs - first)
            let weights = UnsafePointer(w.storage.base + panel * w.inputs * PanelWeights.width)
            for r in range {
                var acc = Accumulator256()
                for k in Int(rowStart.base[r])..<Int(rowStart.base[r + 1]) {
                    acc.add(values.base[k], times: weights + Int(columnIndex.base[k]) * PanelWeights.width)
                }
                acc.store(to: out.row(r - range.lowerBound) + first, count: width)
            }
        }
    }
}

/// A weight matrix (inputs, outputs) rearranged into panels of `width` columns, each panel's rows
/// contiguous and zero-padded on the right, so that a row of a panel is four cache lines in a row.
public final class PanelWeights {
    public static let width = 256
    public let inputs: Int
    public let outputs: Int
    public var panels: Int { (outputs + Self.width - 1) / Self.width }
    let storage: FloatStorage  // (panels, inputs, width)

    public init(inputs: Int, outputs: Int) {
        self.inputs = inputs
        self.outputs = outputs
        storage = FloatStorage(count: (outputs + Self.width - 1) / Self.width * inputs * Self.width)
    }

    /// Copies `w` (inputs, outputs) in; the padding stays zero.
    public func pack(_ w: Matrix) {
        precondition(w.rows == inputs && w.columns == outputs, "shape mismatch packing weights")
        for panel in 0..<panels {
            let first = panel * Self.width
            let width = min(Self.width, outputs - first)
            for i in 0..<inputs {
                (storage.base + (panel * inputs + i) * Self.width).update(from: w.row(i) + first, count: width)
            }
        }
    }
}

/// 256 output sums kept in 16 vector registers while a row's non-zeros are added in.
/// (Named fields, not an array: an array would live in memory and be reloaded every step.)
private struct Accumulator256 {
    typealias V = SIMD16<Float>
    var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
    var a8 = V(), a9 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V(), a14 = V(), a15 = V()

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V { .load(p + 16 * i) }

    /// self += x · w[0 ..< 256]
    @inline(__always)
    mutating func add(_ x: Float, times w: UnsafePointer<Float>) {
        let v = V(repeating: x)
        a0 = a0.addingProduct(v, Self.load(w, 0)); a1 = a1.addingProduct(v, Self.load(w, 1))
        a2 = a2.addingProduct(v, Self.load(w, 2)); a3 = a3.addingProduct(v, Self.load(w, 3))
        a4 = a4.addingProduct(v, Self.load(w, 4)); a5 = a5.addingProduct(v, Self.load(w, 5))
        a6 = a6.addingProduct(v, Self.load(w, 6)); a7 = a7.addingProduct(v, Self.load(w, 7))
        a8 = a8.addingProduct(v, Self.load(w, 8)); a9 = a9.addingProduct(v, Self.load(w, 9))
        a10 = a10.addingProduct(v, Self.load(w, 10)); a11 = a11.addingProduct(v, Self.load(w, 11))
        a12 = a12.addingProduct(v, Self.load(w, 12)); a13 = a13.addingProduct(v, Self.load(w, 13))
        a14 = a14.addingProduct(v, Self.load(w, 14)); a15 = a15.addingProduct(v, Self.load(w, 15))
    }

    /// Writes the first `count` sums to `out` (the fields lie in order, 64 bytes apart).
    @inline(__always)
    func store(to out: UnsafeMutablePointer<Float>, count: Int) {
        withUnsafeBytes(of: self) { out.update(from: $0.assumingMemoryBound(to: Float.self).baseAddress!, count: count) }
    }
}

extension Matrix {
    /// The entries in `columns` (default all) that are not zero.
    public func nonZeroCount(columns kept: Range<Int>? = nil) -> Int {
        var count = 0
        for r in 0..<rows { let row = self.row(r); for c in kept ?? 0..<columns { count += row[c] != 0 ? 1 : 0 } }
        return count
    }

    /// The fraction of entries that are not zero.
    public var nonZeroFraction: Double { count == 0 ? 0 : Double(nonZeroCount()) / Double(count) }
}

extension SIMD16<Float> {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Self { UnsafeRawPointer(p).loadUnaligned(as: Self.self) }

    @inline(__always)
    func store(to p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: self, as: Self.self) }

    /// self += x · p[0 ..< 16]
    @inline(__always)
    mutating func addProduct(_ x: Float, _ p: UnsafePointer<Float>) { self = addingProduct(Self(repeating: x), .load(p)) }
}
