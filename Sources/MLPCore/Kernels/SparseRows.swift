// Inputs that are mostly zeros (81 % of MNIST's pixels) in compressed sparse rows: the training
// set's non-zeros, listed once (RowPairs and PixelPairs take each minibatch's from them), and a
// split's before it is paired for scoring (PairedRows.swift).

/// The non-zero entries of a matrix, row by row: row i holds values[rowStart[i] ..< rowStart[i + 1]]
/// in the ascending columns columnIndex[...] (the CSR layout). Each list has one spare entry at its
/// end, so that a kernel may read one past a row without a branch. With `columnPairs`, also the
/// same entries by pairs of columns (2q, 2q+1): the first layer's update takes them so.
public final class SparseRows {
    public let rows: Int
    public let columns: Int
    let rowStart: Storage<Int32>              // (rows + 1)
    let columnIndex: Storage<Int32>           // (non-zeros + 1)
    let values: FloatStorage                  // (non-zeros + 1)
    /// By pairs of columns: row i's pairs at pairStart[i] ..< pairStart[i + 1], q ascending, with
    /// the row's values at columns 2q and 2q+1 (0 where it has none).
    let pairStart: Storage<Int32>
    let pairIndex: Storage<Int32>
    let pairFirst: FloatStorage
    let pairSecond: FloatStorage

    public init(_ m: Matrix, columnPairs: Bool = false) {
        rows = m.rows
        columns = m.columns
        let nonZeros = m.nonZeroCount()
        rowStart = Storage<Int32>(count: m.rows + 1)
        columnIndex = Storage<Int32>(count: nonZeros + 1)
        values = FloatStorage(count: nonZeros + 1)
        var k = 0
        for r in 0..<m.rows {
            rowStart.base[r] = Int32(k)
            let row = m.row(r)
            for c in 0..<m.columns where row[c] != 0 {
                columnIndex.base[k] = Int32(c)
                values.base[k] = row[c]
                k += 1
            }
        }
        rowStart.base[m.rows] = Int32(k)
        var pairs = 0
        if columnPairs {
            for r in 0..<m.rows {
                let row = m.row(r)
                for q in 0..<(m.columns + 1) / 2 where row[2 * q] != 0 || (2 * q + 1 < m.columns && row[2 * q + 1] != 0) { pairs += 1 }
            }
        }
        pairStart = Storage<Int32>(count: columnPairs ? m.rows + 1 : 0)
        pairIndex = Storage<Int32>(count: pairs)
        pairFirst = FloatStorage(count: pairs)
        pairSecond = FloatStorage(count: pairs)
        guard columnPairs else { return }
        k = 0
        for r in 0..<m.rows {
            pairStart.base[r] = Int32(k)
            let row = m.row(r)
            for q in 0..<(m.columns + 1) / 2 {
                let a = row[2 * q], b = 2 * q + 1 < m.columns ? row[2 * q + 1] : 0
                guard a != 0 || b != 0 else { continue }
                pairIndex.base[k] = Int32(q)
                pairFirst.base[k] = a
                pairSecond.base[k] = b
                k += 1
            }
        }
        pairStart.base[m.rows] = Int32(k)
    }

    /// Whether the column-pair form was made.
    var hasColumnPairs: Bool { pairStart.count > 0 }

    public var nonZeros: Int { Int(rowStart.base[rows]) }

    /// How many rows have a non-zero in each column.
    public var nonZerosPerColumn: [Int] {
        var counts = [Int](repeating: 0, count: columns)
        for k in 0..<nonZeros { counts[Int(columnIndex.base[k])] += 1 }
        return counts
    }
    public var density: Double { rows * columns == 0 ? 1 : Double(nonZeros) / Double(rows * columns) }

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
    /// The entries that are not zero.
    public func nonZeroCount() -> Int {
        var count = 0
        for r in 0..<rows { let row = self.row(r); for c in 0..<columns { count += row[c] != 0 ? 1 : 0 } }
        return count
    }

    /// The fraction of entries that are not zero.
    public var nonZeroFraction: Double { count == 0 ? 0 : Double(nonZeroCount()) / Double(count) }
}
