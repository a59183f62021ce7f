// The configurations of a sweep: every combination of the values given for the swept
// hyper-parameters, in a fixed order, each named for its folder and turned into `mlp train` flags.

/// A hyper-parameter that `mlp sweep` takes a list of.
public enum SweepParameter: String, CaseIterable, Sendable, Codable, CodingKeyRepresentable {
    case lr, hidden, l1, l2, batchSize = "batch_size", lrDecay = "lr_decay"

    /// The `mlp train` flag that sets it.
    public var flag: String {
        switch self {
        case .lr: "--lr"
        case .hidden: "--hidden"
        case .l1: "--l1"
        case .l2: "--l2"
        case .batchSize: "--batch-size"
        case .lrDecay: "--lr-decay"
        }
    }

    /// Its key in a configuration's folder name.
    var key: String {
        switch self {
        case .batchSize: "batch"
        case .lrDecay: "decay"
        default: rawValue
        }
    }

    /// Rates and penalties are searched on a logarithmic grid, and plotted on a log axis.
    public var logarithmic: Bool { self != .hidden }

    /// `value` in one canonical spelling ("1e-4" and "0.0001" are the same rate), or nil if it is
    /// not a number of this parameter's kind. Hidden widths: "500", or "500x300" for two layers.
    public func canonical(_ value: String) -> String? {
        let text = value.trimmingCharacters(in: .whitespaces)
        switch self {
        case .hidden:
            let widths = text.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard !widths.isEmpty, widths.allSatisfy({ $0 != nil }) else { return nil }
            return widths.map { String($0!) }.joined(separator: "x")
        case .batchSize:
            return Int(text).map(String.init)
        default:
            guard let number = Double(text) else { return nil }
            guard number.isFinite else { return text.lowercased() }   // for mlp train to refuse, in its words
            return number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
        }
    }

    /// The canonical value as `mlp train` spells it ("500x300" is `--hidden 500,300`).
    public func trainArgument(_ canonical: String) -> String {
        self == .hidden ? canonical.replacingOccurrences(of: "x", with: ",") : canonical
    }
}

/// One configuration: a value for every swept parameter (canonical text).
public struct SweepPoint: Hashable, Sendable, Codable {
    public var values: [SweepParameter: String]

    public init(_ values: [SweepParameter: String]) { self.values = values }

    /// Its folder under --out: "lr=0.01_hidden=500_l2=0.0001" (the swept parameters only).
    public var name: String {
        SweepParameter.allCases.compactMap { p in values[p].map { "\(p.key)=\($0)" } }.joined(separator: "_")
    }

    /// Its flags for `mlp train`.
    /// Sets the request's swept values to this configuration's.
    public func apply(to request: inout RunRequest) {
        for (parameter, value) in values {
            switch parameter {
            case .lr: request.learningRate = Double(value)
            case .hidden: request.hidden = value.split(separator: "x").compactMap { Int($0) }
            case .l1: request.l1 = Double(value)
            case .l2: request.l2 = Double(value)
            case .batchSize: request.batchSize = Int(value)
            case .lrDecay: request.learningRateDecay = Double(value)
            }
        }
    }

    public var trainArguments: [String] {
        SweepParameter.allCases.flatMap { p in values[p].map { [p.flag, p.trainArgument($0)] } ?? [] }
    }

    public var description: String {
        SweepParameter.allCases.compactMap { p in values[p].map { "\(p.flag.dropFirst(2)) \($0)" } }.joined(separator: ", ")
    }
}

public enum SweepGrid {
    public struct ListError: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// The canonical values of one flag's comma-separated list: refused when empty, when a value is
    /// not a number of its kind, or when a value repeats.
    public static func values(_ parameter: SweepParameter, _ list: String) throws -> [String] {
        let items = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard items.count <= mostConfigurations else {
            throw ListError(description: "\(parameter.flag): \(items.count) values; a sweep trains at most \(mostConfigurations) configurations. Give fewer values.")
        }
        guard !list.trimmingCharacters(in: .whitespaces).isEmpty, !items.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) else {
            throw ListError(description: "\(parameter.flag) \"\(list)\": an empty value in the list. Give comma-separated values, e.g. \(parameter.flag) \(parameter == .hidden ? "100,500" : parameter == .batchSize ? "20,100" : "0.1,0.01").")
        }
        var seen: [String] = [], known = Set<String>()   // a set: linear in the list's length
        for item in items {
            guard let value = parameter.canonical(item) else {
                throw ListError(description: "\(parameter.flag) \(list): \"\(item)\" is not \(parameter == .hidden ? "a width (or widths joined by x, e.g. 500x300)" : parameter == .batchSize ? "a whole number" : "a number").")
            }
            guard known.insert(value).inserted else {
                throw ListError(description: "\(parameter.flag) \(list.count > 200 ? String(list.prefix(200)) + "..." : list): \(item) appears twice (as \(value)). Give each value once.")
            }
            seen.append(value)
        }
        return seen
    }

    /// The most configurations a sweep takes: a grid is counted before it is built.
    public static let mostConfigurations = 10_000

    /// Every combination, the first parameter varying slowest, values in the order given.
    public static func points(_ lists: [(SweepParameter, [String])]) throws -> [SweepPoint] {
        let count = lists.reduce(1) { $0.multipliedReportingOverflow(by: $1.1.count).overflow ? Int.max : $0 * $1.1.count }
        guard count <= mostConfigurations else {
            throw ListError(description: "\(lists.map { "\($0.0.flag) (\($0.1.count))" }.joined(separator: " × ")) make \(count == Int.max ? "more than \(Int.max)" : String(count)) configurations; a sweep trains at most \(mostConfigurations). Give fewer values, or run several sweeps.")
        }
        var points = [SweepPoint([:])]
        for (parameter, values) in lists {
            points = points.flatMap { point in values.map { value in
                var next = point
                next.values[parameter] = value
                return next
            } }
        }
        return points
    }
}
