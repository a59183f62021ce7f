// What one configuration of a sweep came to, and the sweep's tables: results.csv, results.md and
// results.jsonl, one row per configuration, best validation error first. Each configuration's row
// is also kept in its own folder (result.json), which is how a rerun knows it is done.
import Foundation

public struct SweepResult: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        case done, patience, diverged, failed
    }

    public var point: SweepPoint
    /// The swept values and the fixed ones, as the table shows them (lr, hidden, l1, l2, batch_size, lr_decay).
    public var settings: [String: String]
    public var bestValidationError: Double?     // nil: no finite validation error
    public var bestIteration: Int
    public var testError: Double?
    public var epochs: Int
    public var seconds: Double
    public var ranks: Int
    /// The group that trained it last (which one depends on timing; the figures do not).
    public var group: Int
    public var status: Status
    /// With successive halving: the rung it stopped at (1-based) and the epochs that rung trains to.
    public var rung: Int
    public var rungEpochs: Int
    /// The best validation error at the end of each rung it trained (what halving chose on).
    public var rungErrors: [Double?]
    public var reason: String

    public init(point: SweepPoint, settings: [String: String], bestValidationError: Double?, bestIteration: Int, testError: Double?,
                epochs: Int, seconds: Double, ranks: Int, group: Int, status: Status, rung: Int, rungEpochs: Int, rungErrors: [Double?], reason: String) {
        (self.point, self.settings, self.bestValidationError, self.bestIteration, self.testError) = (point, settings, bestValidationError, bestIteration, testError)
        (self.epochs, self.seconds, self.ranks, self.status, self.rung, self.rungEpochs, self.reason) = (epochs, seconds, ranks, status, rung, rungEpochs, reason)
        self.rungErrors = rungErrors
        self.group = group
    }

    /// Sorting key: validation error only (the test error is reported, never chosen on), failures last,
    /// ties in grid order (`order`).
    public static func ranked(_ results: [SweepResult], order: [SweepPoint], by error: (SweepResult) -> Double? = \.bestValidationError) -> [SweepResult] {
        let index = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        return results.sorted { a, b in
            let x = error(a) ?? .infinity, y = error(b) ?? .infinity
            return x != y ? x < y : (index[a.point] ?? .max) < (index[b.point] ?? .max)
        }
    }

    // MARK: - Tables

    public static let columns = ["lr", "hidden", "l1", "l2", "batch_size", "lr_decay", "best_validation_error", "best_iteration",
                                 "test_error", "epochs", "seconds", "ranks", "status"]

    /// The columns' values; errors as fractions, as the logs give them.
    var fields: [String] {
        let settingColumns = Self.columns.prefix(6).map { settings[$0] ?? "" }
        return settingColumns + [bestValidationError.map { String(format: "%.6f", $0) } ?? "", String(bestIteration),
                                 testError.map { String(format: "%.6f", $0) } ?? "", String(epochs), String(format: "%.1f", seconds),
                                 String(ranks), status.rawValue]
    }

    public static func csv(_ rows: [SweepResult], halving: Bool) -> String {
        let header = columns + (halving ? ["rung"] : []) + ["reason"]
        let lines = rows.map { r in (r.fields + (halving ? [String(r.rung)] : []) + [r.reason]).map(csvField).joined(separator: ",") }
        return ([header.joined(separator: ",")] + lines).joined(separator: "\n") + "\n"
    }

    public static func markdown(_ rows: [SweepResult], halving: Bool) -> String {
        let header = ["lr", "hidden", "l1", "l2", "batch", "lr decay", "validation error", "best iteration", "test error", "epochs", "seconds", "ranks", "status"]
            + (halving ? ["rung"] : [])
        var out = "| " + header.joined(separator: " | ") + " |\n|" + header.map { _ in "---:" }.joined(separator: "|") + "|\n"
        for r in rows {
            var f = r.fields
            f[6] = r.bestValidationError.map { String(format: "%.2f %%", $0 * 100) } ?? "–"
            f[8] = r.testError.map { String(format: "%.2f %%", $0 * 100) } ?? "–"
            if !r.reason.isEmpty { f[12] += ": " + r.reason.replacingOccurrences(of: "|", with: "/") }
            out += "| " + (f + (halving ? ["\(r.rung) (\(r.rungEpochs) epochs)"] : [])).joined(separator: " | ") + " |\n"
        }
        return out
    }

    public static func jsonLines(_ rows: [SweepResult]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try rows.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n") + "\n"
    }

    private static func csvField(_ text: String) -> String {
        text.contains(where: { ",\"\n".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}
