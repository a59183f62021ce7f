// The run's metrics as JSON Lines (one object per line): a "start" object, one "validation" object
// per validation, and a final "done" object. Errors are fractions (0.0165), never percent.
// This file is the single source for plots and CSV.
import Foundation

public enum RunLog {
    public static func validation(_ r: ValidationRecord) -> JSONValue {
        .object([
            ("event", .string("validation")), ("epoch", .integer(r.epoch)), ("iteration", .integer(r.iteration)),
            ("train_loss", .number(r.trainLoss)), ("validation_error", .number(r.validationError)),
            ("best_validation_error", .number(r.bestValidationError)), ("test_error", r.testError.json),
            ("seconds", .number(r.seconds)), ("samples_per_second", .number(r.samplesPerSecond)),
        ])
    }

    public static func done(_ s: TrainingSummary, profile: [StepProfile]?) -> JSONValue {
        var pairs: [(String, JSONValue)] = [
            ("event", .string("done")), ("best_validation_error", .number(s.bestValidationError)),
            ("best_iteration", .integer(s.bestIteration)), ("test_error", s.testError.json),
            ("epochs", .integer(s.epochs)), ("iterations", .integer(s.iterations)), ("seconds", .number(s.seconds)),
            ("world_size", .integer(s.worldSize)), ("stop_reason", .string(s.stopReason.rawValue)),
        ]
        if let profile {
            pairs.append(("profile", .array(profile.enumerated().map { rank, p in
                .object([("rank", .integer(rank)), ("steps", .integer(p.steps))] +
                        zip(StepProfile.fields, p.values).map { ($0.0 + "_seconds", .number($0.1)) })
            })))
        }
        return .object(pairs)
    }

    /// The validation records of a JSON Lines log (other events skipped), for plots and CSV.
    public static func readValidations(_ path: String) throws -> [ValidationRecord] {
        var records: [ValidationRecord] = []
        var batchesPerEpoch = 0
        try TextLines.read(path, what: "the log file", hint: "Pass a file written by `mlp train --log-json`.") { index, line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw ConfigurationError("\(path):\(index + 1): not a JSON object. Pass a file written by `mlp train --log-json`.")
            }
            func count(_ key: String) throws -> Int? {
                guard let value = object[key] else { return nil }
                guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue), (0...Int(Int32.max) * 1000).contains(exact) else {
                    throw ConfigurationError("\(path):\(index + 1): \(key) is not a count of the size a run reaches.")
                }
                return exact
            }
            if object["event"] as? String == "start" {
                batchesPerEpoch = try count("batches_per_epoch") ?? 0
                // A resumed run continues from its checkpoint's iteration: validations the first run
                // logged after that checkpoint are done again, and the new ones replace them.
                let from = try count("iteration") ?? 0
                records.removeAll { $0.iteration > from }
            }
            guard object["event"] as? String == "validation" else { return }
            func number(_ key: String, _ range: ClosedRange<Double>) throws -> Double {
                guard let value = (object[key] as? NSNumber)?.doubleValue else {
                    throw ConfigurationError("\(path):\(index + 1): validation record without \(key).")
                }
                guard range.contains(value) else { throw ConfigurationError("\(path):\(index + 1): \(key) \(value) is not in \(range).") }
                return value
            }
            func required(_ key: String) throws -> Int {
                guard let value = try count(key) else { throw ConfigurationError("\(path):\(index + 1): validation record without \(key).") }
                return value
            }
            let test = try object["test_error"] is NSNumber ? number("test_error", 0...1) : nil
            records.append(ValidationRecord(
                epoch: try required("epoch"), iteration: try required("iteration"), batchesPerEpoch: batchesPerEpoch,
                trainLoss: try number("train_loss", 0...1e30), validationError: try number("validation_error", 0...1),
                bestValidationError: try number("best_validation_error", 0...1),
                testError: test, improved: test != nil,
                seconds: try number("seconds", 0...1e12), samplesPerSecond: try number("samples_per_second", 0...1e15)))
        }
        return records
    }

    /// The CSV form of validation records, one header line then one line per record.
    public static func csv(_ records: [ValidationRecord]) -> String {
        var lines = ["epoch,iteration,train_loss,validation_error,best_validation_error,test_error,seconds,samples_per_second"]
        for r in records {
            lines.append([String(r.epoch), String(r.iteration), String(r.trainLoss), String(r.validationError),
                          String(r.bestValidationError), r.testError.map { String($0) } ?? "",
                          String(r.seconds), String(r.samplesPerSecond)].joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func csvLine(_ r: ValidationRecord) -> String {
        String(csv([r]).split(separator: "\n")[1]) + "\n"
    }
}
