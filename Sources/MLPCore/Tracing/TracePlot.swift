// A trace as a picture (`mlp plot --trace`), for people who do not open Perfetto: one row per rank,
// time across, each phase a coloured bar (a nested phase, such as the wait inside the exchange, a
// thinner bar inside its parent), over a chosen window; under it, each rank's total per phase
// over the whole trace.
import Foundation

/// The complete events ("X") of a trace-event file, by rank.
public struct TraceEvents {
    public struct Slice: Equatable {
        public var name: String
        public var start: Double      // microseconds
        public var duration: Double
    }

    public var ranks: [Int: [Slice]] = [:]
    public var names: [Int: String] = [:]

    /// The largest trace file read, so that a wrong file cannot take all memory.
    public static let largestFile = 1 << 30

    /// Reads `path` (a file written by `--trace`, or any trace-event JSON object or array).
    public static func read(_ path: String) throws -> TraceEvents {
        let fd: Int32, size: Int
        switch InputFile.open(path) {
        case .success(let opened): (fd, size) = opened
        case .failure(.missing): throw ConfigurationError("--trace \(path): no such file. Name a file written by `mlp train --trace`.")
        case .failure(.notAFile(let kind)): throw ConfigurationError("--trace \(path): is \(kind), not a file. Name a file written by `mlp train --trace`.")
        case .failure(.unreadable(let reason)): throw ConfigurationError("--trace \(path): cannot be read (\(reason)).")
        }
        defer { close(fd) }
        guard size <= largestFile else {
            throw ConfigurationError("--trace \(path): \(size) bytes, more than the \(largestFile) a trace may have. Record fewer steps (--trace-steps).")
        }
        var bytes: [UInt8] = []
        if let reason = InputFile.read(fd, into: &bytes, upTo: size) { throw ConfigurationError("--trace \(path): cannot be read (\(reason)).") }
        let root = try? JSONSerialization.jsonObject(with: Data(bytes))
        guard let events = (root as? [String: Any])?["traceEvents"] as? [Any] ?? root as? [Any] else {
            throw ConfigurationError("--trace \(path): not trace-event JSON (an object with \"traceEvents\", or an array of events). Name a file written by `mlp train --trace`.")
        }
        var trace = TraceEvents()
        for case let event as [String: Any] in events {
            guard let phase = event["ph"] as? String, let pid = event["pid"] as? Int else { continue }
            if phase == "M", event["name"] as? String == "process_name", let name = (event["args"] as? [String: Any])?["name"] as? String {
                trace.names[pid] = name
            }
            if phase == "X", let name = event["name"] as? String, let ts = (event["ts"] as? NSNumber)?.doubleValue,
               let duration = (event["dur"] as? NSNumber)?.doubleValue, ts.isFinite, duration.isFinite, duration >= 0 {
                trace.ranks[pid, default: []].append(Slice(name: name, start: ts, duration: duration))
            }
        }
        guard !trace.ranks.isEmpty else { throw ConfigurationError("--trace \(path): holds no slices to draw.") }
        return trace
    }

    /// The default window, in microseconds: the first validation and a little either side (its
    /// steps around it are recorded), else the first 2 ms.
    public var standardWindow: ClosedRange<Double> {
        let all = ranks.values.joined()
        if let validation = all.filter({ $0.name == "validation" }).min(by: { $0.start < $1.start }) {
            let margin = max(500, validation.duration * 0.25)
            return (validation.start - margin)...(validation.start + validation.duration + margin)
        }
        let first = all.map(\.start).min() ?? 0
        return first...(first + 2000)
    }

    /// Each rank's total microseconds and count per slice name, over the whole trace.
    public var totals: [Int: [String: (microseconds: Double, count: Int)]] {
        ranks.mapValues { slices in
            slices.reduce(into: [:]) { totals, s in
                totals[s.name, default: (0, 0)].microseconds += s.duration
                totals[s.name, default: (0, 0)].count += 1
            }
        }
    }
}

public enum TracePlot {
    static let colors: [String: String] = [
        "forward": "#1f77b4", "backward": "#17becf", "exchange": "#ff7f0e", "exchange wait": "#d62728",
        "update": "#2ca02c", "validation": "#9467bd", "scoring": "#c5b0d5", "checkpoint write": "#8c564b", "stop": "#7f7f7f",
    ]
    /// Phases drawn as thin bars inside their parent.
    static let nested: Set<String> = ["exchange wait", "scoring", "checkpoint write"]
    static let order = ["forward", "backward", "exchange", "exchange wait", "update", "validation", "scoring", "checkpoint write", "stop"]

