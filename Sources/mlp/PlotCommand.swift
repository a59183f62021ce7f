// `mlp plot` draws a run's learning curves from its JSON log, or its timeline from a --trace file.
import ArgumentParser
import Foundation
import MLPCore

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw learning curves (training loss; validation and test error) from a --log-json file, or a --trace file's timeline, as SVG.")

    @Argument(help: ArgumentHelp("A JSON Lines log written by `mlp train --log-json`.", valueName: "log"))
    var log: String?

    @Option(help: ArgumentHelp("Draw this trace (written by `mlp train --trace`) instead: ranks as rows, time across, a bar per phase, and each rank's totals per phase.", valueName: "file"))
    var trace: String?

    @Option(help: ArgumentHelp("With --trace: the milliseconds to draw, from the start of tracing (default: the first validation and the steps around it).", valueName: "from:to"))
    var window: String?

    @OptionGroup var target: OutputFileOption

    @Flag(help: "Instead of a plot, print the validation records as CSV on stdout.")
    var printCsv = false

    @Flag(help: .hidden) var csv = false   // the earlier spelling of --print-csv

    func validate() throws {
        guard (log == nil) != (trace == nil) else { throw ValidationError("name a log to plot, or --trace FILE, and not both.") }
        if window != nil && trace == nil { throw ValidationError("--window: chooses the part of a --trace to draw; add --trace FILE.") }
        if let window, milliseconds(window) == nil { throw ValidationError("--window \(window): must be FROM:TO in milliseconds, FROM < TO, e.g. 100:120.") }
        if trace != nil && (printCsv || csv) { throw ValidationError("--print-csv: prints a log's records; a trace has none.") }
    }

    func run() throws {
        signal(SIGPIPE, SIG_DFL)   // `| head` ends this quietly, as it ends any Unix tool
        if let trace { return try plotTrace(trace) }
        let log = log!
        let records = try RunLog.readValidations(log)
        if csv { warn("--csv is now --print-csv; the old name goes in the next release") }
        if printCsv || csv {
            print(RunLog.csv(records), terminator: "")
            return
        }
        guard !records.isEmpty else { throw ConfigurationError("\(log): no validation records to plot yet.") }
        let name = ((log as NSString).lastPathComponent as NSString).deletingPathExtension
        let path = target.output ?? "learning-curves.svg"
        try write(Chart.svg(Chart.learningCurves(records, title: name)), to: path)
        note("wrote \(path) (\(records.count) validations)")
    }

    private func plotTrace(_ file: String) throws {
        let events = try TraceEvents.read(file)
        let span = window.flatMap(milliseconds).map { ($0.lowerBound * 1000)...($0.upperBound * 1000) } ?? events.standardWindow
        let path = target.output ?? "trace.svg"
        let ranks = events.ranks.count
        try write(TracePlot.svg(events, window: span, title: "\(file): \(ranks) rank\(ranks == 1 ? "" : "s")"), to: path)
        note("wrote \(path) (\(ranks) rank\(ranks == 1 ? "" : "s"), \(events.ranks.values.map(\.count).reduce(0, +)) slices)")
    }

    private func milliseconds(_ text: String) -> ClosedRange<Double>? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
        guard parts.count == 2, let from = parts[0], let to = parts[1], from.isFinite, to.isFinite, from < to else { return nil }
        return from...to
    }
}
