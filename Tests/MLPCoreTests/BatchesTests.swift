import MLPCore
import Testing

@Suite struct BatchesTests {
    /// Shards cover every row of the batch exactly once, in order, with sizes differing by at most one.
    @Test(arguments: [(20, 1), (20, 2), (20, 3), (7, 7), (256, 5), (1024, 64), (13, 4)])
    func shardsTileTheBatch(_ batch: Int, _ ranks: Int) {
        let shards = Shard.all(batchSize: batch, worldSize: ranks)
        var next = 0
        for shard in shards {
            #expect(shard.start == next && shard.count >= 1)
            next += shard.count
        }
        #expect(next == batch)
        let sizes = shards.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
    }

    /// Rows split by cost: contiguous, covering every row once, each rank's cost within one row's
    /// cost of an equal share; all-zero costs fall back to equal counts.
    @Test(arguments: [1, 2, 3, 5])
    func costBalancedRowsTileTheWeight(_ ranks: Int) {
        var random = FixtureRandom(state: UInt64(ranks))
        let cost = (0..<784).map { i in i < 100 ? 1.0 : 1.0 + 99 * random.next() }   // a cheap border, uneven middle
        let ranges = (0..<ranks).map { Shard.rows(balancing: cost, rank: $0, worldSize: ranks) }
        #expect(ranges.first!.lowerBound == 0 && ranges.last!.upperBound == 784)
        for r in 1..<ranks { #expect(ranges[r].lowerBound == ranges[r - 1].upperBound) }
        let share = cost.reduce(0, +) / Double(ranks)
        for range in ranges {
            #expect(abs(range.reduce(0.0) { $0 + cost[$1] } - share) <= 100)
        }
        if ranks == 2 { #expect(ranges[0].count > 392) }   // the cheap border goes to rank 0
        #expect(Shard.rows(balancing: [0, 0, 0, 0, 0], rank: 1, worldSize: 2) == Shard.rows(5, rank: 1, worldSize: 2))
    }

    @Test func tutorialOrderDropsTheRemainder() {
        let set = randomBatch(rows: 105, inputs: 3, classes: 10, seed: 1)
        let schedule = MinibatchSchedule(train: set.all, batchSize: 20, shuffle: false, seed: 0)
        #expect(schedule.batchesPerEpoch == 5)
        #expect(schedule.batch(0).images.base == set.all.images.base)
        #expect(schedule.batch(6).images.base == set.all.images.base + 20 * 3)  // epoch 2, minibatch 1
        #expect(schedule.epoch(of: 4) == 0 && schedule.epoch(of: 5) == 1)
        #expect(schedule.sample(6, row: 3) == 23)
    }

    @Test func shuffledBatchesCoverAnEpochOnce() {
        let set = randomBatch(rows: 100, inputs: 2, classes: 10, seed: 2)
        for i in 0..<100 { set.pixels.base[2 * i] = Float(i) }   // first pixel = sample index
        let schedule = MinibatchSchedule(train: set.all, batchSize: 10, shuffle: true, seed: 9)
        var seen: [Int] = []
        for iteration in 10..<20 {  // epoch 1
            let batch = schedule.batch(iteration)
            for r in 0..<10 {
                let index = Int(batch.images.row(r)[0])
                seen.append(index)
                #expect(batch.labels[r] == set.all.labels[index])
                #expect(schedule.sample(iteration, row: r) == index)   // what the sparse first layer copies
            }
        }
        #expect(seen.sorted() == Array(0..<100))
        #expect(seen != Array(0..<100))
    }
}
