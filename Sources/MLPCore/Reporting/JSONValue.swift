// A JSON value small enough for log lines, encoded in the order its keys were given.
import Foundation

/// A JSON value small enough for log lines.
public enum JSONValue: Equatable, Sendable {
    case number(Double), integer(Int), string(String), bool(Bool), null
    case object([(String, JSONValue)])
    case array([JSONValue])

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.encoded == b.encoded }

    /// Compact JSON text; keys keep their order; non-finite numbers become null.
    public var encoded: String {
        switch self {
        case .number(let x): return x.isFinite ? String(x) : "null"
        case .integer(let n): return String(n)
        case .string(let s): return SafeTensorsFile.jsonString(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .object(let pairs): return "{" + pairs.map { SafeTensorsFile.jsonString($0.0) + ":" + $0.1.encoded }.joined(separator: ",") + "}"
        case .array(let items): return "[" + items.map(\.encoded).joined(separator: ",") + "]"
        }
    }
}

extension Optional where Wrapped == Double {
    var json: JSONValue { map(JSONValue.number) ?? .null }
}
