// results.svg: the validation error against each swept hyper-parameter, one line per combination
// of the others' values. Rates and penalties sit on a log axis (a 0 one step left of the smallest
// value); hidden widths on a linear one, where the tutorial's U shows when it is there.
import Foundation

extension Chart {
    /// `results` in grid order (the lines and the legend follow it).
    public static func sweep(_ results: [SweepResult], lists: [(SweepParameter, [String])]) -> [Chart] {
        let finite = results.filter { $0.bestValidationError != nil }
        return lists.filter { $0.1.count > 1 }.map { parameter, values in
            let place = positions(parameter, values)
            let others = lists.filter { $0.0 != parameter && $0.1.count > 1 }.map(\.0)
            // One line per combination of the other swept values, in grid order.
            var lines: [(key: String, points: [(x: Double, y: Double)])] = []
            for r in finite {
                let key = others.map { "\($0.flag.dropFirst(2)) \(r.point.values[$0]!)" }.joined(separator: ", ")
                let point = (x: place[r.point.values[parameter]!]!, y: r.bestValidationError! * 100)
                if let i = lines.firstIndex(where: { $0.key == key }) { lines[i].points.append(point) } else { lines.append((key, [point])) }
            }
            let series = lines.enumerated().map { i, line in
                Series(line.key.isEmpty ? "validation error" : line.key, line.points.sorted { $0.x < $1.x },
                       color: palette[i % palette.count], dashed: (i / palette.count) % 2 == 1, markers: true)
            }
            var chart = Chart(title: "Validation error against \(parameter.flag)", xLabel: parameter.flag.dropFirst(2) + (parameter.logarithmic ? " (log axis)" : ""),
                              yLabel: "best validation error (%)", series: series)
            chart.xTicks = values.map { (place[$0]!, $0) }
            chart.legendWidth = 250
            return chart
        }
    }

    /// Where each value sits on the x axis: log10 of rates and penalties (0 one step below the
    /// smallest positive one), the width itself for hidden units (its first layer's, for stacks).
    static func positions(_ parameter: SweepParameter, _ values: [String]) -> [String: Double] {
        guard parameter.logarithmic else {
            return Dictionary(uniqueKeysWithValues: values.enumerated().map { i, v in
                (v, Double(v.split(separator: "x").first.flatMap { Int($0) } ?? i))
            })
        }
        let logs = values.compactMap(Double.init).filter { $0 > 0 }.map(log10)
        let step = logs.count > 1 ? (logs.max()! - logs.min()!) / Double(logs.count - 1) : 1
        let zero = (logs.min() ?? 0) - max(step, 0.5)
        return Dictionary(uniqueKeysWithValues: values.map { v in (v, Double(v).map { $0 > 0 ? log10($0) : zero } ?? zero) })
    }
}
