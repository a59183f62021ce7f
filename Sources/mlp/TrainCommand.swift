// `mlp train`: validate flags (identically on every rank, before any MPI traffic), start MPI, agree
// on every set-up step across ranks, train, report on rank 0.
import ArgumentParser
import Foundation
import MLPCore

/// What rank 0 writes: checkpoints and logs (nothing, on the other ranks).
struct RootOutputs {
    var checkpoints: CheckpointWriter?
    var json: LogFile?
    var csv: LogFile?
}

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the MLP on MNIST (one process, or P ranks under mpirun).",
        discussion: """
            Defaults reproduce the Theano tutorial: 784-500-10 tanh, lr 0.01, L1 0, L2 0.0001, batch 20, \
            up to 1000 epochs, patience 10000. Under `mpirun -np P`, each global minibatch is split over \
            the P ranks; rank 0 validates, logs and writes checkpoints. Exit status: 0 done, 1 failed, \
            2 bad usage, 128+N stopped by signal N (SIGINT 130, SIGUSR1 138, SIGTERM 143) after writing a checkpoint.
            """)

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Model") var model: ModelOptions
    @OptionGroup(title: "Optimization") var optimizer: OptimizerOptions
    @OptionGroup(title: "Parallelism") var step: StepOptions
    @OptionGroup(title: "Reliability") var reliability: ReliabilityOptions
    @OptionGroup(title: "Checkpoints") var checkpoints: CheckpointOptions
    @OptionGroup(title: "Output") var output: OutputOptions

    func run() throws {
        StopSignal.install()
        let world = try Session.start()
        let watchdog = reliability.watchdog > 0 ? Watchdog(timeout: reliability.watchdog, rank: world.rank, worldSize: world.size) : nil
        let summary = try train(on: world, watchdog: watchdog)
        if summary.stopReason == .signal {
            if world.isRoot {
                // A command that works as printed: the checkpoint, and the outputs to go on writing.
                let outputsAgain = [("--checkpoint-dir", checkpoints.checkpointDir), ("--log-json", output.logJson), ("--log-csv", output.logCsv)]
                    .compactMap { flag, value in value.map { " \(flag) \($0)" } }.joined()
                let resumeHint = checkpoints.checkpointDir.map {
                    "resume with: mlp train --resume \(($0 as NSString).appendingPathComponent(Trainer.lastCheckpoint))\(outputsAgain)"
                } ?? "no --checkpoint-dir was given, so nothing was saved"
                warn("stopped by \(StopSignal.describe(summary.signal, underMpirun: Launch.underMpirun)) after iteration \(summary.iterations); \(resumeHint)")
            }
            throw StoppedBySignal(signal: summary.signal)
        }
    }

    /// Everything `mlp train` does, on `world`: the job's world, or one group of `mlp sweep` (which
    /// keeps one watchdog for all its trainings, and reads the data once for them all).
    func train(on world: MPICommunicator, watchdog: Watchdog?, data loaded: MNIST? = nil, terminal: Bool = true,
               everyStep: (() -> Void)? = nil) throws -> TrainingSummary {
        watchdog?.beat(.setup)

        // Rank 0 alone reads the checkpoint to resume from; every rank gets its verified bytes.
        // `--resume auto` finds it in the checkpoint directory, or starts afresh (rank 0 decides).
        var resumePathBytes = try world.together { try world.isRoot ? Array((resumeFile() ?? "").utf8) : [] }
        try world.broadcast(&resumePathBytes, from: 0)   // every rank names the same file in messages
        let resumePath = resumePathBytes.isEmpty ? nil : String(decoding: resumePathBytes, as: UTF8.self)
        var resumeBytes = try world.together { world.isRoot ? try resumePath.map(Checkpoint.readBytes) ?? [] : [] }
        try world.broadcast(&resumeBytes, from: 0)
        let resumed = resumeBytes.isEmpty ? nil : try world.together { try Checkpoint.decode(resumeBytes, path: resumePath!) }
        let configuration = try world.together { () -> TrainingConfiguration in
            let c = try trainingConfiguration(resuming: resumed, from: resumePath)
            try c.architecture.checkFits(batchSize: c.batchSize, memory: InputFile.physicalMemory)
            return c
        }

        // Rank 0's outputs are checked (and their directories made) before anything heavy starts.
        // A resumed run appends to its logs; a fresh one refuses to bury an earlier run's.
        let continuing = checkpoints.resume != nil
        let outputs = try world.together { () -> RootOutputs in
            guard world.isRoot else { return RootOutputs() }
            return RootOutputs(checkpoints: try checkpoints.checkpointDir.map { try CheckpointWriter(directory: $0) },
                               json: try output.logJson.map { try LogFile(path: $0, flag: "--log-json", existing: continuing ? .append : .refuse) },
                               csv: try output.logCsv.map { try LogFile(path: $0, flag: "--log-csv", existing: continuing ? .append : .refuse) })
        }

        // Every rank reads the data itself; one rank's failure ends them all, with its message. A
        // resumed run reads as many samples as the checkpoint's run did, unless told otherwise.
        let mnist = try loaded ?? world.together {
            try MNIST.load(directory: data.directory,
                           trainLimit: data.trainLimit ?? resumed.map(\.trainSamples),
                           evalLimit: data.evalLimit ?? resumed?.evaluationSamples)
        }
        watchdog?.beat(.setup)
        if let resumed, resumed.trainSamples != mnist.train.count {
            try world.failTogether(CheckpointError.conflict(flag: "--train-limit", given: String(mnist.train.count),
                                                            stored: "\(resumed.trainSamples) training samples", path: resumePath!))
        }

        let trainer = try world.together {
            try Trainer(configuration: configuration, data: mnist, world: world,
                        parameters: resumed?.parameters ?? ParameterSet.initialized(configuration.architecture, seed: configuration.seed),
                        state: resumed?.state)
        }
        trainer.checkpoints = outputs.checkpoints
        trainer.checkpointEvery = checkpoints.checkpointEvery
        trainer.watchdog = watchdog
        // While rank 0 validates, the other ranks on its node sleep: it may use their cores too.
        trainer.validationThreads = BLAS.scoringThreads()
        let reporter = Reporter(quiet: output.quiet, terminal: terminal, everyStep: everyStep, json: outputs.json, csv: outputs.csv, resumed: resumed != nil)
        if world.isRoot && !output.quiet && terminal { printStart(trainer, resumedFrom: resumed, from: resumePath) }
        if world.isRoot && checkpoints.resumesAutomatically && resumed == nil {
            warn("--resume auto: no \(outputs.checkpoints!.path(Trainer.lastCheckpoint)) yet, so this run starts afresh")
        }

        let summary = try trainer.run(observer: world.isRoot ? reporter : nil)
        watchdog?.beat(.finishing, iteration: summary.iterations)

        let profiles = output.profile ? try gatherProfiles(trainer) : nil
        if world.isRoot { try reporter.finished(summary, profiles: profiles) }
        return summary
    }

    /// Rank 0: the checkpoint to resume from: --resume FILE, or with --resume auto the checkpoint
    /// directory's last.safetensors if it exists (nil: start afresh).
    private func resumeFile() throws -> String? {
        guard checkpoints.resumesAutomatically else { return checkpoints.resume }
        let last = (checkpoints.checkpointDir! as NSString).appendingPathComponent(Trainer.lastCheckpoint)
        return FileManager.default.fileExists(atPath: last) ? last : nil
    }

    /// The run's configuration: the flags over the defaults, or over the checkpoint's values when
    /// resuming, where the flags that define the model and the data order must agree with it.
    func trainingConfiguration(resuming checkpoint: Checkpoint?, from resumePath: String?) throws -> TrainingConfiguration {
        var c = checkpoint?.configuration ?? TrainingConfiguration()
        if let checkpoint {
            let path = resumePath ?? ""
            let stored = checkpoint.configuration
            func agree<T: Equatable>(_ flag: String, _ given: T?, _ saved: T, _ show: (T) -> String) throws {
                if let given, given != saved { throw CheckpointError.conflict(flag: flag, given: show(given), stored: show(saved), path: path) }
            }
            try agree("--hidden", model.hidden?.sizes, stored.architecture.hiddenSizes) { $0.map(String.init).joined(separator: ",") }
            try agree("--activation", model.activation, stored.architecture.activation) { $0.rawValue }
            try agree("--batch-size", optimizer.batchSize, stored.batchSize) { String($0) }
            try agree("--seed", optimizer.seed.map { UInt32($0) }, stored.seed) { String($0) }
            try agree("--patience", optimizer.patience, stored.patience) { String($0) }
            try agree("--shuffle", optimizer.shuffle ? true : nil, stored.shuffle) { $0 ? "on" : "off" }
        } else {
            c.architecture.hiddenSizes = model.hidden?.sizes ?? c.architecture.hiddenSizes
            c.architecture.activation = model.activation ?? c.architecture.activation
            c.batchSize = optimizer.batchSize ?? c.batchSize
            c.seed = optimizer.seed.map { UInt32($0) } ?? c.seed
            c.patience = optimizer.patience ?? c.patience
            c.shuffle = optimizer.shuffle
        }
        // These may change on resume (README: "Resuming"); the run then leaves the original's path.
        c.sgd.learningRate = optimizer.lr ?? c.sgd.learningRate
        c.sgd.decay = optimizer.lrDecay ?? c.sgd.decay
        c.sgd.scaling = optimizer.lrScaling ?? c.sgd.scaling
        c.sgd.referenceBatch = optimizer.lrReferenceBatch ?? c.sgd.referenceBatch
        c.sgd.warmupEpochs = optimizer.warmupEpochs ?? c.sgd.warmupEpochs
        if c.sgd.scaling == .none, let flag = optimizer.warmupEpochs.map({ "--warmup-epochs \($0)" })
            ?? optimizer.lrReferenceBatch.map({ "--lr-reference-batch \($0)" }) {
            throw ConfigurationError("\(flag): only means something with --lr-scaling linear (the warm-up rises to the scaled rate); add it, or drop \(flag.split(separator: " ")[0]).")
        }
        c.sgd.l1 = optimizer.l1 ?? c.sgd.l1
        c.sgd.l2 = optimizer.l2 ?? c.sgd.l2
        c.epochs = optimizer.epochs ?? c.epochs
        step.apply(to: &c)
        c.checkReplicasEvery = reliability.checkReplicas
        c.checkpointDirectory = checkpoints.checkpointDir
        return c
    }

    private func gatherProfiles(_ trainer: Trainer) throws -> [StepProfile] {
        let mine = trainer.profile.values + [Double(trainer.profile.steps)]
        var values = [Double](repeating: 0, count: trainer.world.size * mine.count)
        for (i, v) in mine.enumerated() { values[trainer.world.rank * mine.count + i] = v }
        var floats = values.map { Float($0) }
        try floats.withUnsafeMutableBufferPointer { try trainer.world.allreduceSum($0.baseAddress!, count: $0.count) }
        return (0..<trainer.world.size).map { r in
            let row = floats[r * mine.count ..< (r + 1) * mine.count].map(Double.init)
            return StepProfile(values: Array(row.dropLast()), steps: Int(row.last!))
        }
    }

    private func printStart(_ t: Trainer, resumedFrom checkpoint: Checkpoint?, from path: String?) {
        let c = t.configuration
        print("mlp train: \(c.architecture.summary), \(grouped(t.parameters.layout.count)) parameters")
        print("  data        \(data.directory): \(grouped(t.data.train.count)) train, \(grouped(t.data.validation.count)) validation, \(grouped(t.data.test.count)) test")
        let scaled = c.sgd.scaling == .linear
            ? " × \(c.batchSize)/\(c.sgd.referenceBatch) = \(compact(c.sgd.peakRate(batchSize: c.batchSize))) (linear scaling\(c.sgd.warmupEpochs > 0 ? ", \(c.sgd.warmupEpochs)-epoch warm-up" : ""))" : ""
        print("  optimizer   SGD lr \(compact(c.sgd.learningRate))\(scaled)\(c.sgd.decay > 0 ? " / (1 + \(compact(c.sgd.decay))·t)" : ""), L1 \(compact(c.sgd.l1)), L2 \(compact(c.sgd.l2)), batch \(c.batchSize), up to \(c.epochs) epochs, patience \(c.patience), seed \(c.seed), \(c.shuffle ? "shuffled" : "tutorial order")")
        let perRank = t.exchange == .columns
            ? "model-parallel, all \(c.batchSize) samples and \(unitCounts(c.architecture.hiddenSizes[0], ranks: t.world.size)) hidden units per rank"
            : "data-parallel, \(t.shard.count)\(c.batchSize % t.world.size == 0 ? "" : "-\(t.shard.count + 1)") samples per rank"
        print("  parallel    \(t.world.size) rank\(t.world.size == 1 ? "" : "s") (\(t.world.nodeSize) on this node), \(perRank), exchange \(c.exchange.rawValue): \(t.exchange.rawValue) (\(t.exchangeReason)), OpenBLAS on one thread per rank (\(BLAS.coreName))")
        print("  first layer from the non-zero inputs only (\(String(format: "%.1f", 100 * t.trainingInputDensity)) % of training inputs non-zero); the same bits on any number of ranks")
        print("  validation  every \(t.state.stopping.validationFrequency) iterations on rank 0\(c.checkpointDirectory.map { "; checkpoints in \($0)" } ?? "")")
        if let checkpoint {
            print("  resumed     \(path!) at iteration \(checkpoint.state.iteration) (saved by \(checkpoint.worldSize) rank\(checkpoint.worldSize == 1 ? "" : "s"))")
        }
        fflush(nil)
    }
}

/// 0.01, 0.0001, 0 (not 0.0): a number as a person would write it.
func compact(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// "256" or "244-256": how many of `n` hidden units `--exchange columns` gives each rank.
func unitCounts(_ n: Int, ranks: Int) -> String {
    let counts = (0..<ranks).map { Shard.units(n, rank: $0, worldSize: ranks).count }
    return counts.min() == counts.max() ? "\(counts[0])" : "\(counts.min()!)-\(counts.max()!)"
}
