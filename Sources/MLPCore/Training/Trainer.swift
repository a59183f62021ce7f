// The training loop: every rank takes its shard of each global minibatch, the gradients meet in one
// exchange, and every rank applies the same update. Rank 0 alone validates, decides when to stop,
// logs and writes checkpoints; its decisions reach the other ranks in the next step's control block.
import Glibc

public final class Trainer {
    public let configuration: TrainingConfiguration
    public let world: Communicator
    public let data: MNIST
    /// The model: the same bits on every rank after every step (the first layer's weights held as
    /// V = W₀/s until the next fold point; the columns way keeps W₀'s blocks with their owners until
    /// `assembleParameters`). Whole and folded at every validation, checkpoint and the end.
    public let parameters: ParameterSet
    public private(set) var state: TrainingState
    public let schedule: MinibatchSchedule
    /// How the step is divided, and why ("timed here: ...", "asked for", "one rank").
    public let exchange: ExchangeMode
    public let exchangeReason: String
    /// How the step's exchange travels ("shared memory", "MPI"; nil for one rank).
    public let exchangeTransport: String?
    public private(set) var profile = StepProfile()
    /// Rank 0: where `last.safetensors` (every `checkpointEvery`-th validation, a signal's stop and
    /// the end of the run) and `best.safetensors` (every new best) go.
    public var checkpoints: OutputDirectory?
    public var checkpointEvery = 1
    /// Validations since last.safetensors was written.
    private var validationsSinceLast = 0
    /// Told of every step and validation, so that it can end a rank stuck waiting for a lost peer.
    public var watchdog: Watchdog?
    /// `--trace`: records the steps of its window; rank 0 collects every rank's at each validation.
    public var trace: Trace?

    private let step: TrainingStep
    /// Whether the first layer's decay scale is folded into the parameters (a fold point, or the end).
    private var folded = true
    /// The fraction of the training images' pixels that are not zero.
    public let trainingInputDensity: Double
    private lazy var evaluator = Evaluator(configuration.architecture)
    /// Rank 0's scored splits, with their sparse form when that is faster.
    private lazy var scored = (validation: data.validation.compressedForScoring(configuration.architecture),
                               test: data.test.compressedForScoring(configuration.architecture))
    private let clockStart: Double
    private let validationBarrier: ValidationBarrier
    /// Rank 0: seconds its last pass over the validation set took; every rank: as the last step heard it.
    private var validationSeconds = 0.0

    /// Sets up a run from fresh parameters (`ParameterSet.initialized`) or restored ones and state.
    /// With `--exchange auto` on several ranks this times the data-parallel ways for a moment.
    public init(configuration: TrainingConfiguration, data: MNIST, world: Communicator,
                parameters: ParameterSet, state: TrainingState? = nil) throws {
        let batchSize = configuration.batchSize
        guard batchSize >= world.size else {
            throw ConfigurationError("--batch-size \(batchSize) is smaller than the \(world.size) ranks: every rank needs at least one sample per minibatch. Use --batch-size \(world.size) or more, or fewer ranks.")
        }
        guard batchSize <= data.train.count else {
            throw ConfigurationError("--batch-size \(batchSize) is larger than the \(data.train.count) training samples.")
        }
        self.configuration = configuration
        self.world = world
        self.data = data
        self.parameters = parameters
        trainingInputDensity = data.trainNonZeros.density
        schedule = MinibatchSchedule(train: data.train, batchSize: batchSize, shuffle: configuration.shuffle,
                                     seed: UInt64(configuration.seed))
        self.state = state ?? TrainingState(stopping: EarlyStopping(patience: configuration.patience,
                                                                    batchesPerEpoch: schedule.batchesPerEpoch))
        let choice = try StepChoice.make(configuration, parameters: parameters, world: world, trainingNonZeros: data.trainNonZeros,
                                         schedule: schedule, from: self.state.iteration)
        step = choice.step
        exchange = choice.step.mode
        exchangeReason = choice.reason
        exchangeTransport = choice.step.transport
        validationBarrier = try ValidationBarrier(world)
        clockStart = world.wallTime()
        if world.isRoot { _ = scored }   // pairs the scored images now, not inside the first validation
    }

