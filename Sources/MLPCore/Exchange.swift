// How the gradients of one step reach every rank. A layer is exchanged either
//   dense:   its gradient Aᵀ·D over the rank's shard is summed across ranks (allreduce), or
//   factors: the rows of its input A and delta D are gathered (allgather), so that every rank forms
//            the full-batch product Aᵀ·D itself, fused with the update (SGD.applyFactors), or
//   sharded: the factors are gathered, each rank updates only its share of W's rows with the
//            full-batch product (no work done twice), and the updated rows are gathered, or
//   split:   (the first layer only, whose input is the data every rank holds) each rank owns a
//            block of W's input rows and never shares it: it multiplies the whole minibatch's
//            inputs by its rows, a reduce-scatter hands every rank the summed product for its own
//            shard, and its rows are updated as in sharded. The full W is assembled only when
//            rank 0 needs it (validation, checkpoints).
// All dense gradients go in one allreduce together with the control block; with one rank nothing
// is sent and every layer takes the fused path. When every rank is on one node, the ranks share one
// copy of the parameters in node memory: each rank writes only its rows (and some biases) and a
// fence replaces the gathering of updated rows; factors and sharded then coincide.

import Foundation

public enum ExchangeMode: String, CaseIterable, Sendable {
    case dense, factors, sharded, split, auto
}

public enum LayerExchange: String, Equatable, Sendable {
    case dense, factors, sharded, split
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

/// Where the parameters live: one copy per rank, or one per node shared by its ranks.
public enum ParameterMemory: String, CaseIterable, Sendable {
    case auto, shared, `private`
}

public struct ExchangePlan: Equatable, Sendable, CustomStringConvertible {
    public let layers: [LayerExchange]
    public let sharedParameters: Bool

    public init(layers: [LayerExchange], sharedParameters: Bool = false) {
        self.layers = layers
        self.sharedParameters = sharedParameters
    }

    /// Per-layer choice. `auto` takes, for each layer, the way with the least modelled time: the
    /// dense allreduce; the gathered factors plus the GEMM work every rank then repeats (it forms
    /// the gradient of all B rows instead of its b); or the gathered factors plus the gathered
    /// updated rows. The model depends only on sizes, P and whether the job spans nodes, so every
    /// rank (and every rerun) makes the same choice. A layer with fewer inputs than ranks cannot be
    /// sharded and takes factors instead.
    public static func choose(_ mode: ExchangeMode, layout: ParameterLayout, batchSize: Int,
                              worldSize: Int, acrossNodes: Bool, sharedParameters: Bool = false) -> ExchangePlan {
        let shared = sharedParameters && worldSize > 1
        let layers = layout.layers.enumerated().map { l, slot -> LayerExchange in
            // One rank exchanges nothing: every layer takes the fused update.
            if worldSize == 1 { return .factors }
            // Shared parameters: every rank writes only its rows, so factors means sharded.
            let shardable = slot.inputs >= worldSize || shared
            switch mode {
            case .dense: return .dense
            case .factors: return shared ? .sharded : .factors
            case .sharded: return shardable ? .sharded : .factors
            case .split where l == 0 && shardable: return .split
            case .split: return shardable ? .sharded : .factors
            case .auto:
                let cost = CostModel(acrossNodes: acrossNodes)
                var options: [(LayerExchange, Double)] = [
                    (.dense, cost.denseTime(slot, worldSize: worldSize, sharedParameters: shared)),
                ]
                if !shared {
                    options.append((.factors, cost.factorsTime(slot, isFirstLayer: l == 0, batchSize: batchSize, worldSize: worldSize)))
                }
                if shardable {
                    options.append((.sharded, cost.shardedTime(slot, isFirstLayer: l == 0, batchSize: batchSize, worldSize: worldSize)))
                }
                if shardable && l == 0 {
                    options.append((.split, cost.splitTime(slot, batchSize: batchSize, worldSize: worldSize)))
                }
                return options.min { $0.1 < $1.1 }!.0
            }
        }
        return ExchangePlan(layers: layers, sharedParameters: shared)
    }

