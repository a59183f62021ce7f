// Which rows of a global minibatch (and which rows of a weight) each rank takes.

/// The rows of a global minibatch that one rank computes: P contiguous shards whose sizes differ
/// by at most one, in rank order (rank r gets ⌊B/P⌋ + 1 rows if r < B mod P, else ⌊B/P⌋).
public struct Shard: Equatable, Sendable {
    public let start: Int
    public let count: Int

    public init(batchSize: Int, rank: Int, worldSize: Int) {
        precondition(batchSize >= worldSize && rank < worldSize, "every rank needs at least one row")
        let base = batchSize / worldSize, extra = batchSize % worldSize
        count = base + (rank < extra ? 1 : 0)
        start = rank * base + min(rank, extra)
    }

    /// All P shards of a batch, in rank order.
    public static func all(batchSize: Int, worldSize: Int) -> [Shard] {
        (0..<worldSize).map { Shard(batchSize: batchSize, rank: $0, worldSize: worldSize) }
    }

    /// The same split of `n` rows (a weight's rows among the ranks that update them), where a rank
    /// may get none when n < P.
    public static func rows(_ n: Int, rank: Int, worldSize: Int) -> Range<Int> {
        let base = n / worldSize, extra = n % worldSize
        let start = rank * base + min(rank, extra)
        return start..<start + base + (rank < extra ? 1 : 0)
    }

    /// A split of `n` hidden units (columns of W_0, for `--exchange columns`) whose blocks start on
    /// whole 64-byte vectors of a row (multiples of 16 floats) where the split allows: loads that
    /// straddle two cache lines made the rank whose block began at unit 250 of 500 slower.
    public static func units(_ n: Int, rank: Int, worldSize: Int) -> Range<Int> {
        guard n >= 16 * worldSize else { return rows(n, rank: rank, worldSize: worldSize) }
        func start(_ r: Int) -> Int { r == worldSize ? n : (n * r / worldSize + 8) / 16 * 16 }
        return start(rank)..<start(rank + 1)
    }

    /// `rows(balancing:)` with every range starting on an even row (the update takes rows of W₀ in
    /// pairs, and a pair must not straddle two ranks).
    public static func evenRows(balancing cost: [Double], rank: Int, worldSize: Int) -> Range<Int> {
        func start(_ r: Int) -> Int {
            r == 0 ? 0 : r == worldSize ? cost.count : rows(balancing: cost, rank: r, worldSize: worldSize).lowerBound / 2 * 2
        }
        return start(rank)..<max(start(rank), start(rank + 1))
    }

    /// A split of the rows 0 ..< cost.count into P contiguous ranges of about equal total cost:
    /// rank r's range ends at the first row where the running total reaches (r + 1)/P of the whole.
    /// Every rank computes the same ranges from the same costs.
    public static func rows(balancing cost: [Double], rank: Int, worldSize: Int) -> Range<Int> {
        let total = cost.reduce(0, +)
        guard total > 0 else { return rows(cost.count, rank: rank, worldSize: worldSize) }
        func end(_ r: Int) -> Int {
            guard r < worldSize else { return cost.count }
            let target = total * Double(r) / Double(worldSize)
            var sum = 0.0
            for (i, c) in cost.enumerated() { if sum >= target { return i }; sum += c }
            return cost.count
        }
        return end(rank)..<end(rank + 1)
    }
}
