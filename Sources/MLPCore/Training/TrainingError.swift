// What can go wrong while training that the user can fix by changing the run, and how a failure on
// one rank reaches the others.

/// Something went wrong while training that the user can fix by changing the run.
public enum TrainingError: UserFacingError, Equatable {
    case nonFinite(iteration: Int, what: String, learningRate: Double, scaled: Bool)
    case replicasDiverged(iteration: Int, ranks: [Int])
    case failedOnOtherRank(rank: Int, exitCode: Int32)
    case failedOnEveryRank(exitCode: Int32)

    public var description: String {
        switch self {
        case .nonFinite(let iteration, let what, let lr, let scaled):
            return "the \(what) became NaN or infinite at iteration \(iteration); training diverged. "
                + (scaled ? "The scaled learning rate was \(lr) then: try a smaller --lr, a smaller --batch-size or a longer --warmup-epochs."
                          : "Try a smaller learning rate than --lr \(lr).")
        case .replicasDiverged(let iteration, let ranks):
            return "replicas diverged at iteration \(iteration): the parameters of rank(s) \(ranks.map(String.init).joined(separator: ", ")) differ from rank 0's. This is a bug; please report it with the command line."
        case .failedOnOtherRank(let rank, _):
            return "stopping: rank \(rank) failed (see its message)."
        case .failedOnEveryRank:
            return "every rank failed (see rank 0's message)."
        }
    }

    public var exitCode: Int32 {
        switch self {
        case .failedOnOtherRank(_, let code), .failedOnEveryRank(let code): return code
        default: return 1
        }
    }

    public var raisedByEveryRank: Bool {
        switch self {
        case .nonFinite, .replicasDiverged, .failedOnEveryRank: return true
        case .failedOnOtherRank: return false
        }
    }
}
