// Inputs that are mostly zeros (81 % of MNIST's pixels) in compressed sparse rows: the training
// set's non-zeros, listed once (SparseBatch.swift copies each minibatch's from them), and a split's
// before it is paired for scoring (PairedRows.swift).

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

    /// Whether scoring from these non-zeros (PairedRows) beats a dense GEMM for an output `outputs`
    /// wide: the kernel does density × (outputs rounded up to its panel width) of the dense work,
    /// at about 40 % of the GEMM's speed one image at a time (docs/performance.md); pairs are
    /// faster still, so the rule errs towards the GEMM.
    public func beatsDense(outputs: Int) -> Bool {
        let padded = (outputs + PanelWeights.width - 1) / PanelWeights.width * PanelWeights.width
        return density * Double(padded) / Double(max(outputs, 1)) < Tuning.sparseScoringCost
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
