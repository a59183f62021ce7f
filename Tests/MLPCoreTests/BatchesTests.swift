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

@Suite struct ExchangePlanTests {
    let layout = ParameterLayout(Architecture())

    @Test func oneRankFusesEverything() {
        for mode in ExchangeMode.allCases {
            #expect(ExchangePlan.choose(mode, layout: layout, batchSize: 20, worldSize: 1, acrossNodes: false).layers == [.factors, .factors])
        }
    }

    /// `auto` is data-parallel on every world: it never divides the model.
    @Test func autoIsDataParallel() {
        for batch in [1, 20, 256, 1024, 8192] {
            for ranks in [2, 3, 4, 8, 64] where ranks <= batch {
                for (acrossNodes, shared) in [(false, false), (false, true), (true, false)] {
                    let plan = ExchangePlan.choose(.auto, layout: layout, batchSize: batch, worldSize: ranks,
                                                   acrossNodes: acrossNodes, sharedParameters: shared)
                    #expect(plan.isDataParallel && plan.layers.allSatisfy { $0 != .split && $0 != .columns }, "\(batch) on \(ranks): \(plan)")
                    #expect(plan.sharedParameters == shared)
                }
            }
        }
    }

    @Test func autoFollowsTheSizes() {
        // One node, one shared copy: each rank updates its rows; no weight moves.
        #expect(ExchangePlan.choose(.auto, layout: layout, batchSize: 20, worldSize: 2, acrossNodes: false,
                                    sharedParameters: true).layers == [.sharded, .sharded])
        // Across nodes at the tutorial's batch: B×500 delta rows cost far less than the 784×500
        // gradient, even with the GEMM every rank repeats. At 8192 samples the gradient is cheaper.
        #expect(ExchangePlan.choose(.auto, layout: layout, batchSize: 20, worldSize: 2, acrossNodes: true).layers.first == .factors)
        #expect(ExchangePlan.choose(.auto, layout: layout, batchSize: 8192, worldSize: 2, acrossNodes: true).layers.first == .dense)

        // The model-parallel first layer only when asked for; sharded where rows can be divided.
        #expect(ExchangePlan.choose(.split, layout: layout, batchSize: 20, worldSize: 2, acrossNodes: false).layers == [.split, .sharded])
        #expect(ExchangePlan.choose(.sharded, layout: ParameterLayout(Architecture(hiddenSizes: [3])), batchSize: 20, worldSize: 4,
                                    acrossNodes: false).layers == [.sharded, .factors], "3 inputs cannot be split over 4 ranks")
        let columns = ExchangePlan.choose(.columns, layout: layout, batchSize: 20, worldSize: 2, acrossNodes: false, sharedParameters: true)
        #expect(columns.layers == [.columns, .columns] && columns.dividesHiddenUnits && !columns.sharedParameters)
        #expect(ExchangePlan.choose(.dense, layout: layout, batchSize: 20, worldSize: 2, acrossNodes: false).layers == [.dense, .dense])
        #expect(ExchangePlan.choose(.factors, layout: layout, batchSize: 256, worldSize: 2, acrossNodes: false).layers == [.factors, .factors])
        #expect(ExchangePlan.choose(.factors, layout: layout, batchSize: 256, worldSize: 2, acrossNodes: false,
                                    sharedParameters: true).layers == [.sharded, .sharded], "shared: factors means sharded")
    }
}
