// A sweep's --out folder: sweep.json (the flags every configuration shares, so that a rerun with
// other flags is refused rather than mixed in), one folder per configuration (its log, checkpoints
// and result.json), and the tables and plot. World rank 0 owns the folder and its lock; each
// group's root writes its configurations' folders.
import Foundation

public struct SweepError: UserFacingError, Equatable {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) { (self.message, self.exitCode) = (message, exitCode) }
    public var description: String { message }
}

public final class SweepFolders {
    public let out: String
    /// Rank 0's hold on --out: one sweep per folder at a time.
    private var writer: CheckpointWriter?

    public static let settingsFile = "sweep.json", resultFile = "result.json"

    public init(out: String) { self.out = out }

    public func folder(_ point: SweepPoint) -> String { (out as NSString).appendingPathComponent(point.name) }
    private func file(_ point: SweepPoint, _ name: String) -> String { (folder(point) as NSString).appendingPathComponent(name) }

    /// Rank 0: makes --out (mkdir -p), takes its lock, and records `settings`, or checks them
    /// against the ones recorded by an earlier run.
    public func prepare(settings: [String: String]) throws {
        let writer = try CheckpointWriter(directory: out, flag: "--out")
        self.writer = writer
        let path = writer.path(Self.settingsFile)
        if let bytes = FileManager.default.contents(atPath: path) {
            guard let stored = try? JSONDecoder().decode([String: String].self, from: bytes) else {
                throw SweepError("--out \(out): \(Self.settingsFile) is damaged. Remove it to start this sweep afresh, or choose another --out.", exitCode: 2)
            }
            for key in settings.keys.sorted() where stored[key] != settings[key] {
                throw SweepError("--out \(out) holds a sweep with other flags (\(key): \"\(stored[key] ?? "")\" there, \"\(settings[key]!)\" now). Give the same flags to continue it, or choose another --out.", exitCode: 2)
            }
        } else {
            try write(Array(try Self.encoder.encode(settings)), to: Self.settingsFile)
        }
    }

    /// Another group's root: --out must be the folder rank 0 prepared (a file system every node sees).
    public func checkShared(rank: Int, host: String) throws {
        guard FileManager.default.fileExists(atPath: (out as NSString).appendingPathComponent(Self.settingsFile)) else {
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
        if let result = result(point), result.status != .done || result.rungEpochs >= epochs { return .done }
        if FileManager.default.fileExists(atPath: file(point, Trainer.lastCheckpoint)) { return .resume }
        for name in ["log.jsonl", Self.resultFile, Trainer.bestCheckpoint] { unlink(file(point, name)) }
        return .fresh
    }

    /// The result recorded in a configuration's folder, if any.
    public func result(_ point: SweepPoint) -> SweepResult? {
        FileManager.default.contents(atPath: file(point, Self.resultFile)).flatMap { try? JSONDecoder().decode(SweepResult.self, from: $0) }
    }

    /// The results recorded so far, in grid order.
    public func results(_ points: [SweepPoint]) -> [SweepResult] { points.compactMap(result) }

    /// A group's root: a configuration's result.json, written atomically.
    public func record(_ result: SweepResult) throws {
        let writer = try CheckpointWriter(directory: folder(result.point), flag: "--out")
        try writer.write(Array(try Self.encoder.encode(result)), to: Self.resultFile)
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
        guard let writer else { preconditionFailure("prepare(settings:) first") }
        try writer.write(bytes, to: name)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return encoder
    }()
}