    public var description: String {
        layers.map(\.rawValue).joined(separator: ",") + (sharedParameters ? " (parameters shared on the node)" : "")
    }
    public var denseLayers: [Int] { layers.indices.filter { layers[$0] == .dense } }
    /// Layers whose input and delta rows are gathered (factors, sharded, split).
    public var gatheredLayers: [Int] { layers.indices.filter { layers[$0] != .dense } }
    public var shardedLayers: [Int] { layers.indices.filter { layers[$0] == .sharded } }
    public var splitsFirstLayer: Bool { layers.first == .split }

    /// A latency-bandwidth model of the three ways, with figures measured on a 2-core node
    /// (allreduce of 1.6 MB in about 146 µs, allgather of it in about 65 µs, sgemm at about
    /// 80 GFLOP/s at small batch, an update pass at about 30 GB/s) and a 10 Gbit/s network between nodes.
    public struct CostModel: Sendable {
        public let bytesPerSecond: Double
        public let latency: Double
        public let flopsPerSecond: Double

        public init(acrossNodes: Bool) {
            self.init(latency: acrossNodes ? 50e-6 : 1e-6, bytesPerSecond: acrossNodes ? 1.1e9 : 11e9, flopsPerSecond: 80e9)
        }

        public init(latency: Double, bytesPerSecond: Double, flopsPerSecond: Double) {
            (self.latency, self.bytesPerSecond, self.flopsPerSecond) = (latency, bytesPerSecond, flopsPerSecond)
        }

        /// Modelled seconds of one layer's exchange (and the extra GEMM work factors implies).
        public func time(_ exchange: LayerExchange, _ slot: LayerSlot, isFirstLayer: Bool, batchSize: Int, worldSize: Int) -> Double {
            switch exchange {
            case .dense: return denseTime(slot, worldSize: worldSize)
            case .factors: return factorsTime(slot, isFirstLayer: isFirstLayer, batchSize: batchSize, worldSize: worldSize)
            case .sharded: return shardedTime(slot, isFirstLayer: isFirstLayer, batchSize: batchSize, worldSize: worldSize)
            case .split: return splitTime(slot, batchSize: batchSize, worldSize: worldSize)
            }
        }

        public let memoryBytesPerSecond = 30e9

        /// Ring allreduce: each rank sends and receives 2(P-1)/P of the gradient; then a pass that
        /// reads gradient and weight and writes the weight (1/P of it each, when shared).
        public func denseTime(_ slot: LayerSlot, worldSize p: Int, sharedParameters: Bool = false) -> Double {
            guard p > 1 else { return 0 }
            let bytes = 4.0 * Double(slot.inputs * slot.outputs + slot.outputs)
            return 2 * log2(Double(p)) * latency + 2 * Double(p - 1) / Double(p) * bytes / bytesPerSecond
                + 3 * bytes / memoryBytesPerSecond / (sharedParameters ? Double(p) : 1)
        }

        /// Gathered factors, no repeated work, then every rank's updated rows gathered: (P-1)/P of
        /// the weight reaches every rank (as copies, or through the caches when the node shares it).
        public func shardedTime(_ slot: LayerSlot, isFirstLayer: Bool, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let columns = slot.outputs + (isFirstLayer ? 0 : slot.inputs)
            let factorBytes = 4.0 * Double(b * columns) * Double(p - 1) / Double(p)
            let weightBytes = 4.0 * Double(slot.inputs * slot.outputs) * Double(p - 1) / Double(p)
            return 2 * log2(Double(p)) * latency + (factorBytes + weightBytes) / bytesPerSecond
        }

        /// The first layer split by input rows: the (B, n_out) partial products reduce-scattered and
        /// the deltas gathered; the weight never moves.
        public func splitTime(_ slot: LayerSlot, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let bytes = 2 * 4.0 * Double(b * slot.outputs) * Double(p - 1) / Double(p)
            return 3 * log2(Double(p)) * latency + bytes / bytesPerSecond
        }

