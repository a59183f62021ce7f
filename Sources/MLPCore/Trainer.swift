// The training loop: every rank takes its shard of each global minibatch, the gradients meet in one
// exchange, and every rank applies the same update. Rank 0 alone validates, decides when to stop,
// logs and writes checkpoints; its decisions reach the other ranks in the next step's control block.
import Glibc

public final class Trainer {
    public let configuration: TrainingConfiguration
    public let world: Communicator
    public let data: MNIST
    /// The model. Identical on every rank after every step, except that with the split first layer
    /// and private parameters a rank's copy of the other ranks' rows of W_0 is brought up to date
    /// only where it is read (validation, checkpoints, the end).
    public let parameters: ParameterSet
    public private(set) var state: TrainingState
    public let plan: ExchangePlan
    public let schedule: MinibatchSchedule
    public let shard: Shard                      // this rank's rows of every global minibatch
    public private(set) var profile = StepProfile()
    /// Rank 0: where `last.safetensors` (every validation) and `best.safetensors` (every new best) go.
    public var checkpoints: CheckpointWriter?
    /// Told of every step and validation, so that it can end a rank stuck waiting for a lost peer.
    public var watchdog: Watchdog?

    private let model: MLP
    private let sgd: SGD
    private let gradients: ParameterSet          // twin of `parameters`, plus the control block at the end
    private let workspace: Workspace             // (B, n_l) per layer; this rank fills its shard's rows
    private let mine: (activations: [Matrix], deltas: [Matrix])   // shard rows (b, n_l)
    private let full: (activations: [Matrix], deltas: [Matrix])   // all rows (B, n_l), gathered or shared
    private let exchange: GradientExchange
    /// The minibatch's inputs without their zeros, when the first layer's kernels use them
    /// (`sparseInput`), copied every step from the training set's non-zeros, listed once (only the
    /// columns whose rows of W_0 this rank multiplies, on a split first layer).
    private let sparseBatch: SparseBatch?
    private let trainingNonZeros: SparseRows?
    public var usesSparseInput: Bool { sparseBatch != nil }
    /// The columns exchange: this rank's hidden units (each rank then takes the whole minibatch).
    public var hiddenUnits: Range<Int>? { exchange.hiddenUnits }
    /// The fraction of the training images' pixels that are not zero.
    public let trainingInputDensity: Double
    private lazy var evaluator = Evaluator(configuration.architecture)
    /// Rank 0's scored splits, with their sparse form when that is faster.
    private lazy var scored = (validation: data.validation.compressedForScoring(configuration.architecture),
                               test: data.test.compressedForScoring(configuration.architecture))
    private let clockStart: Double
    private var validationBarrier = ValidationBarrier()

