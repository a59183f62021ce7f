// Line charts as standalone SVG: axes with tick labels, grid, axis titles and a legend. Learning
// curves (`mlp plot`) and the scaling benchmark (`mlp scaling`) both draw with this.
import Foundation

public struct Series: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    public var color: String
    public var dashed: Bool
    public var markers: Bool

    public init(_ name: String, _ points: [(x: Double, y: Double)], color: String, dashed: Bool = false, markers: Bool = false) {
        self.name = name
        self.points = points
        self.color = color
        self.dashed = dashed
        self.markers = markers
    }
}

public struct Chart: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var logX = false        // base-2 axis, for rank counts
    public var logY = false        // base-10 axis, for errors that span more than a factor of a few
    public var yFrom: Double?      // force the y axis to start here (e.g. 0; ignored on a log axis)
    /// Points to mark with a ring and their label (the best validation error).
    public var marks: [(x: Double, y: Double, label: String)] = []
    /// x ticks with labels of their own (a sweep's values, placed by the caller); else ticks are chosen.
    public var xTicks: [(x: Double, label: String)] = []
    /// Room right of the plot for the legend.
    public var legendWidth = 170.0

    public init(title: String, xLabel: String, yLabel: String, series: [Series], logX: Bool = false, logY: Bool = false,
                yFrom: Double? = nil, marks: [(x: Double, y: Double, label: String)] = []) {
        (self.title, self.xLabel, self.yLabel, self.series, self.logX, self.yFrom) = (title, xLabel, yLabel, series, logX, yFrom)
        (self.logY, self.marks) = (logY, marks)
    }

    public static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]

    /// Charts stacked vertically in one SVG document.
    public static func svg(_ charts: [Chart], width: Double = 760, height: Double = 360) -> String {
        var body = ""
        for (i, chart) in charts.enumerated() { body += chart.group(width: width, height: height, top: Double(i) * height) }
        let total = height * Double(charts.count)
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(total))" viewBox="0 0 \(Int(width)) \(Int(total))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            \(body)</svg>

            """
    }

    /// "Nice" tick values (1, 2, 5 × 10^k steps) covering lower...upper.
    /// Each tick is k·step for a counted k, never a running sum: a range a few ulps wide (or huge)
    /// cannot loop for ever; a range no step can divide gets its two ends.
    public static func ticks(_ lower: Double, _ upper: Double, count: Int = 6) -> [Double] {
        guard lower.isFinite, upper.isFinite else { return [0] }
        guard upper > lower else { return [lower] }
        let raw = (upper - lower) / Double(count)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        let first = ceil(lower / step - 1e-9), last = floor(upper / step + 1e-9)
        guard step > 0, step.isFinite, first.isFinite, last.isFinite, last - first <= 100, first + 1 != first,
              (first + 1) * step != first * step else { return [lower, upper] }
        return stride(from: first, through: last, by: 1).map { k in abs(k * step) < step * 1e-9 ? 0 : k * step }
    }

    /// Ticks of a base-10 axis over lower...upper (both > 0): 1, 2 and 5 × 10^k, or every digit
    /// when that range spans less than one decade.
    public static func logTicks(_ lower: Double, _ upper: Double) -> [Double] {
        guard lower > 0, upper >= lower, lower.isFinite, upper.isFinite else { return [max(lower, 0), upper].filter(\.isFinite) }
        let first = Int(floor(log10(lower))), last = Int(ceil(log10(upper)))
        guard last - first <= 40 else { return [lower, upper] }
        let digits: [Double] = last - first <= 1 ? [1, 2, 3, 4, 5, 6, 7, 8, 9] : [1, 2, 5]
        var values: [Double] = []
        for k in first...last {
            for d in digits {
                let v = d * pow(10, Double(k))
                if v >= lower * (1 - 1e-9) && v <= upper * (1 + 1e-9) { values.append(v) }
            }
        }
        return values.isEmpty ? [lower, upper] : values
    }

    static func label(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
        var s = String(format: "%.4g", v)
        if s.contains("e") { s = String(format: "%.2e", v) }
        return s
    }

    private func group(width: Double, height: Double, top: Double) -> String {
        let left = 70.0, right = legendWidth, upper = 40.0, lower = 50.0
        let plotWidth = width - left - right, plotHeight = height - upper - lower
        let all = series.flatMap(\.points)
        guard !all.isEmpty else {
            return "<text x=\"\(left)\" y=\"\(top + upper)\">\(escape(title)): no data</text>\n"
        }
        let fx: (Double) -> Double = logX ? { log2(max($0, 1e-12)) } : { $0 }
        var xs = (all.map { fx($0.x) }.min()!, all.map { fx($0.x) }.max()!)
        if xs.0 == xs.1 { xs = (xs.0 - 1, xs.1 + 1) }
        let positive = all.map(\.y).filter { $0 > 0 }
        let logY = self.logY && !positive.isEmpty
        let fy: (Double) -> Double = logY ? { log10(max($0, positive.min()!)) } : { $0 }
        var ys: (Double, Double)
        let yTicks: [Double]
        if logY {
            yTicks = Self.logTicks(positive.min()!, positive.max()!)
            ys = (fy(min(positive.min()!, yTicks.first!)), fy(max(positive.max()!, yTicks.last!)))
            if ys.0 == ys.1 { ys = (ys.0 - 0.5, ys.1 + 0.5) }
        } else {
            ys = (yFrom ?? all.map(\.y).min()!, all.map(\.y).max()!)
            if ys.0 == ys.1 { ys = (ys.0 - 1, ys.1 + 1) }
            yTicks = Self.ticks(ys.0, ys.1)
            ys = (min(ys.0, yTicks.first!), max(ys.1, yTicks.last!))
        }
        let px = { (x: Double) in left + (fx(x) - xs.0) / (xs.1 - xs.0) * plotWidth }
        let py = { (y: Double) in top + upper + (1 - (fy(y) - ys.0) / (ys.1 - ys.0)) * plotHeight }

        var out = "<g>\n<text x=\"\(left + plotWidth / 2)\" y=\"\(top + 22)\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(escape(title))</text>\n"
        for y in yTicks {
            out += "<line x1=\"\(left)\" y1=\"\(f(py(y)))\" x2=\"\(left + plotWidth)\" y2=\"\(f(py(y)))\" stroke=\"#e4e4e4\"/>\n"
            out += "<text x=\"\(left - 6)\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(Self.label(y))</text>\n"
        }
        // Few whole-number x values (rank counts) are labelled as they are; otherwise nice ticks.
        let distinct = Array(Set(all.map(\.x))).sorted()
        let xTicks: [Double] = logX || (distinct.count <= 12 && distinct.allSatisfy { $0 == $0.rounded() } && distinct.count > 1 && distinct.last! <= 4096)
            ? distinct
            : Self.ticks(xs.0, xs.1)
        let labelled = self.xTicks.isEmpty ? xTicks.map { ($0, Self.label($0)) } : self.xTicks.map { ($0.x, $0.label) }
        for (x, label) in labelled {
            out += "<line x1=\"\(f(px(x)))\" y1=\"\(top + upper)\" x2=\"\(f(px(x)))\" y2=\"\(top + upper + plotHeight)\" stroke=\"#f0f0f0\"/>\n"
            out += "<text x=\"\(f(px(x)))\" y=\"\(top + upper + plotHeight + 16)\" text-anchor=\"middle\">\(escape(label))</text>\n"
        }
        out += "<rect x=\"\(left)\" y=\"\(top + upper)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        out += "<text x=\"\(left + plotWidth / 2)\" y=\"\(top + height - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text transform=\"translate(18,\(f(top + upper + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        out += drawSeries(px: px, py: py, legendX: left + plotWidth, legendY: top + upper)
        return out + "</g>\n"
    }

    /// Each series as a line (dots on its points if asked), its legend entry, and the marks.
    private func drawSeries(px: (Double) -> Double, py: (Double) -> Double, legendX: Double, legendY: Double) -> String {
        var out = ""
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let path = s.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6,4\"" : "") points=\"\(path)\"/>\n"
            if s.markers {
                for p in s.points { out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"\(s.color)\"/>\n" }
            }
            let ly = legendY + 10 + Double(i) * 20
            out += "<line x1=\"\(legendX + 14)\" y1=\"\(ly)\" x2=\"\(legendX + 40)\" y2=\"\(ly)\" stroke=\"\(s.color)\" stroke-width=\"2\"\(s.dashed ? " stroke-dasharray=\"6,4\"" : "")/>\n"
            out += "<text x=\"\(legendX + 46)\" y=\"\(ly + 4)\">\(escape(s.name))</text>\n"
        }
        for mark in marks {
            out += "<circle cx=\"\(f(px(mark.x)))\" cy=\"\(f(py(mark.y)))\" r=\"6\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\"/>\n"
            out += "<text x=\"\(f(px(mark.x)))\" y=\"\(f(py(mark.y) - 10))\" text-anchor=\"middle\" font-weight=\"bold\">\(escape(mark.label))</text>\n"
        }
        return out
    }

    private func f(_ v: Double) -> String { String(format: "%.1f", v) }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

extension Chart {
    /// Learning curves from a run's validation records: training loss, and validation and test error
    /// in percent, against epochs. The error axis is logarithmic when the errors span more than a
    /// factor of 3 (a long run's interesting part, near its best, would otherwise be a flat line),
    /// and the best validation error is marked with its value.
    public static func learningCurves(_ records: [ValidationRecord], title: String) -> [Chart] {
        let epoch = { (r: ValidationRecord) in Double(r.iteration) / Double(max(1, r.batchesPerEpoch)) }
        let x = { (r: ValidationRecord) in r.batchesPerEpoch > 0 ? epoch(r) : Double(r.epoch) }
        let errors = records.flatMap { [$0.validationError] + ($0.testError.map { [$0] } ?? []) }.filter { $0 > 0 }
        let spansWidely = (errors.max() ?? 0) > 3 * (errors.min() ?? 0) && !errors.isEmpty
        let best = records.min { $0.validationError < $1.validationError }
        let marks = best.map { [(x: x($0), y: $0.validationError * 100, label: String(format: "best %.2f %%", $0.validationError * 100))] } ?? []
        return [
            Chart(title: "\(title): training loss", xLabel: "epoch", yLabel: "mean NLL since previous validation",
                  series: [Series("training loss", records.map { (x($0), $0.trainLoss) }, color: palette[0])], yFrom: 0),
            Chart(title: "\(title): error", xLabel: "epoch", yLabel: "error (%)", series: [
                Series("validation", records.map { (x($0), $0.validationError * 100) }, color: palette[1]),
                Series("test (at new bests)", records.compactMap { r in r.testError.map { (x(r), $0 * 100) } }, color: palette[2], markers: true),
                Series("best validation", records.map { (x($0), $0.bestValidationError * 100) }, color: palette[1], dashed: true),
            ], logY: spansWidely, yFrom: 0, marks: marks),
        ]
    }
}
