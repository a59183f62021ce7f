// How the gradients of one step reach every rank: for each layer, one of
//   dense:   its gradient Aᵀ·D over the rank's shard is summed across ranks (one fused allreduce
//            with the other dense layers and the control block);
//   factors: the rows of its input A and delta D are gathered (allgather): the gradient's exact
//            low-rank form, from which every rank forms the full-batch product Aᵀ·D itself, fused
//            with the update (SGD.applyFactors);
//   sharded: the factors are gathered, each rank updates only its share of W's rows with the
//            full-batch product (no work done twice), and the updated rows are gathered, or are
//            simply visible when the node's ranks share one copy of the parameters;
// all three data-parallel: each rank trains on its shard of the minibatch and every rank ends
// the step with the exact sum of the gradients. `--exchange auto` chooses among them. Two more
// ways are model-parallel and only taken when asked for:
//   split:   (the first layer, whose input is the data every rank holds) each rank owns a block of
//            W_0's input rows and never shares it: it multiplies the whole minibatch's inputs by
//            its rows, a reduce-scatter hands every rank the summed product for its own shard, and
//            its rows are updated as in sharded. The full W_0 is assembled only when rank 0 needs
//            it (validation, checkpoints).
//   columns: (a model with one hidden layer) each rank owns a block of the hidden units for the
//            whole minibatch; only the logits are summed. Its step is HiddenUnitsStep's.
// With one rank nothing is sent and every layer takes the fused update (factors). When every rank
// is on one node the ranks may share one copy of the parameters in node memory: each rank writes
// only its rows (and some biases) and a fence replaces the gathering of updated rows; factors and
// sharded then coincide. Measurements behind these choices: docs/performance.md.

public enum ExchangeMode: String, CaseIterable, Sendable {
    case auto, dense, factors, sharded, split, columns
}

public enum LayerExchange: String, Equatable, Sendable {
    case dense, factors, sharded, split, columns
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

    /// The plan for a mode. Per layer, `auto` takes the data-parallel way with the least modelled
    /// time (CostModel): the dense allreduce; the gathered factors plus the GEMM work every rank
    /// then repeats; or the gathered factors plus the gathered updated rows. The model depends only
    /// on sizes, P and whether the job spans nodes, so every rank (and every rerun) makes the same
    /// choice. A layer with fewer inputs than ranks cannot be sharded and takes factors instead.
    /// `costModel` replaces the built-in figures (the scaling model's fitted ones).
    public static func choose(_ mode: ExchangeMode, layout: ParameterLayout, batchSize: Int,
                              worldSize: Int, acrossNodes: Bool, sharedParameters: Bool = false,
                              costModel: CostModel? = nil) -> ExchangePlan {
        let model = costModel ?? CostModel(acrossNodes: acrossNodes)
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
            case .columns: return .columns
            case .auto:
                return model.cheapest(slot, isFirstLayer: l == 0, batchSize: batchSize, worldSize: worldSize,
                                      shardable: shardable, sharedParameters: shared).exchange
            }
        }
        // The hidden units' blocks stay in each rank's own memory (HiddenUnitsStep).
        return ExchangePlan(layers: layers, sharedParameters: shared && mode != .columns)
    }

    public var description: String {
        layers.map(\.rawValue).joined(separator: ",") + (sharedParameters ? " (parameters shared on the node)" : "")
    }
    /// Whether the first layer is model-parallel (`split`).
    public var splitsFirstLayer: Bool { layers.first == .split }
    /// Whether the hidden units are divided among the ranks (`columns`, model-parallel).
    public var dividesHiddenUnits: Bool { layers.first == .columns }
    /// Whether every rank trains its shard of the minibatch on the whole model.
    public var isDataParallel: Bool { !splitsFirstLayer && !dividesHiddenUnits }
}
