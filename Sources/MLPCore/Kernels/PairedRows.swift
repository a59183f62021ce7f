// Scoring a fixed split (validation, test) without its zeros, two similar images at a time. Each
// pixel that either image of a pair has is listed once with both values (0 for the image without
// it), so the kernel loads that pixel's row of W_0 once for two images: the single-image kernel was
// bound by loading rows from L2, and pairs chosen for overlap list 1.2× one image's pixels, not 2×.

/// The non-zeros of a split's images, merged in pairs. Images are paired within windows of
/// `window` consecutive rows (the evaluator's chunks are whole windows), greedily by the smallest
/// union of their non-zero pixels; a window's odd image out is a pair of one.
public final class PairedRows {
    public static let window = 256
    public let rows: Int
    public let columns: Int
    let members: Storage<Int32>       // (pairs, 2): rows of the first and second image (-1: none)
    let entryStart: Storage<Int32>    // (pairs + 1)
    let pixel: Storage<Int32>         // (entries) ascending within a pair
    let firstValue: FloatStorage      // (entries)
    let secondValue: FloatStorage     // (entries)
    let windowStart: [Int]            // (windows + 1): each window's first pair
    public var entries: Int { pixel.count }

    public init(_ sparse: SparseRows) {
        rows = sparse.rows
        columns = sparse.columns
        let (rows, window) = (sparse.rows, PairedRows.window)
        let pairs = (0..<(rows + window - 1) / window).map { w in
            PairedRows.pairs(sparse, w * window ..< min(rows, (w + 1) * window))
        }
        windowStart = pairs.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let all = pairs.flatMap { $0 }
        members = Storage<Int32>(count: 2 * all.count)
        entryStart = Storage<Int32>(count: all.count + 1)
        var merged: (pixel: [Int32], first: [Float], second: [Float]) = ([], [], [])
        for (p, (a, b)) in all.enumerated() {
            members.base[2 * p] = Int32(a)
            members.base[2 * p + 1] = Int32(b ?? -1)
            entryStart.base[p] = Int32(merged.pixel.count)
            // Merge the two ascending pixel lists.
            var i = Int(sparse.rowStart.base[a]), j = b.map { Int(sparse.rowStart.base[$0]) } ?? 0
            let iEnd = Int(sparse.rowStart.base[a + 1]), jEnd = b.map { Int(sparse.rowStart.base[$0 + 1]) } ?? 0
            while i < iEnd || j < jEnd {
                let ci = i < iEnd ? sparse.columnIndex.base[i] : Int32.max
                let cj = j < jEnd ? sparse.columnIndex.base[j] : Int32.max
                merged.pixel.append(min(ci, cj))
                merged.first.append(ci <= cj ? sparse.values.base[i] : 0)
                merged.second.append(cj <= ci ? sparse.values.base[j] : 0)
                if ci <= cj { i += 1 }
                if cj <= ci { j += 1 }
            }
        }
        entryStart.base[all.count] = Int32(merged.pixel.count)
        pixel = Storage<Int32>(count: merged.pixel.count)
        firstValue = FloatStorage(count: merged.pixel.count)
        secondValue = FloatStorage(count: merged.pixel.count)
        pixel.base.update(from: merged.pixel, count: merged.pixel.count)
        firstValue.base.update(from: merged.first, count: merged.first.count)
        secondValue.base.update(from: merged.second, count: merged.second.count)
    }

    /// The pairs of one window: every candidate pair by the size of the union of its pixels, the
    /// smallest first, taken while both images are free.
    private static func pairs(_ sparse: SparseRows, _ window: Range<Int>) -> [(Int, Int?)] {
        let words = (sparse.columns + 63) / 64
        var bits = [UInt64](repeating: 0, count: window.count * words)
        var counts = [Int](repeating: 0, count: window.count)
        for (i, r) in window.enumerated() {
            for k in Int(sparse.rowStart.base[r])..<Int(sparse.rowStart.base[r + 1]) {
                let c = Int(sparse.columnIndex.base[k])
                bits[i * words + c / 64] |= 1 << UInt64(c % 64)
            }
            counts[i] = Int(sparse.rowStart.base[r + 1] - sparse.rowStart.base[r])
        }
        // Each candidate as one sortable number: union size, then i, then j (16 bits each).
        var candidates: [UInt64] = []
        candidates.reserveCapacity(window.count * (window.count - 1) / 2)
        for i in 0..<window.count {
            for j in i + 1 ..< window.count {
                var shared = 0
                for w in 0..<words { shared += (bits[i * words + w] & bits[j * words + w]).nonzeroBitCount }
                candidates.append(UInt64(counts[i] + counts[j] - shared) << 32 | UInt64(i) << 16 | UInt64(j))
            }
        }
        candidates.sort()
        var free = [Bool](repeating: true, count: window.count)
        var result: [(Int, Int?)] = []
        for c in candidates {
            let (i, j) = (Int(c >> 16 & 0xFFFF), Int(c & 0xFFFF))
            guard free[i] && free[j] else { continue }
            free[i] = false
            free[j] = false
            result.append((window.lowerBound + i, window.lowerBound + j))
        }
        if let odd = free.firstIndex(of: true) { result.append((window.lowerBound + odd, nil)) }
        return result
    }

