// The scaling benchmark's arithmetic: speedup and efficiency from measured rows, and a latency-
// bandwidth model of the step fitted to them, to predict efficiency at rank counts beyond this machine.
import Foundation

/// One `mlp bench` row (a rank count and a batch size), as Scripts/scaling-bench.sh collects them.
public struct ScalingRow: Sendable {
    public var ranks: Int
    public var nodes: Int
    public var batch: Int
    public var exchange: String
    public var samplesPerSecond: Double
    public var spreadPercent: Double
    public var stepMilliseconds: Double
    public var computeMilliseconds: Double     // forward + backward + update (this includes the factor GEMMs)
    public var exchangeMilliseconds: Double
    public var validationPercent: Double
    public var allreduceLatency: Double        // seconds, one float
    public var allreduceModel: Double          // seconds, the whole gradient
    public var modelFloats: Int

    public static func read(csv path: String) throws -> [ScalingRow] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError("\(path): cannot read the benchmark CSV. Pass a file written by `mlp bench --csv`.")
        }
        let lines = text.split(separator: "\n")
        guard let header = lines.first?.split(separator: ",").map(String.init) else { return [] }
        func column(_ name: String) throws -> Int {
            guard let i = header.firstIndex(of: name) else { throw ConfigurationError("\(path): no column \(name); was it written by `mlp bench --csv`?") }
            return i
        }
        let c = try ["ranks", "nodes", "batch", "exchange", "samples_per_second", "spread_percent", "step_ms", "forward_ms",
                     "backward_ms", "exchange_ms", "update_ms", "validation_percent", "allreduce_latency_us", "allreduce_model_us", "model_floats"].map(column)
        return try lines.dropFirst().enumerated().map { index, line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            func d(_ i: Int) throws -> Double {
                guard c[i] < f.count, let v = Double(f[c[i]]) else { throw ConfigurationError("\(path):\(index + 2): bad value in column \(header[c[i]]).") }
                return v
            }
            return ScalingRow(ranks: Int(try d(0)), nodes: Int(try d(1)), batch: Int(try d(2)), exchange: f[c[3]],
                              samplesPerSecond: try d(4), spreadPercent: try d(5), stepMilliseconds: try d(6),
                              computeMilliseconds: try d(7) + d(8) + d(10), exchangeMilliseconds: try d(9),
                              validationPercent: try d(11), allreduceLatency: try d(12) / 1e6, allreduceModel: try d(13) / 1e6,
                              modelFloats: Int(try d(14)))
        }
    }
}

/// T(P) = compute(B/P) + exchange(P), with compute proportional to the rows a rank works on
/// (measured on one rank) and the exchange, layer by layer, the cheapest way `--exchange auto`
/// knows (ExchangePlan.CostModel: an allreduce of the gradient, 2·log₂P·α + 2(P−1)/P · 4n/β;
/// gathered factors; sharded rows; the split first layer; or, for one hidden layer, its units
/// divided, with one allreduce of the logits) at the fitted α and β.
public struct LatencyBandwidthModel: Sendable, CustomStringConvertible {
    public var latency: Double          // α, seconds per message
    public var bytesPerSecond: Double   // β
    public var name: String

    public init(name: String, latency: Double, bytesPerSecond: Double) {
        (self.name, self.latency, self.bytesPerSecond) = (name, latency, bytesPerSecond)
    }

    /// α from the one-float allreduce, β from the whole-gradient one, both measured on P ranks.
    public static func fitted(to row: ScalingRow) -> LatencyBandwidthModel? {
        guard row.ranks > 1, row.allreduceModel > 0 else { return nil }
        let p = Double(row.ranks)
        let alpha = row.allreduceLatency / (2 * log2(p))
        let moved = 2 * (p - 1) / p * 4 * Double(row.modelFloats)
        let transfer = row.allreduceModel - 2 * log2(p) * alpha
        guard transfer > 0 else { return nil }
        return LatencyBandwidthModel(name: "measured here", latency: alpha, bytesPerSecond: moved / transfer)
    }

    /// Seconds of one step's exchange on `p` ranks, in the plan `--exchange auto` would choose at
    /// this model's figures (private parameters, as across nodes).
    public func exchangeSeconds(ranks p: Int, batch: Int, flopsPerSecond: Double, architecture: Architecture = Architecture()) -> Double {
        guard p > 1 else { return 0 }
        let cost = ExchangePlan.CostModel(latency: latency, bytesPerSecond: bytesPerSecond, flopsPerSecond: flopsPerSecond)
        let layout = ParameterLayout(architecture)
        let plan = ExchangePlan.choose(.auto, layout: layout, batchSize: batch, worldSize: p, acrossNodes: true, costModel: cost)
        return cost.time(plan, layout, batchSize: batch, worldSize: p)
    }

    /// Predicted parallel efficiency on `p` ranks (strong scaling: the global batch stays `batch`),
    /// given the one-rank step time for `batch`.
    public func efficiency(ranks p: Int, batch: Int, oneRankStep: Double, architecture: Architecture = Architecture()) -> Double {
        let flopsPerSecond = Double(batch) / oneRankStep * Benchmark.flopsPerSample(architecture)
        let step = oneRankStep * Double(max(1, batch / p)) / Double(batch)
            + exchangeSeconds(ranks: p, batch: batch, flopsPerSecond: flopsPerSecond, architecture: architecture)
        return oneRankStep / (Double(p) * step)
    }

    public var description: String {
        String(format: "%@ (α = %.2f µs, β = %.2f GB/s)", name, latency * 1e6, bytesPerSecond / 1e9)
    }

    /// The step a measured row should take by this model: the one-rank step's time scaled to the
    /// rows each rank works on, plus every layer's exchange (as `ExchangePlan.CostModel` prices the
    /// row's plan, including the repeated GEMM of factors), at this model's α and β.
    public func predictedStep(_ row: ScalingRow, oneRank: ScalingRow, architecture: Architecture = Architecture()) -> Double {
        let compute = oneRank.stepMilliseconds / 1e3 * Double(row.batch / row.ranks) / Double(oneRank.batch)
        let flopsPerSecond = oneRank.samplesPerSecond * Benchmark.flopsPerSample(architecture)
        let cost = ExchangePlan.CostModel(latency: latency, bytesPerSecond: bytesPerSecond, flopsPerSecond: flopsPerSecond)
        let layers = row.exchange.split(separator: " ").first.map { $0.split(separator: "+").compactMap { LayerExchange(rawValue: String($0)) } } ?? []
        let plan = ExchangePlan(layers: layers, sharedParameters: row.exchange.contains("shared"))
        return compute + cost.time(plan, ParameterLayout(architecture), batchSize: row.batch, worldSize: row.ranks)
    }
}
