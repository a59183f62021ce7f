// What a training run is given: the model, the optimizer, the data order and how ranks exchange.

public struct TrainingConfiguration: Equatable, Sendable {
    public var architecture = Architecture()
    public var sgd = SGD()
    public var batchSize = 20          // B, the global minibatch
    public var epochs = 1000
    public var patience = 10_000       // in iterations (minibatches)
    public var seed: UInt32 = 1234     // initial weights (numpy RandomState) and shuffling
    public var shuffle = false
    public var exchange: ExchangeMode = .auto
    public var checkReplicasEvery = 0  // steps; 0 = never
    public var checkpointDirectory: String?

    public init() {}
}
