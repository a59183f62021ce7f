// Comparing large float buffers (parameters, gradients) in tests. A failure is one line: how many
// elements differ, the first differing index and the largest relative difference. Never compare
// such buffers with `#expect(a == b)`: on a mismatch the testing library diffs the whole arrays,
// which for 400,000 elements that differ everywhere takes hours.
import Testing

public enum BufferComparison {
    /// nil when `a` and `b` have the same length and every element is within `tolerance`:
    /// |a − b| ≤ tolerance · (|b| + floor); tolerance 0 asks for the same bits. Otherwise the line
    /// that says how they differ.
    public static func difference(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                                  tolerance: Float = 0, floor: Float = 1e-3) -> String? {
        guard a.count == b.count else { return "lengths differ: \(a.count) against \(b.count)" }
        var differing = 0, first = -1, worst: Float = 0, worstIndex = -1
        for i in 0..<a.count {
            let same = tolerance == 0 ? a[i].bitPattern == b[i].bitPattern
                                      : abs(a[i] - b[i]) <= tolerance * (abs(b[i]) + floor)
            if same { continue }
            differing += 1
            if first < 0 { first = i }
            let relative = abs(a[i] - b[i]) / (abs(b[i]) + floor)
            if !(relative <= worst) { (worst, worstIndex) = (relative, i) }   // NaN counts as worst
        }
        guard differing > 0 else { return nil }
        let what = tolerance == 0 ? "bits" : "values beyond \(tolerance) relative"
        return "\(differing) of \(a.count) elements differ (\(what)); first at [\(first)]: \(a[first]) against \(b[first]); "
            + "largest relative difference \(worst) at [\(worstIndex)]"
    }

    /// The largest |a − b| / (|b| + floor), for tests that state how close two runs come.
    public static func worstRelativeDifference(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                                               floor: Float = 1e-3) -> Float {
        precondition(a.count == b.count, "buffers of different lengths")
        var worst: Float = 0
        for i in 0..<a.count { worst = max(worst, abs(a[i] - b[i]) / (abs(b[i]) + floor)) }
        return worst
    }
}

/// Records one issue with the one-line difference when the buffers are not bit-identical.
public func expectSameBits(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, _ label: String,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    if let difference = BufferComparison.difference(a, b) {
        Issue.record("\(label): \(difference)", sourceLocation: sourceLocation)
    }
}

/// Records one issue with the one-line difference when some element is beyond `tolerance`.
public func expectClose(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, tolerance: Float,
                        floor: Float = 1e-3, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    if let difference = BufferComparison.difference(a, b, tolerance: tolerance, floor: floor) {
        Issue.record("\(label): \(difference)", sourceLocation: sourceLocation)
    }
}
