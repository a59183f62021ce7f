// `mlp train`: parse and validate the flags (identically on every rank, before any MPI traffic) into a
// RunRequest; the core sets the run up (TrainingRun) and trains; rank 0 reports.
import ArgumentParser
import Foundation
import MLPCore

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
    @OptionGroup(title: "Optimization") var hyperparameters: HyperparameterOptions
    @OptionGroup(title: "Schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Parallelism") var step: StepOptions
    @OptionGroup(title: "Reliability") var reliability: ReliabilityOptions
    @OptionGroup(title: "Checkpoints") var checkpoints: CheckpointOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup(title: "Tracing") var tracing: TraceOptions

    /// What the flags ask for.
    var request: RunRequest {
        var r = RunRequest()
        data.apply(to: &r)
        model.apply(to: &r)
        hyperparameters.apply(to: &r)
        schedule.apply(to: &r)
        step.apply(to: &r)
        reliability.apply(to: &r)
        checkpoints.apply(to: &r)
        output.apply(to: &r)
        tracing.apply(to: &r)
        return r
    }

    func validate() throws { try validated(request) }

    func run() throws {
        StopSignal.install()
        signal(SIGPIPE, SIG_IGN)   // a closed stdout ends no training (flushStandardOutput says so)
        let world = try Session.start()
        let watchdog = reliability.watchdog > 0 ? Watchdog(timeout: reliability.watchdog, rank: world.rank, worldSize: world.size) : nil
        let run = try TrainingRun(request, world: world, watchdog: watchdog)
        let reporter = Reporter(quiet: output.quiet, json: run.json, csv: run.csv, tensorBoard: run.tensorBoard, resumed: run.resumed != nil)
        if world.isRoot && !output.quiet { printStart(run) }
        if run.startsAfreshWithAutomaticResume, let directory = run.checkpoints {
            warn("--resume auto: no \(directory.file(Trainer.lastCheckpoint)) yet, so this run starts afresh")
        }
        let summary: TrainingSummary
        do {
            summary = try run.run(observer: reporter)
        } catch {
            if let written = run.traceWritten { note("wrote \(written), up to the failure") }
            throw error
        }
        if let written = run.traceWritten { note("wrote \(written)") }
        watchdog?.beat(.finishing, iteration: summary.iterations)
        let profiles = output.profile ? try run.gatherProfiles() : nil
        if world.isRoot { try reporter.finished(summary, profiles: profiles) }
        if summary.stopReason == .signal {
            if world.isRoot { warn("stopped by \(StopSignal.describe(summary.signal, underMpirun: Launch.underMpirun)) after iteration \(summary.iterations); \(resumeHint)") }
            throw StoppedBySignal(signal: summary.signal)
        }
    }

    /// A command that works as printed, pasted into a shell: the checkpoint, and the outputs to go on writing.
    private var resumeHint: String {
        guard let directory = checkpoints.checkpointDir else { return "no --checkpoint-dir was given, so nothing was saved" }
        let outputs = [("--checkpoint-dir", directory), ("--log-json", output.logJson), ("--log-csv", output.logCsv)]
            .compactMap { flag, value in value.map { " \(flag) \(shellQuoted($0))" } }.joined()
        return "resume with: mlp train --resume \(shellQuoted((directory as NSString).appendingPathComponent(Trainer.lastCheckpoint)))\(outputs)"
    }

    private func printStart(_ run: TrainingRun) {
        let t = run.trainer, c = t.configuration
        print("mlp train: \(c.architecture.summary), \(grouped(t.parameters.layout.count)) parameters")
        print("  data        \(run.request.dataDirectory): \(grouped(t.data.train.count)) train, \(grouped(t.data.validation.count)) validation, \(grouped(t.data.test.count)) test")
        let scaled = c.sgd.scaling == .linear
            ? " × \(c.batchSize)/\(c.sgd.referenceBatch) = \(compact(c.sgd.peakRate(batchSize: c.batchSize))) (linear scaling\(c.sgd.warmupEpochs > 0 ? ", \(c.sgd.warmupEpochs)-epoch warm-up" : ""))" : ""
        print("  optimizer   SGD lr \(compact(c.sgd.learningRate))\(scaled)\(c.sgd.decay > 0 ? " / (1 + \(compact(c.sgd.decay))·t)" : ""), L1 \(compact(c.sgd.l1)), L2 \(compact(c.sgd.l2)), batch \(c.batchSize), up to \(c.epochs) epochs, patience \(c.patience), seed \(c.seed), \(c.shuffle ? "shuffled" : "tutorial order")")
        let perRank = t.exchange == .columns
            ? "model-parallel, all \(c.batchSize) samples and \(unitCounts(c.architecture.hiddenSizes[0], ranks: t.world.size)) hidden units per rank"
            : "data-parallel, \(t.shard.count)\(c.batchSize % t.world.size == 0 ? "" : "-\(t.shard.count + 1)") samples per rank"
        print("  parallel    \(t.world.size) rank\(t.world.size == 1 ? "" : "s") (\(t.world.nodeSize) on this node), \(perRank), exchange \(c.exchange.rawValue): \(t.exchange.rawValue) (\(t.exchangeReason))\(t.exchangeTransport.map { " through \($0)" } ?? ""), OpenBLAS on one thread per rank (\(BLAS.coreName))")
        print("  first layer from the non-zero inputs only (\(String(format: "%.1f", 100 * t.trainingInputDensity)) % of training inputs non-zero); the same bits on any number of ranks")
        print("  validation  every \(t.state.stopping.validationFrequency) iterations on rank 0\(c.checkpointDirectory.map { "; checkpoints in \($0)" } ?? "")")
        if let checkpoint = run.resumed, let path = run.resumePath {
            print("  resumed     \(path) at iteration \(checkpoint.state.iteration) (saved by \(checkpoint.worldSize) rank\(checkpoint.worldSize == 1 ? "" : "s"))")
        }
        flushStandardOutput()
    }
}

/// `text` as a shell word: as it is when it holds only safe characters, else in single quotes.
func shellQuoted(_ text: String) -> String {
    let safe = text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "/._-+=:,@%".contains($0)) }
    return safe && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// "256" or "244-256": how many of `n` hidden units `--exchange columns` gives each rank.
func unitCounts(_ n: Int, ranks: Int) -> String {
    let counts = (0..<ranks).map { Shard.units(n, rank: $0, worldSize: ranks).count }
    return counts.min() == counts.max() ? "\(counts[0])" : "\(counts.min()!)-\(counts.max()!)"
}
