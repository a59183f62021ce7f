// The step's activation and delta buffers, (rows, n_l) per layer, allocated once.

/// Per-layer activation and delta buffers for up to `rows` samples, allocated once.
public final class Workspace {
    public let rows: Int
    private let activationStorage: [FloatStorage]
    private let deltaStorage: [FloatStorage]
    public let ones: FloatStorage  // (rows) of 1: column sums as a matrix-vector product

    public convenience init(_ architecture: Architecture, rows: Int) {
        let widths = Array(architecture.layerSizes.dropFirst())
        self.init(widths: widths, rows: rows, buffers: (widths + widths).map { FloatStorage(count: rows * $0) })
    }

    /// `buffers`: the activations of every layer, then the deltas.
    private init(widths: [Int], rows: Int, buffers: [FloatStorage]) {
        self.rows = rows
        activationStorage = Array(buffers[..<widths.count])
        deltaStorage = Array(buffers[widths.count...])
        ones = FloatStorage(count: rows)
        ones.base.update(repeating: 1, count: rows)
        widthsByLayer = widths
    }

    private let widthsByLayer: [Int]

    /// Layer outputs for rows `start ..< start + count`: (count, n_{l+1}) each.
    public func activations(_ start: Int, count: Int) -> [Matrix] {
        zip(activationStorage, widthsByLayer).map { Matrix($0.base, rows: rows, columns: $1).rows(start, count: count) }
    }

    /// Deltas (dLoss/dz, summed loss) for rows `start ..< start + count`.
    public func deltas(_ start: Int, count: Int) -> [Matrix] {
        zip(deltaStorage, widthsByLayer).map { Matrix($0.base, rows: rows, columns: $1).rows(start, count: count) }
    }
}