        /// Allgather of the delta rows (and of the input rows, except for the first layer, whose
        /// input is the data every rank holds), plus the GEMM over the other ranks' rows.
        public func factorsTime(_ slot: LayerSlot, isFirstLayer: Bool, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let columns = slot.outputs + (isFirstLayer ? 0 : slot.inputs)
            let bytes = 4.0 * Double(b * columns) * Double(p - 1) / Double(p)
            let extraRows = Double(b) - Double(b) / Double(p)
            let extraFlops = 2 * Double(slot.inputs * slot.outputs) * extraRows
            return log2(Double(p)) * latency + bytes / bytesPerSecond + extraFlops / flopsPerSecond
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
    private var splitGather: Gather?                 // the split first layer's rows, gathered on demand
    private let sharedParameters: Bool
    /// The split first layer: this rank's partial product (B, n_1) and every rank's share of the sum.
    private var splitPartial: FloatStorage?
    private var splitCounts: [Int32] = []
    /// The rows of each layer's weight this rank updates (all rows when absent).
    let ownedRows: [Int: Range<Int>]
    /// The layers whose bias this rank updates.
    let ownedBiases: Set<Int>

    /// `fullActivations` / `fullDeltas` are the (B, n) buffers whose shard rows this rank fills.
    init(plan: ExchangePlan, world: Communicator, parameters: ParameterSet, gradients: ParameterSet,
         fullActivations: [Matrix], fullDeltas: [Matrix], shards: [Shard]) {
        self.world = world
        sharedParameters = plan.sharedParameters
        let layers = parameters.layout.layers
        var owned: [Int: Range<Int>] = [:]
        for l in layers.indices where plan.layers[l] == .sharded || plan.layers[l] == .split || plan.sharedParameters {
            let slot = layers[l]
            owned[l] = Shard.rows(slot.inputs, rank: world.rank, worldSize: world.size)
            guard !plan.sharedParameters else { continue }
            let split = (0..<world.size).map { Shard.rows(slot.inputs, rank: $0, worldSize: world.size) }
            let gather: Gather = (parameters.weight(l).base, split.map { Int32($0.count * slot.outputs) },
                                  split.map { Int32($0.lowerBound * slot.outputs) })
            if plan.layers[l] == .split { splitGather = gather } else { weightGathers.append(gather) }
        }
        if plan.splitsFirstLayer {
            let width = layers[0].outputs
            splitPartial = FloatStorage(count: fullDeltas[0].rows * width)
            splitCounts = shards.map { Int32($0.count * width) }
        }
        ownedRows = owned
        // Private parameters: every rank updates every bias. Shared: layer l's bias is rank (l mod P)'s.
        ownedBiases = Set(layers.indices.filter { !plan.sharedParameters || $0 % world.size == world.rank })
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

    /// The split first layer's product input · W_0 for this rank's shard rows (`into`, (b, n_1)):
    /// this rank's rows of W_0 times every sample's matching inputs, summed across ranks.
    func firstLayerProduct(_ batchInput: Matrix, _ parameters: ParameterSet, into shardRows: Matrix) throws {
        let rows = ownedRows[0]!, partial = splitPartial!
        let product = Matrix(partial.base, rows: batchInput.rows, columns: shardRows.columns)       // (B, n_1)
        BLAS.gemm(batchInput.columns(rows.lowerBound, count: rows.count),                              // (B, rows)
                  parameters.weight(0).rows(rows.lowerBound, count: rows.count), into: product)       // · (rows, n_1)
        try world.reduceScatterSum(partial.base, into: shardRows.base, counts: splitCounts)
    }

    /// Makes every rank's copy of the parameters whole: the split first layer's rows live only with
    /// their owners until this (a collective) gathers them. Nothing to do with shared parameters.
    func assembleParameters() throws {
        guard let gather = splitGather else { return }
        try world.allgather(gather.base, counts: gather.counts, displacements: gather.displacements)
    }

    /// Before the update: dense gradients and the control block summed, factor rows gathered.
    func run() throws {
        for span in spans { try world.allreduceSum(span.base, count: span.count) }
        for gather in gathers {
            try world.allgather(gather.base, counts: gather.counts, displacements: gather.displacements)
        }
    }

    /// After the update: every rank's updated rows of the sharded layers gathered, or, with shared
    /// parameters, every rank's writes made visible to all.
    func finishUpdate() throws {
        if sharedParameters { try world.fenceNodeShared() }
        for gather in weightGathers {
            try world.allgather(gather.base, counts: gather.counts, displacements: gather.displacements)
        }
    }

    /// Floats each rank contributes per step (for reports).
    var floatsReduced: Int { spans.reduce(0) { $0 + $1.count } }
}