    /// Sets up a run from fresh parameters (`ParameterSet.initialized`) or restored ones and state.
    public init(configuration: TrainingConfiguration, data: MNIST, world: Communicator,
                parameters: ParameterSet, state: TrainingState? = nil) throws {
        let batchSize = configuration.batchSize
        guard batchSize >= world.size else {
            throw ConfigurationError("--batch-size \(batchSize) is smaller than the \(world.size) ranks: every rank needs at least one sample per minibatch. Use --batch-size \(world.size) or more, or fewer ranks.")
        }
        guard batchSize <= data.train.count else {
            throw ConfigurationError("--batch-size \(batchSize) is larger than the \(data.train.count) training samples.")
        }
        let oneNode = world.nodeSize == world.size
        if configuration.parameterMemory == .shared && !oneNode {
            throw ConfigurationError("--parameter-memory shared needs every rank on one node; this job spans \(world.size / max(1, world.nodeSize)) nodes. Use auto or private.")
        }
        let mayShare = world.size > 1 && oneNode && configuration.parameterMemory != .private
        if configuration.exchange == .columns && world.size > 1
            && !ExchangePlan.canSplitHiddenUnits(parameters.layout, worldSize: world.size) {
            let hidden = configuration.architecture.hiddenSizes
            throw ConfigurationError("--exchange columns divides the units of one hidden layer among the ranks; this model has \(hidden.count) hidden layers (\(hidden.map(String.init).joined(separator: ", ")) units) for \(world.size) ranks. Use one hidden layer of at least \(world.size) units, or another --exchange.")
        }
        trainingInputDensity = data.train.images.nonZeroFraction
        let sparse = configuration.sparseInput == .on
            || (configuration.sparseInput == .auto && SparseBatch.pays(density: trainingInputDensity))
        self.configuration = configuration
        self.world = world
        self.data = data
        var plan = ExchangePlan.choose(configuration.exchange, layout: parameters.layout, batchSize: batchSize,
                                       worldSize: world.size, acrossNodes: !oneNode, sharedParameters: mayShare)
        // With columns every rank writes a block of every row of W_0; in shared memory the cache
        // lines where the blocks meet travel between the cores every step (0.167 against 0.121 ms
        // per step at batch 20), so auto keeps the parameters private for it.
        if plan.splitsHiddenUnits && configuration.parameterMemory == .auto {
            plan = ExchangePlan(layers: plan.layers, sharedParameters: false)
        }
        self.plan = plan
        let share = plan.sharedParameters
        self.parameters = share ? try Self.nodeSharedCopy(of: parameters, world: world) : parameters
        model = MLP(configuration.architecture)
        sgd = configuration.sgd
        schedule = MinibatchSchedule(train: data.train, batchSize: batchSize, shuffle: configuration.shuffle,
                                     seed: UInt64(configuration.seed))
        self.state = state ?? TrainingState(stopping: EarlyStopping(patience: configuration.patience,
                                                                    batchesPerEpoch: schedule.batchesPerEpoch))
        let shards = Shard.all(batchSize: batchSize, worldSize: world.size)
        shard = shards[world.rank]
        gradients = ParameterSet(parameters.layout, extra: Control.count)
        // With shared parameters the minibatch's activation and delta rows are shared too: a rank
        // writes its shard's rows where the others read them, and no rows travel. (Not with
        // columns: there every rank computes the whole minibatch's logits and deltas itself.)
        workspace = share && !plan.splitsHiddenUnits ? try Workspace(configuration.architecture, rows: batchSize, memory: { try world.allocateNodeShared(floats: $0) })
                          : Workspace(configuration.architecture, rows: batchSize)
        mine = (workspace.activations(shard.start, count: shard.count), workspace.deltas(shard.start, count: shard.count))
        full = (workspace.activations(0, count: batchSize), workspace.deltas(0, count: batchSize))
        exchange = GradientExchange(plan: plan, world: world, parameters: self.parameters, gradients: gradients,
                                    fullActivations: full.activations, fullDeltas: full.deltas, shards: shards,
                                    firstLayerRowCost: sparse && plan.splitsFirstLayer
                                        ? SparseBatch.rowCosts(data.train.images, batchSize: batchSize) : nil)
        trainingNonZeros = sparse ? SparseRows(data.train.images, columns: plan.splitsFirstLayer ? exchange.ownedRows[0] : nil) : nil
        sparseBatch = sparse ? SparseBatch(capacity: batchSize, columns: configuration.architecture.inputSize) : nil
        clockStart = world.wallTime()
    }

    /// One copy of the parameters for the node, in MPI shared memory: rank 0 writes the starting
    /// values, everyone waits for them.
    private static func nodeSharedCopy(of parameters: ParameterSet, world: Communicator) throws -> ParameterSet {
        let count = parameters.layout.count
        let shared = ParameterSet(parameters.layout, storage: FloatStorage(borrowing: try world.allocateNodeShared(floats: count), count: count))
        if world.isRoot { shared.copy(from: parameters) }
        try world.fenceNodeShared()
        return shared
    }

    public var maxIterations: Int { configuration.epochs * schedule.batchesPerEpoch }

    /// Trains until early stopping, the last epoch, or a signal. Every rank returns the same
    /// iteration count and stop reason; the validation figures are rank 0's.
    public func run(observer: TrainingObserver? = nil) throws -> TrainingSummary {
        // Rank 0: early stopping said stop after the last update (a resumed run may start that way).
        var rootWantsStop = state.iteration > 0 && state.stopping.shouldStop(after: state.iteration - 1)
        var failure: Error?              // this rank failed; reported with the next exchange
        var stopReason = StopReason.epochs
        var lastValidationEnd = world.wallTime()
        if world.isRoot { observer?.started(self) }

        training: while state.iteration < maxIterations {
            let iteration = state.iteration            // the tutorial's 0-based `iter` of this minibatch
            if case .stopped(let reason) = try step(rootWantsStop: rootWantsStop, failure: failure) {
                stopReason = reason
                break training
            }
            // ---- rank 0 validates and decides; the others hear it in the next step's control block ----
            if world.isRoot { observer?.stepped(iteration: state.iteration, batchesPerEpoch: schedule.batchesPerEpoch) }
            if state.stopping.isValidationPoint(iteration) {
                watchdog?.beat(.validation, iteration: state.iteration)
                let start = world.wallTime()
                try exchange.assembleParameters()
                if world.isRoot {
                    do {
                        try validate(trainingSeconds: start - lastValidationEnd, observer: observer)
                    } catch {
                        failure = error
                    }
                }
                // The other ranks sleep instead of spinning in the next exchange: the node's cores are rank 0's.
                try validationBarrier.wait(world)
                lastValidationEnd = world.wallTime()
                profile.validation += lastValidationEnd - start
            }
            if world.isRoot { rootWantsStop = state.stopping.shouldStop(after: iteration) }
            if configuration.checkReplicasEvery > 0 && state.iteration % configuration.checkReplicasEvery == 0 {
                try checkReplicas()
            }
        }
        watchdog?.beat(.finishing, iteration: state.iteration)
        try exchange.assembleParameters()
        if stopReason == .epochs && rootWantsStop { stopReason = .patience }
        if let failure { throw failure }  // rank 0 failed in its last validation, after the last exchange
        if stopReason == .signal, world.isRoot, let checkpoints {
            try checkpoints.write(checkpoint().encoded(), to: Self.lastCheckpoint)
        }
        return summary(stopReason)
    }

