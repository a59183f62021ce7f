// The data-parallel way that divides the update: every rank gathers the minibatch's factors as in
// FactorsStep, forms the update of its own block of W₀'s rows (pixels, divided so that each block
// holds about the same share of the non-zeros) and the blocks are gathered back. The update's work
// is divided, and the updated rows cross between the ranks (1.5 MB a step for the tutorial's W₀):
// worth it when the step is long (large batches), not at the tutorial's batch of 20.

final class ShardedStep: DataParallelStep, TrainingStep {
    private let pixels: PixelPairs       // the minibatch's non-zeros in this rank's pixels
    private let counts: Storage<Int32>, displacements: Storage<Int32>
    private let node: NodeAllgather?     // on one node: the rows through shared memory

    override init(_ architecture: Architecture, parameters: ParameterSet, sgd: SGD, batchSize: Int, world: Communicator,
                  trainingNonZeros: SparseRows) throws {
        let costs = trainingNonZeros.nonZerosPerColumn.map { Double($0) + 1 }
        let blocks = (0..<world.size).map { Shard.evenRows(balancing: costs, rank: $0, worldSize: world.size) }
        pixels = PixelPairs(capacity: batchSize, pixels: blocks[world.rank])
        let width = architecture.layerSizes[1]
        counts = Storage(count: world.size)
        displacements = Storage(count: world.size)
        for (r, block) in blocks.enumerated() {
            counts.base[r] = Int32(block.count * width)
            displacements.base[r] = Int32(block.lowerBound * width)
        }
        node = try world.nodeAllgather(slotFloats: blocks.map(\.count).max()! * width)
        try super.init(architecture, parameters: parameters, sgd: sgd, batchSize: batchSize, world: world, trainingNonZeros: trainingNonZeros)
    }

    var mode: ExchangeMode { .sharded }

    /// This rank's rows of W₀ and the other layers; then every rank's rows of W₀ gathered (the
    /// step's second exchange).
    func update(_ batch: Minibatch, rate eta: Double) throws {
        updateLayers(batch, pixels: pixels, rate: eta)
        let w = parameters.weight(0).base                                   // every rank's rows of W₀
        if let node {
            let rank = world.rank
            node.publish(w + Int(displacements.base[rank]), count: Int(counts.base[rank]))
            try node.collect(into: w, counts: counts.base, displacements: displacements.base)
        } else {
            try world.allgather(w, counts: counts.base, displacements: displacements.base)
        }
    }

    func assembleParameters() throws {}
}
