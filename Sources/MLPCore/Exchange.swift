// How the gradients of one step reach every rank. A layer is exchanged either
//   dense:   its gradient Aᵀ·D over the rank's shard is summed across ranks (allreduce), or
//   factors: the rows of its input A and delta D are gathered (allgather), so that every rank forms
//            the full-batch product Aᵀ·D itself, fused with the update (SGD.applyFactors), or
//   sharded: the factors are gathered, each rank updates only its share of W's rows with the
//            full-batch product (no work done twice), and the updated rows are gathered.
// All dense gradients go in one allreduce together with the control block; with one rank nothing
// is sent and every layer takes the fused path.

public enum ExchangeMode: String, CaseIterable, Sendable {
    case dense, factors, sharded, auto
}

public enum LayerExchange: String, Equatable, Sendable {
    case dense, factors, sharded
}

/// The floats that ride at the end of the gradient buffer through the step's allreduce, so that
/// every rank learns the same facts at the same iteration.
public enum Control {
    public static let count = 4
    public static let stop = 0    // rank 0: early stopping says stop; leave before this update
    public static let signal = 1  // any rank: SIGTERM or SIGINT arrived
    public static let error = 2   // any rank: failed; everyone leaves, the failing rank reports
    public static let loss = 3    // Σ NLL over the rank's shard
}

public struct ExchangePlan: Equatable, Sendable, CustomStringConvertible {
    public let layers: [LayerExchange]

    public init(layers: [LayerExchange]) { self.layers = layers }

    /// Per-layer choice. `auto` takes, for each layer, the way with the least modelled time: the
    /// dense allreduce; the gathered factors plus the GEMM work every rank then repeats (it forms
    /// the gradient of all B rows instead of its b); or the gathered factors plus the gathered
    /// updated rows. The model depends only on sizes, P and whether the job spans nodes, so every
    /// rank (and every rerun) makes the same choice. A layer with fewer inputs than ranks cannot be
    /// sharded and takes factors instead.
    public static func choose(_ mode: ExchangeMode, layout: ParameterLayout, batchSize: Int,
                              worldSize: Int, acrossNodes: Bool) -> ExchangePlan {
        let layers = layout.layers.enumerated().map { l, slot -> LayerExchange in
            // One rank exchanges nothing: every layer takes the fused update.
            if worldSize == 1 { return .factors }
            let shardable = slot.inputs >= worldSize
            switch mode {
            case .dense: return .dense
            case .factors: return .factors
            case .sharded: return shardable ? .sharded : .factors
            case .auto:
                let cost = CostModel(acrossNodes: acrossNodes)
                var options: [(LayerExchange, Double)] = [
                    (.dense, cost.denseTime(slot, worldSize: worldSize)),
                    (.factors, cost.factorsTime(slot, isFirstLayer: l == 0, batchSize: batchSize, worldSize: worldSize)),
                ]
                if shardable {
                    options.append((.sharded, cost.shardedTime(slot, isFirstLayer: l == 0, batchSize: batchSize, worldSize: worldSize)))
                }
                return options.min { $0.1 < $1.1 }!.0
            }
        }
        return ExchangePlan(layers: layers)
    }

    public var description: String { layers.map(\.rawValue).joined(separator: ",") }
    public var denseLayers: [Int] { layers.indices.filter { layers[$0] == .dense } }
    /// Layers whose input and delta rows are gathered (factors and sharded).
    public var gatheredLayers: [Int] { layers.indices.filter { layers[$0] != .dense } }
    public var shardedLayers: [Int] { layers.indices.filter { layers[$0] == .sharded } }

    /// A latency-bandwidth model of the three ways, with figures measured on a 2-core node
    /// (allreduce of 1.6 MB in about 146 µs, allgather of it in about 65 µs, sgemm at about
    /// 80 GFLOP/s at small batch, an update pass at about 30 GB/s) and a 10 Gbit/s network between nodes.
    public struct CostModel: Sendable {
        public let bytesPerSecond: Double
        public let latency: Double
        public let flopsPerSecond = 80e9

        public init(acrossNodes: Bool) {
            bytesPerSecond = acrossNodes ? 1.1e9 : 11e9
            latency = acrossNodes ? 50e-6 : 1e-6
        }

        public let memoryBytesPerSecond = 30e9

        /// Ring allreduce: each rank sends and receives 2(P-1)/P of the gradient; then a pass that
        /// reads gradient and weight and writes the weight.
        public func denseTime(_ slot: LayerSlot, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let bytes = 4.0 * Double(slot.inputs * slot.outputs + slot.outputs)
            return 2 * Double(p - 1) * latency + 2 * Double(p - 1) / Double(p) * bytes / bytesPerSecond
                + 3 * bytes / memoryBytesPerSecond
        }