    public enum StepOutcome: Equatable {
        case updated
        case stopped(StopReason)
    }

    /// One global minibatch: forward and backward (this rank's shard of it, or with the columns
    /// exchange its hidden units), one exchange, the same update on every rank. `rootWantsStop`
    /// (rank 0) and `failure` (any rank) travel in the exchange; if any rank asks to stop, every
    /// rank returns `.stopped` here, before the update.
    public func step(rootWantsStop: Bool = false, failure: Error? = nil) throws -> StepOutcome {
        let iteration = state.iteration
        let start = world.wallTime()
        watchdog?.beat(.training, iteration: iteration)
        control[Control.stop] = rootWantsStop ? 1 : 0
        control[Control.signal] = StopSignal.pending != 0 ? 1 : 0
        control[Control.error] = failure != nil ? 1 : 0

        let batch = schedule.batch(iteration)                                 // images (B, 784), labels (B)
        if let sparseBatch, let trainingNonZeros {                            // the same without zeros
            sparseBatch.fill(from: trainingNonZeros, count: configuration.batchSize) { schedule.sample(iteration, row: $0) }
        }
        let seconds = exchange.hiddenUnits != nil ? try forwardBackwardByUnits(batch, start: start)
                                                  : try forwardBackwardByShard(batch, start: start)
        return try update(batch, failure: failure, seconds: seconds)
    }

    private typealias PhaseSeconds = (forward: Double, backward: Double, exchange: Double)

    /// The step's control block (stop, signal, error, loss), after the gradients in their buffer.
    private var control: UnsafeMutablePointer<Float> { gradients.storage.base + gradients.layout.count }

    /// This rank's shard of the minibatch, forward and backward; each layer's exchange starts as
    /// soon as nothing more reads its buffers and runs while the layers below are computed.
    private func forwardBackwardByShard(_ batch: Samples, start t0: Double) throws -> PhaseSeconds {
        let x = batch.images.rows(shard.start, count: shard.count)            // (b, 784)
        let sparseX = sparseBatch?.rows(shard.start ..< shard.start + shard.count)
        let ones = UnsafePointer(workspace.ones.base)

        // ---- forward ----
        if plan.splitsFirstLayer {                                            // x · W_0 from every rank's rows of W_0
            try exchange.firstLayerProduct(batch.images, sparseInput: sparseBatch?.all, parameters, into: mine.activations[0])
        }
        model.forward(x, parameters, activations: mine.activations,           // (b, n_1) ... logits (b, 10)
                      firstProductGiven: plan.splitsFirstLayer, sparseInput: sparseX)
        control[Control.loss] = Float(SoftmaxCrossEntropy.delta(logits: mine.activations[model.layerCount - 1],
                                                                labels: batch.labels + shard.start,
                                                                into: mine.deltas[model.layerCount - 1]))  // Σ NLL over b rows
        let t1 = world.wallTime()

        // ---- backward and exchange, from the output layer down ----
        try exchange.startControl()
        for l in stride(from: model.layerCount - 1, through: 0, by: -1) {
            if l < model.layerCount - 1 {
                model.backpropagate(to: l, parameters, activations: mine.activations, deltas: mine.deltas)  // (b, n_{l+1}), old weights
                try exchange.startRows(layer: l + 1)      // layer l+1's delta and input rows are read no more
            }
            if plan.layers[l] == .dense {
                model.gradient(layer: l, input: l == 0 ? x : mine.activations[l - 1], delta: mine.deltas[l], into: gradients,
                               ones: ones, sparseInput: l == 0 ? sparseX : nil)
                try exchange.startGradient(layer: l)      // (n_in, n_out) summed over the shard, allreduced
            }
        }
        try exchange.startRows(layer: 0)
        let t2 = world.wallTime()
        watchdog?.beat(.exchange)
        try exchange.finish()
        let allreduces = exchange.takeBlockedSeconds()     // run inside the backward loop, counted as exchange
        return (t1 - t0, t2 - t1 - allreduces, world.wallTime() - t2 + allreduces)
    }

