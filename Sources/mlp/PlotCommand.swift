// `mlp plot` draws a run's learning curves from its JSON log.
import ArgumentParser
import Foundation
import MLPCore

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw learning curves (training loss; validation and test error) from a --log-json file as SVG.")

    @Argument(help: ArgumentHelp("A JSON Lines log written by `mlp train --log-json`.", valueName: "log"))
    var log: String

    @OptionGroup var target: OutputFileOption

    @Flag(help: "Instead of a plot, print the validation records as CSV on stdout.")
    var printCsv = false

    @Flag(help: .hidden) var csv = false   // the earlier spelling of --print-csv

    func run() throws {
        signal(SIGPIPE, SIG_DFL)   // `| head` ends this quietly, as it ends any Unix tool
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
}

