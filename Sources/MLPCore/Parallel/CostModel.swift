// A latency-bandwidth model of each way of exchanging a layer, for `--exchange auto` and the
// scaling model. Its default figures (a 2-core node's, and a 10 Gbit/s network's between nodes) and
// how well it predicts the measured steps are in docs/performance.md.
import Foundation

extension ExchangePlan {
    public struct CostModel: Sendable {
        public let bytesPerSecond: Double
        public let latency: Double
        public let flopsPerSecond: Double
        public let memoryBytesPerSecond = 30e9

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
            case .columns: return 0   // the whole plan's figure is columnsTime
            }
        }

        /// Modelled seconds of a whole plan's exchange: the sum of its layers', or the columns
        /// plan's one allreduce.
        public func time(_ plan: ExchangePlan, _ layout: ParameterLayout, batchSize: Int, worldSize: Int) -> Double {
            if plan.dividesHiddenUnits { return columnsTime(layout, batchSize: batchSize, worldSize: worldSize) }
            return zip(plan.layers, layout.layers).enumerated().reduce(0.0) { sum, item in
                sum + time(item.element.0, item.element.1, isFirstLayer: item.offset == 0, batchSize: batchSize,
                           worldSize: worldSize, sharedParameters: plan.sharedParameters)
            }
        }

        /// Hidden units divided: one allreduce of the logits (B, n_L) and the control block; the
        /// work is divided with nothing done twice but the (B, n_L) softmax.
        public func columnsTime(_ layout: ParameterLayout, batchSize b: Int, worldSize p: Int) -> Double {
            guard p > 1 else { return 0 }
            let bytes = 4.0 * Double(b * layout.layers[layout.layers.count - 1].outputs + ControlBlock.count)
            return 2 * log2(Double(p)) * latency + 2 * Double(p - 1) / Double(p) * bytes / bytesPerSecond
        }

        /// The data-parallel way with the least modelled time for a layer, among those open to it:
        /// factors only with private parameters, sharded only when the layer can be divided by rows.
        /// Ties go to the earlier of dense, factors, sharded.
        public func cheapest(_ slot: LayerSlot, isFirstLayer: Bool, batchSize: Int, worldSize: Int,
                             shardable: Bool = true, sharedParameters: Bool = false) -> (exchange: LayerExchange, seconds: Double) {
            let open: [LayerExchange] = [.dense] + (sharedParameters ? [] : [.factors]) + (shardable ? [.sharded] : [])
            return open.map { ($0, time($0, slot, isFirstLayer: isFirstLayer, batchSize: batchSize, worldSize: worldSize,
                                        sharedParameters: sharedParameters)) }
                .min { $0.1 < $1.1 }!
        }

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
