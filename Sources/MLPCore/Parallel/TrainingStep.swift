// One way of dividing a training step among the ranks, behind one small protocol. The trainer calls
// forward, backward, finishExchange and update in that order, whatever the way (chosen once, at
// set-up: ExchangeMode). Every way leaves each rank with exactly the parameters one rank alone
// would have: every sum of an update runs over the whole minibatch in its own order, on every rank,
// and every product of a row depends on that row alone (Kernels/Tile.swift).

/// How each rank's work in a step reaches the others.
public enum ExchangeMode: String, CaseIterable, Sendable {
    /// Data-parallel, the way chosen by timing the data-parallel ways on the run's own machine.
    case auto
    /// Data-parallel: every rank gathers the minibatch's factors and updates the whole model.
    case factors
    /// Data-parallel: every rank gathers the factors, updates its rows of W₀, and the rows are gathered.
    case sharded
    /// Model-parallel (one hidden layer): each rank owns a block of the hidden units for the whole
    /// minibatch; the hidden layer's blocks are gathered.
    case columns
}

protocol TrainingStep: AnyObject {
    /// The way, as the start block names it.
    var mode: ExchangeMode { get }
    /// How the step's exchange travels, for the start block: "shared memory" (one node), "MPI", or
    /// nil for one rank.
    var transport: String? { get }
    /// Forward over this rank's share of the minibatch; `control` leaves with the step's exchange.
    func forward(_ batch: Minibatch, control: ControlBlock) throws
    /// Backward over this rank's share; starts the exchange where it waits for this.
    func backward() throws
    /// Waits for the exchange: afterwards every rank holds what the update needs, every rank's
    /// control block, and the minibatch's summed loss (the same number on every rank).
    func finishExchange() throws -> (control: AgreedControl, loss: Double)
    /// The same SGD update on every rank, at rate `eta`.
    func update(_ batch: Minibatch, rate eta: Double) throws
    /// Folds the first layer's decay scale into its weights (at the iterations the trainer names).
    func foldDecay()
    /// Makes `parameters` whole on every rank (a collective; after `foldDecay`).
    func assembleParameters() throws
    /// A hash of what every rank holds alike (for --check-replicas).
    func replicatedHash() -> UInt64
}

/// FNV-1a over the bit patterns of some floats: any differing bit changes it.
func bitHash(_ values: UnsafeBufferPointer<Float>, into hash: inout UInt64) {
    for value in values { hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01B3 }
}

let bitHashSeed: UInt64 = 0xCBF2_9CE4_8422_2325