    /// out = rows `range` · w, for `range` made of whole windows (out's row r − range.lowerBound
    /// holds image r). Per pair and panel, 2 × 8 SIMD16 sums, each pixel's panel row loaded once.
    public func multiply(rows range: Range<Int>, by w: PanelWeights, into out: Matrix) {
        precondition(range.lowerBound % Self.window == 0 && (range.upperBound % Self.window == 0 || range.upperBound == rows)
                     && range.upperBound <= rows && w.inputs == columns && out.columns == w.outputs && out.rows == range.count,
                     "paired product over whole windows only")
        let pairs = windowStart[range.lowerBound / Self.window] ..< windowStart[(range.upperBound + Self.window - 1) / Self.window]
        for panel in 0..<w.panels {
            let first = panel * PanelWeights.width
            let width = min(PanelWeights.width, w.outputs - first)
            let weights = UnsafePointer(w.storage.base + panel * w.inputs * PanelWeights.width)
            for p in pairs {
                var acc = ScoringPairAccumulator()
                for k in Int(entryStart.base[p])..<Int(entryStart.base[p + 1]) {
                    acc.add(firstValue.base[k], secondValue.base[k], times: weights + Int(pixel.base[k]) * PanelWeights.width)
                }
                acc.store(0, to: out.row(Int(members.base[2 * p]) - range.lowerBound) + first, count: width)
                let second = Int(members.base[2 * p + 1])
                if second >= 0 { acc.store(1, to: out.row(second - range.lowerBound) + first, count: width) }
            }
        }
    }
}

/// A weight matrix (inputs, outputs) rearranged into panels of `width` columns, each panel's rows
/// contiguous and zero-padded on the right, so that a row of a panel is four cache lines in a row.
public final class PanelWeights {
    public static let width = 128
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

/// Two images' 128 output sums, in 16 vector registers, fed from one load of each panel row.
private struct ScoringPairAccumulator {
    typealias V = SIMD16<Float>
    var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V()
    var b0 = V(), b1 = V(), b2 = V(), b3 = V(), b4 = V(), b5 = V(), b6 = V(), b7 = V()

    /// self.a += x · w[0 ..< 128], self.b += y · w[0 ..< 128]
    @inline(__always)
    mutating func add(_ x: Float, _ y: Float, times w: UnsafePointer<Float>) {
        let u = V(repeating: x), v = V(repeating: y)
        var r = V.load(w); a0 = a0.addingProduct(u, r); b0 = b0.addingProduct(v, r)
        r = V.load(w + 16); a1 = a1.addingProduct(u, r); b1 = b1.addingProduct(v, r)
        r = V.load(w + 32); a2 = a2.addingProduct(u, r); b2 = b2.addingProduct(v, r)
        r = V.load(w + 48); a3 = a3.addingProduct(u, r); b3 = b3.addingProduct(v, r)
        r = V.load(w + 64); a4 = a4.addingProduct(u, r); b4 = b4.addingProduct(v, r)
        r = V.load(w + 80); a5 = a5.addingProduct(u, r); b5 = b5.addingProduct(v, r)
        r = V.load(w + 96); a6 = a6.addingProduct(u, r); b6 = b6.addingProduct(v, r)
        r = V.load(w + 112); a7 = a7.addingProduct(u, r); b7 = b7.addingProduct(v, r)
    }

    /// Image `image`'s (0: first, 1: second) first `count` sums: a whole panel straight from the
    /// registers, a narrower one copied from the fields (they lie in order, 64 bytes apart).
    @inline(__always)
    func store(_ image: Int, to out: UnsafeMutablePointer<Float>, count: Int) {
        if count == 128 {
            let v = image == 0 ? (a0, a1, a2, a3, a4, a5, a6, a7) : (b0, b1, b2, b3, b4, b5, b6, b7)
            v.0.store(to: out); v.1.store(to: out + 16); v.2.store(to: out + 32); v.3.store(to: out + 48)
            v.4.store(to: out + 64); v.5.store(to: out + 80); v.6.store(to: out + 96); v.7.store(to: out + 112)
        } else {
            withUnsafeBytes(of: self) { out.update(from: $0.assumingMemoryBound(to: Float.self).baseAddress! + 128 * image, count: count) }
        }
    }
}
