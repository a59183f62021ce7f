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
    /// Rank 0: where `last.safetensors` (every `checkpointEvery`-th validation, a signal's stop and
    /// the end of the run) and `best.safetensors` (every new best) go.
    public var checkpoints: CheckpointWriter?
    public var checkpointEvery = 1
    /// Validations since last.safetensors was written.
    private var validationsSinceLast = 0
    /// Told of every step and validation, so that it can end a rank stuck waiting for a lost peer.
    public var watchdog: Watchdog?

    private let model: MLP
    private let sgd: SGD
    private let gradients: ParameterSet          // twin of `parameters`, plus the control block at the end
    private let workspace: Workspace             // (B, n_l) per layer; this rank fills its shard's rows
    private let mine: (activations: [Matrix], deltas: [Matrix])   // shard rows (b, n_l)
    private let full: (activations: [Matrix], deltas: [Matrix])   // all rows (B, n_l), gathered or shared
    private let exchange: GradientExchange
    /// The model-parallel option (`--exchange columns`): this rank's hidden units for the whole minibatch.
    private let hiddenUnitsStep: HiddenUnitsStep?
    /// With `--exchange columns`, the hidden units this rank computes.
    public var hiddenUnits: Range<Int>? { hiddenUnitsStep?.units }
    /// The minibatch's inputs without their zeros, when the first layer's kernels use them
    /// (`sparseInput`), copied every step from the training set's non-zeros, listed once (only the
    /// columns whose rows of W_0 this rank multiplies, on a split first layer).
    private let sparseBatch: SparseBatch?
    private let trainingNonZeros: SparseRows?
    public var usesSparseInput: Bool { sparseBatch != nil }
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
        if configuration.exchange == .columns && world.size > 1 {
            let hidden = configuration.architecture.hiddenSizes
            guard HiddenUnitsStep.fits(configuration.architecture, worldSize: world.size) else {
                throw ConfigurationError("--exchange columns divides the units of one hidden layer among the ranks; this model has \(hidden.count) hidden layers (\(hidden.map(String.init).joined(separator: ", ")) units) for \(world.size) ranks. Use one hidden layer of at least \(world.size) units, or another --exchange.")
            }
            guard configuration.parameterMemory != .shared else {
                throw ConfigurationError("--exchange columns keeps each rank's blocks of the model in its own memory; drop --parameter-memory shared, or use another --exchange.")
            }
        }
        trainingInputDensity = data.train.images.nonZeroFraction
        let sparse = configuration.sparseInput == .on
            || (configuration.sparseInput == .auto && SparseBatch.pays(density: trainingInputDensity))
        self.configuration = configuration
        self.world = world
        self.data = data
        plan = ExchangePlan.choose(configuration.exchange, layout: parameters.layout, batchSize: batchSize,
                                   worldSize: world.size, acrossNodes: !oneNode, sharedParameters: mayShare)
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
        gradients = ParameterSet(parameters.layout, extra: ControlBlock.count)
        // With shared parameters the minibatch's activation and delta rows are shared too: a rank
        // writes its shard's rows where the others read them, and no rows travel.
        workspace = share ? try Workspace(configuration.architecture, rows: batchSize, memory: { try world.allocateNodeShared(floats: $0) })
                          : Workspace(configuration.architecture, rows: batchSize)
        mine = (workspace.activations(shard.start, count: shard.count), workspace.deltas(shard.start, count: shard.count))
        full = (workspace.activations(0, count: batchSize), workspace.deltas(0, count: batchSize))
        exchange = GradientExchange(plan: plan, world: world, parameters: self.parameters, gradients: gradients,
                                    controlCount: ControlBlock.count, fullActivations: full.activations, fullDeltas: full.deltas, shards: shards,
                                    firstLayerRowCost: sparse && plan.splitsFirstLayer
                                        ? SparseBatch.rowCosts(data.train.images, batchSize: batchSize) : nil)
        hiddenUnitsStep = plan.dividesHiddenUnits
            ? HiddenUnitsStep(configuration.architecture, parameters: self.parameters, world: world, batchSize: batchSize,
                              controlCount: ControlBlock.count) : nil
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
        if world.isRoot {
            do { try observer?.started(self) } catch { failure = error }
        }

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
                try assembleParameters()
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
        try assembleParameters()
        if stopReason == .epochs && rootWantsStop { stopReason = .patience }
        if let failure { throw failure }  // rank 0 failed in its last validation, after the last exchange
        // The state after the last update, unless the last validation saved exactly that.
        if stopReason == .signal || validationsSinceLast > 0, world.isRoot, let checkpoints {
            try checkpoints.write(checkpoint().encoded(), to: Self.lastCheckpoint)
        }
        return summary(stopReason)
    }

    public enum StepOutcome: Equatable {
        case updated
        case stopped(StopReason)
    }

    /// One global minibatch: this rank's shard forward and backward, one exchange, the same update
    /// on every rank. `rootWantsStop` (rank 0) and `failure` (any rank) travel in the exchange's
    /// control block; if any rank asks to stop, every rank returns `.stopped` here, before the update.
    public func step(rootWantsStop: Bool = false, failure: Error? = nil) throws -> StepOutcome {
        let iteration = state.iteration
        var timer = StepTimer(world.wallTime)
        watchdog?.beat(.training, iteration: iteration)
        control.stop = rootWantsStop
        control.signal = StopSignal.pending != 0
        control.error = failure != nil

        // ---- the minibatch: every rank holds all of it and works on its shard's rows ----
        let batch = schedule.batch(iteration)                                 // images (B, 784), labels (B)
        if let sparseBatch, let trainingNonZeros {                            // the same without zeros
            sparseBatch.fill(from: trainingNonZeros, count: configuration.batchSize) { schedule.sample(iteration, row: $0) }
        }
        let x = batch.images.rows(shard.start, count: shard.count)            // (b, 784)
        let sparseX = sparseBatch?.rows(shard.start ..< shard.start + shard.count)

        if let hiddenUnitsStep {   // the model-parallel option: its units, the whole minibatch, one allreduce
            watchdog?.beat(.exchange)
            let (loss, allreduce) = try hiddenUnitsStep.forwardAndBackward(batch, sparseInput: sparseBatch?.all, control: control.base)
            control.loss = loss
            timer.lap(\.forward, of: &profile)
            timer.move(allreduce, from: \.forward, to: \.exchange, of: &profile)
        } else {
            // ---- forward over the shard, and the loss ----
            try forward(x, sparseX, batch)                                     // (b, n_1) ... logits (b, 10)
            control.loss = lossAndOutputDelta(batch)                          // Σ NLL over b rows; delta (b, 10)
            timer.lap(\.forward, of: &profile)

            // ---- backward, each layer's exchange started as soon as its buffers are final ----
            try exchange.startControl()
            try backward(x, sparseX)                                          // (b, n_l) deltas, dense gradients
            timer.lap(\.backward, of: &profile)
            watchdog?.beat(.exchange)
            try exchange.finish()                                             // gradients summed, factor rows gathered
            timer.lap(\.exchange, of: &profile)
            timer.move(exchange.takeBlockedSeconds(), from: \.backward, to: \.exchange, of: &profile)   // allreduces inside backward()
        }

        // ---- every rank sees the same control block: leave together, or update together ----
        if control.error { try world.failTogether(failure) }
        if control.signal { return .stopped(.signal) }
        if control.stop { return .stopped(.patience) }
        let meanLoss = control.loss / Double(configuration.batchSize)
        guard meanLoss.isFinite else {
            throw diverged(at: iteration, what: "training loss", reportedAs: iteration + 1)
        }

        // ---- update: the same SGD step on every rank (each its own rows, when sharded) ----
        if let hiddenUnitsStep {
            hiddenUnitsStep.update(batch, sparseInput: sparseBatch?.all, sgd: sgd, rate: rate(at: iteration))
        } else {
            update(batch)
            try exchange.finishUpdate()                 // other ranks' rows: gathered, or visible in shared memory
        }
        timer.lap(\.update, of: &profile)

        // ---- bookkeeping ----
        state.iteration += 1
        state.lossSinceValidation += meanLoss
        state.stepsSinceValidation += 1
        profile.steps += 1
        return .updated
    }

    /// The step's control block, after the gradients in their buffer.
    private var control: ControlBlock { ControlBlock(gradients.storage.base + gradients.layout.count) }

    /// Layer by layer, f(a · W_l + b_l) for this rank's rows; with the split first layer its product
    /// comes from every rank's rows of W_0.
    private func forward(_ x: Matrix, _ sparseX: SparseBatch.Rows?, _ batch: Samples) throws {
        if plan.splitsFirstLayer {
            try exchange.firstLayerProduct(batch.images, sparseInput: sparseBatch?.all, parameters, into: mine.activations[0])
        }
        model.forward(x, parameters, activations: mine.activations, firstProductGiven: plan.splitsFirstLayer, sparseInput: sparseX)
    }

    /// Σ NLL of the shard's rows, and the output delta softmax − onehot (b, 10) in `mine.deltas`.
    private func lossAndOutputDelta(_ batch: Samples) -> Double {
        let output = model.layerCount - 1
        return SoftmaxCrossEntropy.delta(logits: mine.activations[output], labels: batch.labels + shard.start,
                                         into: mine.deltas[output])
    }

    /// From the output layer down: each layer's delta (with the weights before the update), and a
    /// dense layer's gradient; each layer's exchange starts once nothing more reads its buffers.
    private func backward(_ x: Matrix, _ sparseX: SparseBatch.Rows?) throws {
        let ones = UnsafePointer(workspace.ones.base)
        for l in stride(from: model.layerCount - 1, through: 0, by: -1) {
            if l < model.layerCount - 1 {
                model.backpropagate(to: l, parameters, activations: mine.activations, deltas: mine.deltas)  // (b, n_{l+1})
                try exchange.startRows(layer: l + 1)      // layer l+1's delta and input rows are read no more
            }
            if plan.layers[l] == .dense {
                model.gradient(layer: l, input: l == 0 ? x : mine.activations[l - 1], delta: mine.deltas[l], into: gradients,
                               ones: ones, sparseInput: l == 0 ? sparseX : nil)     // (n_in, n_out) summed over b rows
                try exchange.startGradient(layer: l)      // allreduced now, while the layers below are computed
            }
        }
        try exchange.startRows(layer: 0)
    }

    /// W ← W − η·(gradient + penalties) for the rows this rank owns: from the summed gradient
    /// (dense), or from the whole minibatch's gathered factors Aᵀ·D, fused into one GEMM.
    private func update(_ batch: Samples) {
        let eta = rate(at: state.iteration), batchSize = configuration.batchSize
        let ones = UnsafePointer(workspace.ones.base)
        for l in 0..<model.layerCount {
            let rows = exchange.ownedRows[l], bias = exchange.ownedBiases.contains(l)
            switch plan.layers[l] {
            case .dense:
                sgd.applyDense(layer: l, rows: rows, bias: bias, to: parameters, gradients: gradients, batchSize: batchSize, rate: eta)
            case .factors, .sharded, .split:
                let input = l == 0 ? batch.images : full.activations[l - 1]   // (B, n_in), every rank's rows
                sgd.applyFactors(layer: l, rows: rows, bias: bias, to: parameters, input: input,
                                 sparseInput: l == 0 ? sparseBatch?.all : nil, delta: full.deltas[l], rate: eta, ones: ones)
            case .columns:
                preconditionFailure("the columns plan updates in HiddenUnitsStep")
            }
        }
    }

    /// Makes every rank's copy of the parameters whole where the model-parallel options leave parts
    /// with their owners (a collective).
    private func assembleParameters() throws {
        try exchange.assembleParameters()
        try hiddenUnitsStep?.assembleParameters()
    }

    /// Forgets the time measured so far (benchmarks measure after a warm-up).
    public func resetProfile() { profile = StepProfile() }

    public static let lastCheckpoint = "last.safetensors"
    public static let bestCheckpoint = "best.safetensors"

    /// The parameters and state after the last completed update.
    public func checkpoint() -> Checkpoint {
        var saved = state
        saved.elapsedSeconds = elapsedSeconds
        return Checkpoint(configuration: configuration, trainSamples: data.train.count,
                          evaluationSamples: data.validation.count, state: saved,
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
        try observer?.validated(record)
        guard parameters.flat.allSatisfy(\.isFinite) else {
            throw diverged(at: iteration, what: "parameters", reportedAs: state.iteration)
        }
        if let checkpoints {
            validationsSinceLast += 1
            let due = validationsSinceLast >= checkpointEvery
            guard due || improved else { return }
            let bytes = checkpoint().encoded()
            if due {
                try checkpoints.write(bytes, to: Self.lastCheckpoint)
                validationsSinceLast = 0
            }
            if improved { try checkpoints.write(bytes, to: Self.bestCheckpoint) }
        }
    }

    /// Rank 0's threads while it validates (the other ranks sleep meanwhile); nil: one, with the
    /// training's BLAS threads.
    public var validationThreads: Int?

    /// Compares a hash of the parameters across ranks; every rank sees the same verdict.
    private func checkReplicas() throws {
        try assembleParameters()
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
