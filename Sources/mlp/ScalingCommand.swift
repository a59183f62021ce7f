// `mlp scaling` turns the rows of Scripts/bench/scaling.sh into a table, a latency-bandwidth model
// and a speedup plot.
import ArgumentParser
import Foundation
import MLPCore

struct Scaling: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise `mlp bench --append-csv` rows: speedup and efficiency per rank count, the time split, a latency-bandwidth model, and an SVG plot.")

    @Argument(help: ArgumentHelp("CSV rows written by `mlp bench --append-csv` for several rank counts.", valueName: "csv"))
    var csv: String

    @OptionGroup var target: OutputFileOption

    @Flag(help: "The rows are weak scaling (fixed batch per rank): efficiency is throughput per rank against one rank.")
    var weak = false

    @Option(help: ArgumentHelp("Network latency for the model's prediction, µs per message.", valueName: "µs"))
    var latencyUs = 50.0

    @Option(help: ArgumentHelp("Network bandwidth for the model's prediction, Gbit/s.", valueName: "Gbit/s"))
    var bandwidthGbps = 10.0

    func run() throws {
        let rows = try ScalingRow.read(csv: csv)
        // Weak scaling groups rows by the batch per rank; one rank's row has that batch.
        let sizes = Array(Set(rows.map { weak ? $0.batch / $0.ranks : $0.batch })).sorted()
        let series = printMeasured(rows, sizes: sizes)
        let maxRanks = Double(rows.map(\.ranks).max() ?? 1)
        let ideal = Series("ideal", [(1, 1), (maxRanks, maxRanks)], color: "#999999", dashed: true)
        try write(Chart.svg([Chart(title: weak ? "Weak scaling" : "Strong scaling", xLabel: "ranks",
                                   yLabel: weak ? "throughput / one rank's" : "speedup over one rank", series: [ideal] + series, yFrom: 0)]), to: target.output ?? "scaling.svg")
        printPredictions(rows, sizes: sizes)
        printModelCheck(rows)
        print("")
        note("wrote \(target.output ?? "scaling.svg")")
    }

    private var sizeColumn: String { weak ? "batch per rank" : "global batch" }

    /// The measured table: speedup and efficiency of every row against one rank at the same size;
    /// returns the speedup curves for the plot.
    private func printMeasured(_ rows: [ScalingRow], sizes: [Int]) -> [Series] {
        print("| \(sizeColumn) | ranks | exchange | samples/s (spread) | speedup | efficiency | step ms | compute ms | exchange ms | validation % of epoch |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        var series: [Series] = []
        for (i, size) in sizes.enumerated() {
            let group = rows.filter { (weak ? $0.batch / $0.ranks : $0.batch) == size }.sorted { $0.ranks < $1.ranks }
            guard let one = group.first(where: { $0.ranks == 1 }) else { continue }
            // The data-parallel rows first, then a model-parallel option's (`--exchange columns`),
            // each its own curve from the same one-rank row.
            for modelParallel in [false, true] {
                let family = group.filter { $0.ranks > 1 && $0.exchange.hasPrefix("columns") == modelParallel }
                if modelParallel && family.isEmpty { continue }
                var points: [(x: Double, y: Double)] = [(1, 1)]
                for row in (modelParallel ? [] : [one]) + family {
                    let speedup = row.samplesPerSecond / one.samplesPerSecond
                    let efficiency = speedup / Double(row.ranks)
                    if row.ranks > 1 { points.append((Double(row.ranks), speedup)) }
                    print(String(format: "| %ld | %ld | %@ | %.0f (%.1f%%) | %.2f× | %.0f%% | %.3f | %.3f | %.3f | %.1f |", size, row.ranks,
                                 row.exchange, row.samplesPerSecond, row.spreadPercent, speedup, 100 * efficiency,
                                 row.stepMilliseconds, row.computeMilliseconds, row.exchangeMilliseconds, row.validationPercent))
                }
                series.append(Series("\(weak ? "b" : "B") = \(size)\(modelParallel ? ", columns" : "")", points,
                                     color: Chart.palette[(i + 1) % Chart.palette.count], dashed: modelParallel, markers: true))
            }
        }
        return series
    }

    /// Predicted efficiency at 8, 64 and 512 ranks: the model fitted to the measured allreduce,
    /// and the one with the network figures given.
    private func printPredictions(_ rows: [ScalingRow], sizes: [Int]) {
        let measured = rows.filter { $0.ranks > 1 }.compactMap(LatencyBandwidthModel.fitted).first
        let given = LatencyBandwidthModel(name: "given network", latency: latencyUs * 1e-6, bytesPerSecond: bandwidthGbps * 1e9 / 8)
        print("")
        print("Latency-bandwidth model: step(P) = share(B/P) + update (factors) or update/P (sharded) + the gathers, the faster way; predicted efficiency")
        print("")
        print("| model | \(sizeColumn) | 8 ranks | 64 ranks | 512 ranks |")
        print("|---|---:|---:|---:|---:|")
        for model in [measured, given].compactMap({ $0 }) {
            for size in sizes {
                guard let one = rows.first(where: { $0.ranks == 1 && $0.batch == size }) else { continue }
                let cells = [8, 64, 512].map { p -> String in
                    let batch = weak ? size * p : size
                    guard batch >= p else { return "n/a (B < P)" }
                    let e = model.efficiency(ranks: p, batch: batch, one: LatencyBandwidthModel.OneRank(one))
                    return String(format: "%.0f%%", 100 * e)
                }
                print("| \(model) | \(size) | " + cells.joined(separator: " | ") + " |")
            }
        }
    }

    /// The model against every multi-rank row, with α and β fitted to that row's own allreduce.
    private func printModelCheck(_ rows: [ScalingRow]) {
        let checks = rows.filter { $0.ranks > 1 }.compactMap { row -> (ScalingRow, Double)? in
            guard let model = LatencyBandwidthModel.fitted(to: row),
                  let one = rows.first(where: { $0.ranks == 1 && $0.batch == (weak ? row.batch / row.ranks : row.batch) }) else { return nil }
            return (row, model.predictedStep(row, oneRank: one))
        }
        guard !checks.isEmpty else { return }
        print("")
        print("Model against measurement (α, β fitted to each run's allreduce; compute scaled from one rank):")
        print("")
        print("| ranks | batch | exchange | measured step ms | predicted ms | model error |")
        print("|---:|---:|---|---:|---:|---:|")
        for (row, predicted) in checks {
            print(String(format: "| %ld | %ld | %@ | %.3f | %.3f | %+.0f%% |", row.ranks, row.batch, row.exchange, row.stepMilliseconds,
                         predicted * 1e3, 100 * (predicted * 1e3 - row.stepMilliseconds) / row.stepMilliseconds))
        }
    }
}