    /// The columns exchange: this rank's hidden units for the whole minibatch, their shares of the
    /// logits summed in the step's one allreduce; the rest is local.
    private func forwardBackwardByUnits(_ batch: Samples, start t0: Double) throws -> PhaseSeconds {
        let units = exchange.hiddenUnits!
        let hidden = full.activations[0].columns(units.lowerBound, count: units.count)   // (B, units)
        let logits = exchange.partialLogits!                                              // (B, 10)
        model.forward(units: units, batch.images, sparseInput: sparseBatch?.all, parameters,
                      hidden: hidden, partialLogits: logits, addingOutputBias: exchange.addsOutputBias)
        watchdog?.beat(.exchange)
        try exchange.sumPartialLogits(control: control)
        control[Control.loss] = Float(SoftmaxCrossEntropy.delta(logits: logits, labels: batch.labels,
                                                                into: full.deltas[1]))    // Σ NLL over B rows
        let t1 = world.wallTime(), allreduce = exchange.takeBlockedSeconds()
        model.backpropagate(units: units, parameters, hidden: hidden, outputDelta: full.deltas[1],
                            into: full.deltas[0].columns(units.lowerBound, count: units.count))
        return (t1 - t0 - allreduce, world.wallTime() - t1, allreduce)
    }

    /// The rest of a step once the exchange is done (`seconds`: the time its phases took so far):
    /// leave together if any rank asked to, else the same update on every rank.
    private func update(_ batch: Samples, failure: Error?, seconds: PhaseSeconds) throws -> StepOutcome {
        let t3 = world.wallTime()
        let iteration = state.iteration, batchSize = configuration.batchSize
        let ones = UnsafePointer(workspace.ones.base)
        // Every rank sees the same sums, so every rank leaves at this same iteration.
        if control[Control.error] > 0 { try world.failTogether(failure) }
        if control[Control.signal] > 0 { return .stopped(.signal) }
        if control[Control.stop] > 0 { return .stopped(.patience) }
        let meanLoss = Double(control[Control.loss]) / Double(batchSize)
        guard meanLoss.isFinite else {
            throw diverged(at: iteration, what: "training loss", reportedAs: iteration + 1)
        }

        // ---- update: the same SGD step on every rank ----
        let eta = rate(at: iteration)
        for l in 0..<model.layerCount {
            switch plan.layers[l] {
            case .dense:
                sgd.applyDense(layer: l, rows: exchange.ownedRows[l], bias: exchange.ownedBiases.contains(l),
                               to: parameters, gradients: gradients, batchSize: batchSize, rate: eta)
            case .factors, .sharded, .split:
                let input = l == 0 ? batch.images : full.activations[l - 1]   // (B, n_in), all ranks' rows
                sgd.applyFactors(layer: l, rows: exchange.ownedRows[l], bias: exchange.ownedBiases.contains(l),
                                 to: parameters, input: input, sparseInput: l == 0 ? sparseBatch?.all : nil,
                                 delta: full.deltas[l], rate: eta, ones: ones)
            case .columns:   // this rank's units: W_0's and b_0's columns, W_1's rows (and b_1, if it is this rank's)
                let units = exchange.hiddenUnits!
                sgd.applyFactors(layer: l, rows: l == 1 ? units : nil, columns: l == 0 ? units : nil,
                                 bias: l == 0 || exchange.ownedBiases.contains(l), to: parameters,
                                 input: l == 0 ? batch.images : full.activations[0], sparseInput: l == 0 ? sparseBatch?.all : nil,
                                 delta: l == 0 ? full.deltas[0].columns(units.lowerBound, count: units.count) : full.deltas[1],
                                 rate: eta, ones: ones)
            }
        }
        try exchange.finishUpdate()                     // other ranks' rows: gathered, or visible in shared memory
        state.iteration += 1
        state.lossSinceValidation += meanLoss
        state.stepsSinceValidation += 1
        profile.forward += seconds.forward
        profile.backward += seconds.backward
        profile.exchange += seconds.exchange
        profile.update += world.wallTime() - t3
        profile.steps += 1
        return .updated
    }

