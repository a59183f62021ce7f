// Which samples make up each global minibatch, epoch after epoch.

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

    /// The global minibatch of `iteration` with where each of its rows comes from.
    public func minibatch(_ iteration: Int) -> Minibatch {
        Minibatch(iteration: iteration, samples: batch(iteration), schedule: self)
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

/// One global minibatch: its samples, and for each row the training sample it is (the kernels take
/// the rows' non-zeros from the training set's, listed once).
public struct Minibatch {
    public let iteration: Int
    public let samples: Samples              // images (B, 784), labels (B)
    let schedule: MinibatchSchedule

    public var count: Int { samples.count }

    /// The training set's row that row `r` of this minibatch is.
    @inline(__always)
    func trainingRow(_ r: Int) -> Int { schedule.sample(iteration, row: r) }
}
