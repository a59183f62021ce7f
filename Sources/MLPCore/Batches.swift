// Which samples make up each global minibatch, and which rows of it each rank takes.

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

/// The tutorial's order: minibatch i of an epoch is samples i·B ..< (i+1)·B, and the samples beyond
/// the last full minibatch are not used. With `shuffle`, each epoch instead follows a permutation
/// drawn from (seed, epoch), gathered into a staging buffer.
public final class MinibatchSchedule {
    public let batchSize: Int
    public let batchesPerEpoch: Int
    public let shuffle: Bool
    public let seed: UInt64
    private let train: Samples
    private let staging: LabeledImages
    private var order: [Int32]
    private var orderEpoch = -1

    public init(train: Samples, batchSize: Int, shuffle: Bool, seed: UInt64) {
        precondition(batchSize >= 1 && batchSize <= train.count, "batch size outside 1...\(train.count)")
        self.train = train
        self.batchSize = batchSize
        self.shuffle = shuffle
        self.seed = seed
        batchesPerEpoch = train.count / batchSize
        staging = LabeledImages(count: shuffle ? batchSize : 0, pixelsPerImage: train.images.columns)
        order = []
    }

    /// The epoch (0-based) that minibatch number `iteration` belongs to.
    public func epoch(of iteration: Int) -> Int { iteration / batchesPerEpoch }

    /// The global minibatch of `iteration` (0-based over the whole run): images (B, 784), labels (B).
    public func batch(_ iteration: Int) -> Samples {
        let index = iteration % batchesPerEpoch
        guard shuffle else { return train.slice(index * batchSize, count: batchSize) }
        let columns = train.images.columns
        for row in 0..<batchSize {
            let source = sample(iteration, row: row)
            staging.all.images.row(row).update(from: train.images.row(source), count: columns)
            staging.all.labels[row] = train.labels[source]
        }
        return staging.all
    }

    /// The training sample at row `row` of minibatch `iteration`.
    public func sample(_ iteration: Int, row: Int) -> Int {
        let index = iteration % batchesPerEpoch
        guard shuffle else { return index * batchSize + row }
        let epoch = epoch(of: iteration)
        if epoch != orderEpoch {
            order = MersenneTwister.epochPermutation(count: train.count, seed: seed, epoch: epoch)
            orderEpoch = epoch
        }
        return Int(order[index * batchSize + row])
    }
}