    /// Forgets the time measured so far (benchmarks measure after a warm-up).
    public func resetProfile() { profile = StepProfile() }

    public static let lastCheckpoint = "last.safetensors"
    public static let bestCheckpoint = "best.safetensors"

    /// The parameters and state after the last completed update.
    public func checkpoint() -> Checkpoint {
        var saved = state
        saved.elapsedSeconds = elapsedSeconds
        return Checkpoint(configuration: configuration, trainSamples: data.train.count, state: saved,
                          worldSize: world.size, parameters: parameters)
    }

    /// η for the update after `iteration` updates.
    private func rate(at iteration: Int) -> Double {
        sgd.rate(at: iteration, batchSize: configuration.batchSize, batchesPerEpoch: schedule.batchesPerEpoch)
    }

    /// `what` became NaN or infinite in the update after `iteration` updates (`reported`: the
    /// iteration the message names), with the rate that update used.
    private func diverged(at iteration: Int, what: String, reportedAs reported: Int) -> TrainingError {
        .nonFinite(iteration: reported, what: what, learningRate: rate(at: iteration), scaled: sgd.scaling != .none)
    }

    /// Rank 0: validation error, test error on a new best, the log record.
    private func validate(trainingSeconds: Double, observer: TrainingObserver?) throws {
        let iteration = state.iteration - 1
        evaluator.threads = validationThreads ?? 1
        let start = world.wallTime()
        let validationError = evaluator.errorRate(parameters, on: scored.validation)
        let improved = state.stopping.recordValidation(validationError, at: iteration)
        var testError: Double?
        if improved {
            testError = evaluator.errorRate(parameters, on: scored.test)
            state.stopping.recordTest(testError!)
        }
        profile.scoring += world.wallTime() - start
        let record = ValidationRecord(
            epoch: schedule.epoch(of: iteration) + 1, iteration: state.iteration,
            batchesPerEpoch: schedule.batchesPerEpoch,
            trainLoss: state.lossSinceValidation / Double(max(1, state.stepsSinceValidation)),
            validationError: validationError, bestValidationError: state.stopping.bestValidationError,
            testError: testError, improved: improved, seconds: elapsedSeconds,
            samplesPerSecond: Double(state.stepsSinceValidation * configuration.batchSize) / max(trainingSeconds, 1e-9))
        state.lossSinceValidation = 0
        state.stepsSinceValidation = 0
        observer?.validated(record)
        guard parameters.flat.allSatisfy(\.isFinite) else {
            throw diverged(at: iteration, what: "parameters", reportedAs: state.iteration)
        }
        if let checkpoints {
            let bytes = checkpoint().encoded()
            try checkpoints.write(bytes, to: Self.lastCheckpoint)
            if improved { try checkpoints.write(bytes, to: Self.bestCheckpoint) }
        }
    }

    /// Rank 0's threads while it validates (the other ranks sleep meanwhile); nil: one, with the
    /// training's BLAS threads.
    public var validationThreads: Int?

    /// Compares a hash of the parameters across ranks; every rank sees the same verdict.
    private func checkReplicas() throws {
        try exchange.assembleParameters()
        let hashes = try world.allgather(Int64(bitPattern: parameterHash()))
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard differing.isEmpty else {
            throw TrainingError.replicasDiverged(iteration: state.iteration, ranks: differing)
        }
    }

    /// FNV-1a over the parameters' bit patterns: any differing bit changes it.
    public func parameterHash() -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in parameters.flat {
            hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01B3
        }
        return hash
    }

    /// Seconds of training, including the sessions before a resume.
    public var elapsedSeconds: Double { state.elapsedSeconds + world.wallTime() - clockStart }

    private func summary(_ reason: StopReason) -> TrainingSummary {
        let stopping = state.stopping
        return TrainingSummary(
            bestValidationError: stopping.bestValidationError, bestIteration: stopping.bestIteration + 1,
            testError: stopping.testErrorAtBest,
            epochs: state.iteration == 0 ? 0 : (state.iteration - 1) / schedule.batchesPerEpoch + 1,
            iterations: state.iteration, seconds: elapsedSeconds, worldSize: world.size,
            stopReason: reason, signal: reason == .signal ? (StopSignal.pending != 0 ? StopSignal.pending : SIGTERM) : 0)
    }
}