    /// The rows of each global minibatch this rank trains on (the columns way: all of them).
    public var shard: Shard {
        exchange == .columns ? Shard(batchSize: configuration.batchSize, rank: 0, worldSize: 1)
                             : Shard(batchSize: configuration.batchSize, rank: world.rank, worldSize: world.size)
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
                var timer = StepTimer(world, recordingInto: trace?.timeline, iteration: state.iteration)
                try step.assembleParameters()
                if world.isRoot {
                    do {
                        try validate(trainingSeconds: timer.started - lastValidationEnd, observer: observer)
                    } catch {
                        failure = error
                    }
                }
                // The other ranks sleep instead of spinning in the next exchange: the node's cores are rank 0's.
                try validationBarrier.wait(expected: validationSeconds)
                try trace?.collect()
                timer.lap(.validation, of: &profile)
                lastValidationEnd = world.wallTime()
            }
            if world.isRoot { rootWantsStop = state.stopping.shouldStop(after: iteration) }
            if configuration.checkReplicasEvery > 0 && state.iteration % configuration.checkReplicasEvery == 0 {
                try checkReplicas()
            }
        }
        watchdog?.beat(.finishing, iteration: state.iteration)
        var stop = StepTimer(world, recordingInto: stopReason == .signal ? trace?.timeline : nil, iteration: state.iteration)
        settle()
        try step.assembleParameters()
        if stopReason == .epochs && rootWantsStop { stopReason = .patience }
        if let failure { throw failure }  // rank 0 failed in its last validation, after the last exchange
        // The state after the last update, unless the last validation saved exactly that.
        if stopReason == .signal || validationsSinceLast > 0, world.isRoot, let checkpoints {
            try writeCheckpoint(checkpoint().encoded(), to: Self.lastCheckpoint, in: checkpoints)
        }
        stop.lap(.stop, of: &profile)
        return summary(stopReason)
    }

    public enum StepOutcome: Equatable {
        case updated
        case stopped(StopReason)
    }

    /// One global minibatch: this rank's share forward and backward, one exchange, the same update
    /// on every rank. `rootWantsStop` (rank 0) and `failure` (any rank) travel in this rank's
    /// control block; when a rank asks to stop, every rank returns `.stopped` here, before the
    /// update (a signal's stop waits for the next fold point, so that the checkpoint holds W₀).
    public func step(rootWantsStop: Bool = false, failure: Error? = nil) throws -> StepOutcome {
        let iteration = state.iteration
        let timeline = trace.flatMap { $0.timeline.records(iteration) ? $0.timeline : nil }
        var timer = StepTimer(world, recordingInto: timeline, iteration: iteration)
        watchdog?.beat(.training, iteration: iteration)
        let mine = ControlBlock(stop: rootWantsStop, signal: StopSignal.pending,
                                exitCode: failure.map { ($0 as? UserFacingError)?.exitCode ?? 1 } ?? 0,
                                validationSeconds: Float(validationSeconds))

        // ---- this rank's share of the global minibatch: forward, backward ----
        let batch = schedule.minibatch(iteration)                            // images (B, 784), labels (B)
        try step.forward(batch, control: mine)
        timer.lap(.forward, of: &profile)
        try step.backward()                                                 // the exchange starts here
        timer.lap(.backward, of: &profile)

        // ---- the step's one exchange: every rank's rows and control blocks ----
        watchdog?.beat(.exchange)
        let (control, loss) = try step.finishExchange()
        timer.lap(.exchange, of: &profile)
        if let timeline, world.size > 1 { timeline.add(.wait, iteration: iteration, from: world.lastWait.start, to: world.lastWait.end) }

        // ---- every rank reads the same control blocks: leave together, or update together ----
        if !control.failedRanks.isEmpty { throw world.failure(control, own: failure) }
        validationSeconds = control.validationSeconds
        if control.stop { return .stopped(.patience) }
        if control.signal != 0 && isFoldPoint(iteration) { return .stopped(.signal) }
        let meanLoss = loss / Double(configuration.batchSize)
        guard meanLoss.isFinite else {
            throw diverged(at: iteration, what: "training loss", reportedAs: iteration + 1)
        }

        // ---- the same SGD update on every rank ----
        try step.update(batch, rate: rate(at: iteration))
        state.iteration += 1
        folded = false
        if isFoldPoint(state.iteration) { settle() }
        timer.lap(.update, of: &profile)

        // ---- bookkeeping ----
        state.lossSinceValidation += meanLoss
        state.stepsSinceValidation += 1
        profile.steps += 1
        return .updated
    }

    /// Whether the parameters are folded after `n` updates: every `Tuning.foldInterval` updates,
    /// every validation and every epoch's end. These depend on the configuration alone, so a run
    /// resumed from a checkpoint written there (on any number of ranks) goes on with the same bits.
    public func isFoldPoint(_ n: Int) -> Bool {
        n % Tuning.foldInterval == 0 || n % schedule.batchesPerEpoch == 0 || n % state.stopping.validationFrequency == 0
    }

    /// Folds the first layer's decay scale into its weights.
    private func settle() {
        step.foldDecay()
        folded = true
    }

    /// Forgets the time measured so far (benchmarks measure after a warm-up).
    public func resetProfile() { profile = StepProfile() }

    /// Counts the steps from 0 again (a benchmark's timed steps, for its trace window), the
    /// parameters as they are.
    public func restartCount() { state.iteration = 0 }

    public static let lastCheckpoint = "last.safetensors"
    public static let bestCheckpoint = "best.safetensors"

    /// The parameters and state after the last completed update.
    public func checkpoint() -> Checkpoint {
        precondition(folded, "a checkpoint is taken at a fold point (Trainer.isFoldPoint) or at the end of a run")
        var saved = state
        saved.elapsedSeconds = elapsedSeconds
        return Checkpoint(configuration: configuration, trainSamples: data.train.count,
                          evaluationSamples: data.validation.count, state: saved,
                          worldSize: world.size, parameters: parameters)
    }

    /// η for the update after `iteration` updates.
    public func rate(at iteration: Int) -> Double {
        configuration.sgd.rate(at: iteration, batchSize: configuration.batchSize, batchesPerEpoch: schedule.batchesPerEpoch)
    }

    /// `what` became NaN or infinite in the update after `iteration` updates (`reported`: the
    /// iteration the message names), with the rate that update used.
    private func diverged(at iteration: Int, what: String, reportedAs reported: Int) -> TrainingError {
        .nonFinite(iteration: reported, what: what, learningRate: rate(at: iteration), scaled: configuration.sgd.scaling != .none)
    }

    /// Rank 0: validation error, test error on a new best, the log record.
    private func validate(trainingSeconds: Double, observer: TrainingObserver?) throws {
        let iteration = state.iteration - 1
        evaluator.threads = validationThreads ?? 1
        var timer = StepTimer(world, recordingInto: trace?.timeline, iteration: state.iteration)
        let validationError = evaluator.errorRate(parameters, on: scored.validation)
        validationSeconds = world.wallTime() - timer.started
        let improved = state.stopping.recordValidation(validationError, at: iteration)
        var testError: Double?
        if improved {
            testError = evaluator.errorRate(parameters, on: scored.test)
            state.stopping.recordTest(testError!)
        }
        timer.lap(.scoring, of: &profile)
        let record = ValidationRecord(
            epoch: schedule.epoch(of: iteration) + 1, iteration: state.iteration,
            batchesPerEpoch: schedule.batchesPerEpoch,
            trainLoss: state.lossSinceValidation / Double(max(1, state.stepsSinceValidation)),
            validationError: validationError, bestValidationError: state.stopping.bestValidationError,
            testError: testError, improved: improved, seconds: elapsedSeconds,
            samplesPerSecond: Double(state.stepsSinceValidation * configuration.batchSize) / max(trainingSeconds, 1e-9))
        state.lossSinceValidation = 0
        state.stepsSinceValidation = 0
        trace?.timeline.count(TraceCounter(time: world.wallTime(), samplesPerSecond: record.samplesPerSecond, trainLoss: record.trainLoss))
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
                try writeCheckpoint(bytes, to: Self.lastCheckpoint, in: checkpoints)
                validationsSinceLast = 0
            }
            if improved { try writeCheckpoint(bytes, to: Self.bestCheckpoint, in: checkpoints) }
        }
    }

    private func writeCheckpoint(_ bytes: [UInt8], to name: String, in directory: OutputDirectory) throws {
        var timer = StepTimer(world, recordingInto: trace?.timeline, iteration: state.iteration)
        try directory.write(bytes, to: name, what: "the checkpoint")
        timer.lap(.checkpoint, of: &profile)
    }

    /// Rank 0's threads while it validates (the other ranks sleep meanwhile); nil: one, with the
    /// training's BLAS threads.
    public var validationThreads: Int?

    /// Compares a hash of the parameters across ranks; every rank sees the same verdict.
    private func checkReplicas() throws {
        let hashes = try world.allgather(Int64(bitPattern: step.replicatedHash()))
        let differing = hashes.indices.filter { hashes[$0] != hashes[0] }
        guard differing.isEmpty else {
            throw TrainingError.replicasDiverged(iteration: state.iteration, ranks: differing)
        }
    }

    /// FNV-1a over the parameters' bit patterns: any differing bit changes it.
    public func parameterHash() -> UInt64 {
        var hash = bitHashSeed
        bitHash(UnsafeBufferPointer(parameters.flat), into: &hash)
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