        /// Gathered factors, no repeated work, then every rank's updated rows gathered:
        /// (P-1)/P of the weight received.
        public func shardedTime(_ slot: LayerSlot, isFirstLayer: Bool, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let columns = slot.outputs + (isFirstLayer ? 0 : slot.inputs)
            let factorBytes = 4.0 * Double(b * columns) * Double(p - 1) / Double(p)
            let weightBytes = 4.0 * Double(slot.inputs * slot.outputs) * Double(p - 1) / Double(p)
            return 2 * Double(p - 1) * latency + (factorBytes + weightBytes) / bytesPerSecond
        }

        /// Allgather of the delta rows (and of the input rows, except for the first layer, whose
        /// input is the data every rank holds), plus the GEMM over the other ranks' rows.
        public func factorsTime(_ slot: LayerSlot, isFirstLayer: Bool, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let columns = slot.outputs + (isFirstLayer ? 0 : slot.inputs)
            let bytes = 4.0 * Double(b * columns) * Double(p - 1) / Double(p)
            let extraRows = Double(b) - Double(b) / Double(p)
            let extraFlops = 2 * Double(slot.inputs * slot.outputs) * extraRows
            return Double(p - 1) * latency + bytes / bytesPerSecond + extraFlops / flopsPerSecond
        }
    }
}

/// Carries out a plan each step, over buffers fixed at set-up (no allocation per step).
final class GradientExchange {
    private let world: Communicator
    private var spans: [(base: UnsafeMutablePointer<Float>, count: Int)] = []
    private typealias Gather = (base: UnsafeMutablePointer<Float>, counts: [Int32], displacements: [Int32])
    private var gathers: [Gather] = []
    private var weightGathers: [Gather] = []
    /// For each sharded layer, the rows of its weight this rank updates.
    let ownedRows: [Int: Range<Int>]

    /// `fullActivations` / `fullDeltas` are the (B, n) buffers whose shard rows this rank fills.
    init(plan: ExchangePlan, world: Communicator, parameters: ParameterSet, gradients: ParameterSet,
         fullActivations: [Matrix], fullDeltas: [Matrix], shards: [Shard]) {
        self.world = world
        var owned: [Int: Range<Int>] = [:]
        for l in plan.shardedLayers {
            let slot = parameters.layout.layers[l]
            let rowShards = Shard.all(batchSize: slot.inputs, worldSize: world.size)
            owned[l] = rowShards[world.rank].start..<rowShards[world.rank].start + rowShards[world.rank].count
            weightGathers.append((parameters.weight(l).base, rowShards.map { Int32($0.count * slot.outputs) },
                                  rowShards.map { Int32($0.start * slot.outputs) }))
        }
        ownedRows = owned
        // Allreduce: each dense layer's weight and bias, then the control block; adjacent ones merged.
        var ranges = plan.denseLayers.map { gradients.layout.layers[$0].weightOffset..<gradients.layout.layers[$0].end }
        ranges.append(gradients.layout.count..<gradients.layout.count + Control.count)
        var merged: [Range<Int>] = []
        for range in ranges {
            if let last = merged.last, last.upperBound == range.lowerBound {
                merged[merged.count - 1] = last.lowerBound..<range.upperBound
            } else {
                merged.append(range)
            }
        }
        spans = merged.map { (gradients.storage.base + $0.lowerBound, $0.count) }
        // Allgather: every factor layer's delta rows, and its input rows unless the input is the data.
        guard world.size > 1 else { return }
        var matrices: [Matrix] = []
        for l in plan.gatheredLayers {
            matrices.append(fullDeltas[l])
            if l > 0 { matrices.append(fullActivations[l - 1]) }
        }
        gathers = matrices.map { m in
            (m.base, shards.map { Int32($0.count * m.columns) }, shards.map { Int32($0.start * m.columns) })
        }
    }

    /// Before the update: dense gradients and the control block summed, factor rows gathered.
    func run() throws {
        for span in spans { try world.allreduceSum(span.base, count: span.count) }
        for gather in gathers {
            try world.allgather(gather.base, counts: gather.counts, displacements: gather.displacements)
        }
    }

    /// After the update: every rank's updated rows of the sharded layers, gathered.
    func gatherUpdatedWeights() throws {
        for gather in weightGathers {
            try world.allgather(gather.base, counts: gather.counts, displacements: gather.displacements)
        }
    }

    /// Floats each rank contributes per step (for reports).
    var floatsReduced: Int { spans.reduce(0) { $0 + $1.count } }
}
