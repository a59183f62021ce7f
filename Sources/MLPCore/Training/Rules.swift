// What a hyperparameter or a piece of saved state may be. One set of rules for the flags that set a
// value and for the checkpoint that stores it, so a file cannot bring back what the CLI refuses.

public enum Rules {
    /// nil when `value` is allowed, else what it must be ("a finite number > 0").
    public typealias Rule<T> = @Sendable (T) -> String?

    public static let positive: Rule<Double> = { $0.isFinite && $0 > 0 ? nil : "a finite number > 0" }
    public static let nonNegative: Rule<Double> = { $0.isFinite && $0 >= 0 ? nil : "a finite number >= 0" }
    public static let fraction: Rule<Double> = { $0 >= 0 && $0 <= 1 ? nil : "a fraction in 0...1" }
    /// A best error before any validation is +infinity.
    public static let fractionOrUnset: Rule<Double> = { $0 == .infinity || ($0 >= 0 && $0 <= 1) ? nil : "a fraction in 0...1, or inf before the first validation" }
    public static func atLeast(_ minimum: Int) -> Rule<Int> { { $0 >= minimum ? nil : "at least \(minimum)" } }
    public static func within(_ range: ClosedRange<Int>) -> Rule<Int> {
        { range.contains($0) ? nil : "at least \(range.lowerBound) (and at most \(range.upperBound))" }
    }
}
