// The default data-parallel way: every rank trains its shard of the minibatch, gathers every row's
// factors (one allgather), and forms the whole update itself, in the minibatch's order. Nothing but
// the factors crosses between the ranks (B × 1011 floats for the tutorial's model), so the speed of
// a step does not depend on how the machine connects its cores; the price is that every rank
// repeats the update.

final class FactorsStep: DataParallelStep, TrainingStep {
    private let pixels: PixelPairs       // the whole minibatch's non-zeros, by pairs of pixels

    override init(_ architecture: Architecture, parameters: ParameterSet, sgd: SGD, batchSize: Int, world: Communicator,
                  trainingNonZeros: SparseRows) throws {
        pixels = PixelPairs(capacity: batchSize, pixels: 0..<architecture.inputSize)
        try super.init(architecture, parameters: parameters, sgd: sgd, batchSize: batchSize, world: world, trainingNonZeros: trainingNonZeros)
    }

    var mode: ExchangeMode { .factors }

    /// W₀ from the minibatch's non-zeros (only the rows some sample has), then the other layers.
    func update(_ batch: Minibatch, rate eta: Double) throws {
        updateLayers(batch, pixels: pixels, rate: eta)
    }

    func assembleParameters() throws {}
}