    /// The SVG: the window's timeline, a legend, and the totals table.
    public static func svg(_ trace: TraceEvents, window: ClosedRange<Double>, title: String) -> String {
        let ranks = trace.ranks.keys.sorted()
        let width = 900.0, left = 150.0, right = 20.0, rowHeight = 34.0, top = 50.0
        let plotWidth = width - left - right
        let span = max(window.upperBound - window.lowerBound, 1e-3)
        func x(_ t: Double) -> Double { left + (min(max(t, window.lowerBound), window.upperBound) - window.lowerBound) / span * plotWidth }
        var body = ##"<text x="\##(left)" y="22" font-size="15" font-weight="bold">\##(xml(title))</text>"##
        body += ##"<text x="\##(left)" y="40" fill="#555">\##(xml(String(format: "%.3f ms to %.3f ms from the start of tracing", window.lowerBound / 1000, window.upperBound / 1000)))</text>"##
        for (row, rank) in ranks.enumerated() {
            let y = top + Double(row) * rowHeight
            body += ##"<text x="\##(left - 8)" y="\##(y + rowHeight / 2 + 4)" text-anchor="end">\##(xml(trace.names[rank] ?? "rank \(rank)"))</text>"##
            body += ##"<rect x="\##(left)" y="\##(y + 4)" width="\##(plotWidth)" height="\##(rowHeight - 8)" fill="#f4f4f4"/>"##
            for s in trace.ranks[rank]! where s.start + s.duration >= window.lowerBound && s.start <= window.upperBound {
                let thin = nested.contains(s.name)
                let (barTop, barHeight) = thin ? (y + rowHeight / 2 - 3, 6.0) : (y + 6, rowHeight - 12)
                let x0 = x(s.start), x1 = x(s.start + s.duration)
                body += ##"<rect x="\##(fixed(x0))" y="\##(barTop)" width="\##(fixed(max(x1 - x0, 0.5)))" height="\##(barHeight)" fill="\##(colors[s.name] ?? "#bbbbbb")"><title>\##(xml(s.name)) \##(String(format: "%.3f ms", s.duration / 1000))</title></rect>"##
            }
        }
        let axisY = top + Double(ranks.count) * rowHeight + 4
        body += ##"<line x1="\##(left)" y1="\##(axisY)" x2="\##(left + plotWidth)" y2="\##(axisY)" stroke="#333"/>"##
        for tick in Chart.ticks(window.lowerBound / 1000, window.upperBound / 1000) {
            let tx = x(tick * 1000)
            body += ##"<line x1="\##(fixed(tx))" y1="\##(axisY)" x2="\##(fixed(tx))" y2="\##(axisY + 5)" stroke="#333"/><text x="\##(fixed(tx))" y="\##(axisY + 18)" text-anchor="middle">\##(String(format: "%g", tick))</text>"##
        }
        body += ##"<text x="\##(left + plotWidth / 2)" y="\##(axisY + 34)" text-anchor="middle">milliseconds</text>"##
        var legendX = left, legendY = axisY + 56
        for name in order where colors[name] != nil {
            if legendX > width - 130 { legendX = left; legendY += 18 }
            body += ##"<rect x="\##(legendX)" y="\##(legendY - 10)" width="12" height="12" fill="\##(colors[name]!)"/><text x="\##(legendX + 16)" y="\##(legendY)">\##(name)</text>"##
            legendX += 120
        }
        var tableY = legendY + 34
        let totals = trace.totals
        let names = order.filter { name in totals.values.contains { $0[name] != nil } }
        body += ##"<text x="\##(left)" y="\##(tableY)" font-weight="bold">Whole trace, per rank: total ms (slices)</text>"##
        tableY += 20
        for (i, name) in ([""] + names).enumerated() {
            body += ##"<text x="\##(left + 90 + Double(i) * 72)" y="\##(tableY)" text-anchor="end" font-size="10">\##(xml(name))</text>"##
        }
        for rank in ranks {
            tableY += 16
            body += ##"<text x="\##(left - 8)" y="\##(tableY)" text-anchor="end">rank \##(rank)</text>"##
            for (i, name) in names.enumerated() {
                let cell = totals[rank]?[name].map { String(format: "%.1f (%d)", $0.microseconds / 1000, $0.count) } ?? "–"
                body += ##"<text x="\##(left + 90 + Double(i + 1) * 72)" y="\##(tableY)" text-anchor="end" font-size="10">\##(cell)</text>"##
            }
        }
        let height = tableY + 20
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            \(body)
            </svg>

            """
    }

    static func fixed(_ v: Double) -> String { String(format: "%.2f", v) }

    static func xml(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }
}
