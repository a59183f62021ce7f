// Successive halving (Jamieson & Talwalkar 2016; Li et al., Hyperband, 2018): every configuration
// trains E epochs, the better half by validation error goes on to 2E, then 4E, ..., up to the last
// rung at --epochs. Without --halving a sweep is one rung at --epochs.
public enum Halving {
    /// The epochs each rung trains to: E, 2E, 4E, ... and --epochs last.
    public static func rungs(every: Int?, epochs: Int) -> [Int] {
        guard let every, every < epochs else { return [epochs] }
        var rungs: [Int] = []
        var e = every
        while e < epochs { rungs.append(e); e *= 2 }
        return rungs + [epochs]
    }

    /// Of the results of rung `rung` (0-based), the configurations that train on: the better half
    /// (rounded up) by the validation error each had at that rung's end, ties in grid order, less
    /// those that cannot go on (patience ran out, or they diverged or failed).
    public static func survivors(of results: [SweepResult], rung: Int, order: [SweepPoint]) -> [SweepPoint] {
        let atRung = { (r: SweepResult) in r.rungErrors.count > rung ? r.rungErrors[rung] : nil }
        let ranked = SweepResult.ranked(results, order: order, by: atRung)
        let wentOn = { (r: SweepResult) in r.rung > rung + 1 || r.status == .done }
        return ranked.prefix((ranked.count + 1) / 2).filter { atRung($0) != nil && wentOn($0) }.map(\.point)
    }
}
