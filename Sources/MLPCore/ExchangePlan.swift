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
//   columns: (a model with one hidden layer: both layers) each rank owns a block of hidden units,
//            that is, a block of W_0's columns and the same rows of W_1. It computes its units for
//            the whole minibatch, and their share of the logits; one allreduce sums those (B × 10
//            floats, with the control block), every rank forms the whole minibatch's softmax
//            delta, and everything after that is local: no gradient moves. Each rank updates only
//            its blocks; the full model is assembled only when rank 0 needs it.
// All dense gradients go in one allreduce together with the control block; with one rank nothing
// is sent and every layer takes the fused path. When every rank is on one node, the ranks share one
// copy of the parameters in node memory: each rank writes only its rows (and some biases) and a
// fence replaces the gathering of updated rows; factors and sharded then coincide.

import Foundation

public enum ExchangeMode: String, CaseIterable, Sendable {
    case dense, factors, sharded, split, columns, auto
}

public enum LayerExchange: String, Equatable, Sendable {
    case dense, factors, sharded, split, columns
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

    /// The plan for a mode. With one hidden layer, `auto` first weighs dividing its units
    /// (`columns`) against the best per-layer plan. Per layer, `auto` takes the way with the least modelled time: the
    /// dense allreduce; the gathered factors plus the GEMM work every rank then repeats (it forms
    /// the gradient of all B rows instead of its b); or the gathered factors plus the gathered
    /// updated rows. The model depends only on sizes, P and whether the job spans nodes, so every
    /// rank (and every rerun) makes the same choice. A layer with fewer inputs than ranks cannot be
    /// sharded and takes factors instead. `costModel` replaces the built-in figures (the scaling
    /// model's fitted ones).
    public static func choose(_ mode: ExchangeMode, layout: ParameterLayout, batchSize: Int,
                              worldSize: Int, acrossNodes: Bool, sharedParameters: Bool = false,
                              costModel: CostModel? = nil) -> ExchangePlan {
        let model = costModel ?? CostModel(acrossNodes: acrossNodes)
        let shared = sharedParameters && worldSize > 1
        let columns = ExchangePlan(layers: [.columns, .columns], sharedParameters: shared)
        if worldSize > 1 && canSplitHiddenUnits(layout, worldSize: worldSize) {
            if mode == .columns { return columns }
            // auto: when each rank keeps whole vectors of units and the one allreduce is modelled
            // cheaper than the per-layer ways.
            if mode == .auto && autoConsidersColumns(layout, worldSize: worldSize) {
                let perLayer = chooseByLayer(.auto, layout: layout, batchSize: batchSize, worldSize: worldSize,
                                             model: model, sharedParameters: sharedParameters)
                let time = { (plan: ExchangePlan) in model.time(plan, layout, batchSize: batchSize, worldSize: worldSize) }
                return time(columns) < time(perLayer) ? columns : perLayer
            }
        }
        return chooseByLayer(mode, layout: layout, batchSize: batchSize, worldSize: worldSize, model: model,
                             sharedParameters: sharedParameters)
    }

    /// Whether `columns` can divide this model: one hidden layer, at least one unit per rank.
    public static func canSplitHiddenUnits(_ layout: ParameterLayout, worldSize: Int) -> Bool {
        layout.layers.count == 2 && layout.layers[0].outputs >= worldSize
    }

    /// Whether `auto` weighs `columns`: each rank keeps at least 64 units, whole vectors for the
    /// kernels, so that dividing the units divides the work.
    public static func autoConsidersColumns(_ layout: ParameterLayout, worldSize: Int) -> Bool {
        canSplitHiddenUnits(layout, worldSize: worldSize) && layout.layers[0].outputs >= 64 * worldSize
    }

    /// The way of each layer on its own (every mode but columns).
    private static func chooseByLayer(_ mode: ExchangeMode, layout: ParameterLayout, batchSize: Int, worldSize: Int,
                                      model: CostModel, sharedParameters: Bool) -> ExchangePlan {
        precondition(mode != .columns || worldSize == 1, "columns needs one hidden layer with a unit per rank")
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
            case .columns: return .factors
            case .auto:
                return model.cheapest(slot, isFirstLayer: l == 0, batchSize: batchSize, worldSize: worldSize,
                                      shardable: shardable, sharedParameters: shared).exchange
            }
        }
        return ExchangePlan(layers: layers, sharedParameters: shared)
    }

    public var description: String {
        layers.map(\.rawValue).joined(separator: ",") + (sharedParameters ? " (parameters shared on the node)" : "")
    }
    public var splitsFirstLayer: Bool { layers.first == .split }
    public var splitsHiddenUnits: Bool { layers.first == .columns }

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
        public func time(_ exchange: LayerExchange, _ slot: LayerSlot, isFirstLayer: Bool, batchSize: Int, worldSize: Int,
                         sharedParameters: Bool = false) -> Double {
            switch exchange {
            case .dense: return denseTime(slot, worldSize: worldSize, sharedParameters: sharedParameters)
            case .factors: return factorsTime(slot, isFirstLayer: isFirstLayer, batchSize: batchSize, worldSize: worldSize)
            case .sharded: return shardedTime(slot, isFirstLayer: isFirstLayer, batchSize: batchSize, worldSize: worldSize)
            case .split: return splitTime(slot, batchSize: batchSize, worldSize: worldSize)
            case .columns: return 0   // the whole model's figure is columnsTime
            }
        }

        /// Modelled seconds of a whole plan's exchange: the columns allreduce, or each layer's way.
        public func time(_ plan: ExchangePlan, _ layout: ParameterLayout, batchSize: Int, worldSize: Int) -> Double {
            if plan.splitsHiddenUnits { return columnsTime(layout, batchSize: batchSize, worldSize: worldSize) }
            return zip(plan.layers, layout.layers).enumerated().reduce(0.0) { sum, item in
                sum + time(item.element.0, item.element.1, isFirstLayer: item.offset == 0, batchSize: batchSize,
                           worldSize: worldSize, sharedParameters: plan.sharedParameters)
            }
        }

        /// Hidden units divided: one allreduce of the logits (B, n_L) and the control block; the
        /// work is divided with nothing done twice but the (B, n_L) softmax.
        public func columnsTime(_ layout: ParameterLayout, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let bytes = 4.0 * Double(b * layout.layers[layout.layers.count - 1].outputs + Control.count)
            return 2 * log2(Double(p)) * latency + 2 * Double(p - 1) / Double(p) * bytes / bytesPerSecond
        }

        /// The way with the least modelled time for a layer, among those open to it: factors only
        /// with private parameters, sharded and split only when the layer can be divided by rows,
        /// split only for the first layer. Ties go to the earlier of dense, factors, sharded, split.
        public func cheapest(_ slot: LayerSlot, isFirstLayer: Bool, batchSize: Int, worldSize: Int,
                             shardable: Bool = true, sharedParameters: Bool = false) -> (exchange: LayerExchange, seconds: Double) {
            let open: [LayerExchange] = [.dense]
                + (sharedParameters ? [] : [.factors])
                + (shardable ? [.sharded] : [])
                + (shardable && isFirstLayer ? [.split] : [])
            return open.map { ($0, time($0, slot, isFirstLayer: isFirstLayer, batchSize: batchSize, worldSize: worldSize,
                                        sharedParameters: sharedParameters)) }
                .min { $0.1 < $1.1 }!
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
