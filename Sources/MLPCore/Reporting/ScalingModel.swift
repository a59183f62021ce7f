// The scaling benchmark's arithmetic: speedup and efficiency from measured rows, and a latency-
// bandwidth model of the step fitted to them, to predict efficiency at rank counts beyond this machine.
import Foundation

/// One `mlp bench` row (a rank count and a batch size), as Scripts/bench/scaling.sh collects them.
public struct ScalingRow: Sendable {
    /// The columns `mlp bench --append-csv` writes ("spread_percent": how much slower the slowest
    /// window was than the median).
    public static let csvHeader = "ranks,nodes,batch,exchange,samples_per_second,spread_percent,seconds_per_epoch,gflops,peak_gflops,percent_of_peak,step_ms,forward_ms,backward_ms,exchange_ms,update_ms,validation_ms,validation_percent,bare_gemm_ms,gemm_ratio,allreduce_latency_us,allreduce_model_us,model_floats"

    public var ranks: Int
    public var nodes: Int
    public var batch: Int
    public var exchange: String
    public var samplesPerSecond: Double
    public var spreadPercent: Double
    public var stepMilliseconds: Double
    public var shareMilliseconds: Double       // forward + backward: a rank's own rows
    public var updateMilliseconds: Double      // the update (with the sharded way, its second exchange)
    public var computeMilliseconds: Double { shareMilliseconds + updateMilliseconds }
    public var exchangeMilliseconds: Double
    public var validationPercent: Double
    public var allreduceLatency: Double        // seconds, one float
    public var allreduceModel: Double          // seconds, the whole gradient
    public var modelFloats: Int

    public static func read(csv path: String) throws -> [ScalingRow] {
        let hint = "Pass a file written by `mlp bench --append-csv`."
        var header: [String] = [], c: [Int] = [], rows: [ScalingRow] = []
        try TextLines.read(path, what: "a benchmark CSV", hint: hint) { index, bytes in
            let f = String(decoding: bytes, as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            if header.isEmpty {
                header = f
                c = try ["ranks", "nodes", "batch", "exchange", "samples_per_second", "spread_percent", "step_ms", "forward_ms",
                         "backward_ms", "exchange_ms", "update_ms", "validation_percent", "allreduce_latency_us", "allreduce_model_us", "model_floats"].map { name in
                    guard let i = header.firstIndex(of: name) else { throw ConfigurationError("\(path): no column \(name). \(hint)") }
                    return i
                }
                return
            }
            // Every figure finite and in the range a benchmark produces, so that none can trap later.
            func d(_ i: Int, _ range: ClosedRange<Double> = 0...1e15) throws -> Double {
                guard c[i] < f.count, let v = Double(f[c[i]]), range.contains(v) else {
                    throw ConfigurationError("\(path):\(index + 1): bad value in column \(header[c[i]]) (expected a number in \(range)).")
                }
                return v
            }
            func n(_ i: Int, _ range: ClosedRange<Double>) throws -> Int {
                let v = try d(i, range)
                guard v == v.rounded() else { throw ConfigurationError("\(path):\(index + 1): column \(header[c[i]]) holds \(v), not a whole number.") }
                return Int(v)
            }
            rows.append(ScalingRow(ranks: try n(0, 1...1e7), nodes: try n(1, 1...1e7), batch: try n(2, 1...1e9), exchange: f[c[3]],
                                   samplesPerSecond: try d(4), spreadPercent: try d(5), stepMilliseconds: try d(6),
                                   shareMilliseconds: try d(7) + d(8), updateMilliseconds: try d(10), exchangeMilliseconds: try d(9),
                                   validationPercent: try d(11), allreduceLatency: try d(12) / 1e6, allreduceModel: try d(13) / 1e6,
                                   modelFloats: try n(14, 1...1e12)))
        }
        return rows
    }
}

/// T(P) of each way at global batch B, from one rank's measured step split into its share
/// (forward + backward, in proportion to the rows a rank works on) and its update (in proportion to
/// B): `factors` repeats the update on every rank, `sharded` divides it, `columns` divides both; each
/// gathers what it needs, an allgather of n bytes costing log₂P·α + (P−1)/P · n/β:
///   factors  share/P + update   + gather(B rows of factors)
///   sharded  share/P + update/P + gather(B rows of factors) + gather(W₀)
///   columns  (share + update)/P + gather(B rows of hidden units)
/// with α and β fitted to an allreduce measured on the same ranks (a property of the network).
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

    /// One rank's step, per sample: its share and its update (seconds).
    public struct OneRank: Sendable {
        public var share: Double
        public var update: Double

        public init(share: Double, update: Double) { (self.share, self.update) = (share, update) }

        public init(_ row: ScalingRow) {
            self.init(share: row.shareMilliseconds / 1e3 / Double(row.batch), update: row.updateMilliseconds / 1e3 / Double(row.batch))
        }
    }

    /// Seconds of an allgather that leaves every one of `p` ranks `bytes` in all.
    public func gather(bytes: Double, ranks p: Int) -> Double {
        p > 1 ? log2(Double(p)) * latency + Double(p - 1) / Double(p) * bytes / bytesPerSecond : 0
    }

    /// The modelled step of `way` (auto: the faster data-parallel way) on `p` ranks at global batch `batch`.
    public func step(_ way: ExchangeMode, ranks p: Int, batch: Int, one: OneRank, architecture: Architecture = Architecture()) -> Double {
        let b = Double(batch), share = one.share * b, update = one.update * b, q = Double(p)
        let sizes = architecture.layerSizes
        let factors = gather(bytes: 4 * b * Double(MinibatchRows.width(architecture)), ranks: p)
        switch way {
        case .factors: return share / q + update + factors
        case .sharded: return share / q + update / q + factors + gather(bytes: 4 * Double(sizes[0] * sizes[1]), ranks: p)
        case .columns: return (share + update) / q + gather(bytes: 4 * b * Double(sizes[1]), ranks: p)
        case .auto:
            return min(step(.factors, ranks: p, batch: batch, one: one, architecture: architecture),
                       step(.sharded, ranks: p, batch: batch, one: one, architecture: architecture))
        }
    }

    /// Predicted parallel efficiency of the data-parallel default on `p` ranks at global batch `batch`.
    public func efficiency(ranks p: Int, batch: Int, one: OneRank, architecture: Architecture = Architecture()) -> Double {
        let alone = (one.share + one.update) * Double(batch)
        return alone / (Double(p) * step(.auto, ranks: p, batch: batch, one: one, architecture: architecture))
    }

    public var description: String {
        String(format: "%@ (α = %.2f µs, β = %.2f GB/s)", name, latency * 1e6, bytesPerSecond / 1e9)
    }

    /// The step a measured row should take by this model, from the one-rank row.
    public func predictedStep(_ row: ScalingRow, oneRank: ScalingRow, architecture: Architecture = Architecture()) -> Double {
        let way = ExchangeMode(rawValue: String(row.exchange.prefix { $0 != " " })) ?? .auto
        return step(way, ranks: row.ranks, batch: row.batch, one: OneRank(oneRank), architecture: architecture)
    }
}
