// A sweep's --out folder: sweep.json (the flags every configuration shares, so that a rerun with
// other flags is refused rather than mixed in), one folder per configuration (its log, checkpoints
// and result.json), and the tables and plot. World rank 0 owns the folder and its lock; each
// group's root writes its configurations' folders.
import Foundation

public final class SweepFolders {
    public let out: String
    /// --out, opened (and, on world rank 0, locked: one sweep per folder at a time) on first use.
    private var opened: OutputDirectory?

    public static let settingsFile = "sweep.json", resultFile = "result.json", logFile = "log.jsonl"

    public init(out: String) { self.out = out }

    private func directory() throws -> OutputDirectory {
        if let opened { return opened }
        let directory = try OutputDirectory(out, flag: "--out")
        opened = directory
        return directory
    }

    /// A configuration's folder, made when missing; a symbolic link in its place is refused.
    public func folder(_ point: SweepPoint) throws -> OutputDirectory { try directory().subdirectory(point.name) }

    /// Rank 0: makes --out (mkdir -p), takes its lock, and records `settings`, or checks them
    /// against the ones recorded by an earlier run.
    public func prepare(settings: [String: String]) throws {
        let directory = try directory()
        try directory.lock(by: "sweep")
        if directory.holdsFile(Self.settingsFile) {
            guard let bytes = directory.read(Self.settingsFile),
                  let stored = try? JSONDecoder().decode([String: String].self, from: Data(bytes)) else {
                throw SweepError("--out \(out): \(Self.settingsFile) is damaged. Remove it to start this sweep afresh, or choose another --out.", exitCode: 2)
            }
            for key in settings.keys.sorted() where stored[key] != settings[key] {
                throw SweepError("--out \(out) holds a sweep with other flags (\(key): \"\(stored[key] ?? "")\" there, \"\(settings[key]!)\" now). Give the same flags to continue it, or choose another --out.", exitCode: 2)
            }
        } else {
            try directory.write(Array(try Self.encoder.encode(settings)), to: Self.settingsFile, what: "the sweep's settings")
        }
    }

    /// Another group's root: --out must be the folder rank 0 prepared (a file system every node sees).
    public func checkShared(rank: Int, host: String) throws {
        guard try directory().holdsFile(Self.settingsFile) else {
            throw SweepError("--out \(out): rank \(rank) on \(host) does not see the \(Self.settingsFile) that rank 0 wrote there. --out must be on a file system every node shares.", exitCode: 2)
        }
    }

    /// How a configuration's training starts, as its folder says.
    public enum Start: Int64 {
        case fresh, resume, done
    }

    /// A group's root, before training `point` to `epochs` at `rung`: done already (its result
    /// says so: it reached these epochs, or it ended for good), go on from its last checkpoint, or
    /// start afresh (clearing what an attempt that never wrote a checkpoint left).
    public func decide(_ point: SweepPoint, rung: Int, epochs: Int) throws -> Start {
        if let result = try result(point), result.status != .done || result.rungEpochs >= epochs { return .done }
        let folder = try self.folder(point)
        if folder.holdsFile(Trainer.lastCheckpoint) { return .resume }
        for name in [Self.logFile, Self.resultFile, Trainer.bestCheckpoint] { folder.remove(name) }
        return .fresh
    }

    /// The result recorded in a configuration's folder, if any.
    public func result(_ point: SweepPoint) throws -> SweepResult? {
        try folder(point).read(Self.resultFile).flatMap { try? JSONDecoder().decode(SweepResult.self, from: Data($0)) }
    }

    /// The results recorded so far, in grid order.
    public func results(_ points: [SweepPoint]) throws -> [SweepResult] { try points.compactMap(result) }

    /// A group's root: a configuration's result.json, written atomically.
    public func record(_ result: SweepResult) throws {
        try folder(result.point).write(Array(try Self.encoder.encode(result)), to: Self.resultFile, what: "the configuration's result")
    }

    /// Rank 0: results.csv, results.md, results.jsonl (best validation error first) and results.svg.
    public func writeTables(_ results: [SweepResult], lists: [(SweepParameter, [String])], order: [SweepPoint], halving: Bool) throws {
        let ranked = SweepResult.ranked(results, order: order)
        try write(Array(SweepResult.csv(ranked, halving: halving).utf8), to: "results.csv")
        try write(Array(SweepResult.markdown(ranked, halving: halving).utf8), to: "results.md")
        try write(Array(try SweepResult.jsonLines(ranked).utf8), to: "results.jsonl")
        let charts = Chart.sweep(results, lists: lists)
        if !charts.isEmpty { try write(Array(Chart.svg(charts, width: 840).utf8), to: "results.svg") }
    }

    private func write(_ bytes: [UInt8], to name: String) throws {
        try directory().write(bytes, to: name, what: "the sweep's table")
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }()
}
