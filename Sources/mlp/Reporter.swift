// What rank 0 shows while training: the start block, one line per validation and the closing summary
// on stdout; a live progress bar on stderr when that is a terminal; the same figures in the logs.
import Foundation
import MLPCore

final class Reporter: TrainingObserver {
    private let quiet: Bool
    /// False within a sweep: the logs only, the sweep prints one line per configuration.
    private let terminal: Bool
    /// Called after every step (a sweep's rank 0 hands out work there).
    private let everyStep: (() -> Void)?
    private let json: LogFile?
    private let csv: LogFile?
    private let tensorBoard: TensorBoardWriter?
    private let interactive = progressBarWanted()
    private var trainer: Trainer?
    private var barShown = false
    private var lastDraw = -Double.infinity   // the first step draws at once
    private var epochStart = (time: 0.0, iteration: 0)

    private let resumed: Bool

    /// `resumed`: the run continues from a checkpoint (the logs then go on where they were).
    init(quiet: Bool, terminal: Bool = true, everyStep: (() -> Void)? = nil, json: LogFile?, csv: LogFile?,
         tensorBoard: TensorBoardWriter? = nil, resumed: Bool) {
        self.quiet = quiet || !terminal
        self.terminal = terminal
        self.everyStep = everyStep
        self.json = json
        self.csv = csv
        self.tensorBoard = tensorBoard
        self.resumed = resumed
    }

    func started(_ trainer: Trainer) throws {
        self.trainer = trainer
        epochStart = (trainer.world.wallTime(), trainer.state.iteration)
        if let csv, csv.wasEmpty { try csv.write(RunLog.csv([])) }   // the header, once per file
        try json?.writeLine(.object([
            ("event", .string("start")), ("architecture", .string(trainer.configuration.architecture.summary)),
            ("parameters", .integer(trainer.parameters.layout.count)), ("world_size", .integer(trainer.world.size)),
            ("batch_size", .integer(trainer.configuration.batchSize)), ("learning_rate", .number(trainer.configuration.sgd.learningRate)),
            ("peak_learning_rate", .number(trainer.configuration.sgd.peakRate(batchSize: trainer.configuration.batchSize))),
            ("warmup_epochs", .integer(trainer.configuration.sgd.warmupEpochs)),
            ("exchange", .string(trainer.exchange.rawValue)),
            ("iteration", .integer(trainer.state.iteration)), ("batches_per_epoch", .integer(trainer.schedule.batchesPerEpoch)),
            ("resumed", .bool(resumed)),
        ]))
    }

    func stepped(iteration: Int, batchesPerEpoch: Int) {
        everyStep?()
        guard interactive, !quiet, let trainer else { return }
        let now = trainer.world.wallTime()
        if iteration % batchesPerEpoch == 0 { epochStart = (now, iteration) }
        guard now - lastDraw >= 0.2 else { return }
        lastDraw = now
        let inEpoch = iteration % batchesPerEpoch
        let done = iteration - epochStart.iteration
        let rate = done > 0 ? Double(done * trainer.configuration.batchSize) / max(now - epochStart.time, 1e-9) : 0
        let eta = rate > 0 ? Double((batchesPerEpoch - inEpoch) * trainer.configuration.batchSize) / rate : 0
        let width = 30, filled = width * inEpoch / batchesPerEpoch
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(format: "epoch %ld [%@] %ld/%ld  %@ samples/s  ETA %@",
                          iteration / batchesPerEpoch + 1, bar, inEpoch, batchesPerEpoch, grouped(Int(rate)), clock(eta))
        writeStandardError("\r\u{1B}[K" + line)
        barShown = true
    }

    func validated(_ r: ValidationRecord) throws {
        try json?.writeLine(RunLog.validation(r))
        try csv?.write(RunLog.csvLine(r))
        if let tensorBoard, let trainer { try tensorBoard.write(r, learningRate: trainer.rate(at: r.iteration - 1)) }
        guard !quiet else { return }
        clearBar()
        var line = String(format: "epoch %ld, minibatch %ld/%ld, validation error %.2f %%, train loss %.4f, %@ samples/s, %.1f s",
                          r.epoch, (r.iteration - 1) % max(1, r.batchesPerEpoch) + 1, r.batchesPerEpoch,
                          r.validationError * 100, r.trainLoss, grouped(Int(r.samplesPerSecond)), r.seconds)
        if let test = r.testError { line += String(format: "; new best, test error %.2f %%", test * 100) }
        print(line)
        flushStandardOutput()
    }

    func finished(_ s: TrainingSummary, profiles: [StepProfile]?) throws {
        clearBar()
        try json?.writeLine(RunLog.done(s, profile: profiles))
        guard terminal else { return }
        let test = s.testError.map { String(format: "%.2f %%", $0 * 100) } ?? "not measured"
        print(String(format: "Optimization complete. Best validation score of %.2f %% obtained at iteration %ld, with test performance %@.",
                     s.bestValidationError * 100, s.bestIteration, test))
        let reason = switch s.stopReason {
        case .patience: "patience ran out"
        case .epochs: "epochs done"
        case .signal: "stopped by \(StopSignal.name(s.signal))"
        }
        print(String(format: "%ld epochs, %ld iterations in %.1f s (%.2f epochs/min) on %ld rank%@; %@.",
                     s.epochs, s.iterations, s.seconds, s.epochsPerMinute, s.worldSize, s.worldSize == 1 ? "" : "s", reason))
        if let profiles { printProfile(profiles, seconds: s.seconds) }
        flushStandardOutput()
    }

    private func printProfile(_ profiles: [StepProfile], seconds: Double) {
        print("Time per step, milliseconds (exchange includes waiting for other ranks; update includes the factor layers' gradient GEMM):")
        print("  rank   steps   forward  backward  exchange    update  validation(total s)  scoring(s)")
        for (rank, p) in profiles.enumerated() {
            let n = Double(max(1, p.steps))
            print(String(format: "  %4ld %7ld %9.3f %9.3f %9.3f %9.3f %9.2f %21.2f", rank, p.steps,
                         p.forward / n * 1e3, p.backward / n * 1e3, p.exchange / n * 1e3, p.update / n * 1e3, p.validation, p.scoring))
        }
        let root = profiles[0]
        print(String(format: "Scoring the validation and test sets took %.1f %% of the run; checkpoints, gathering the model and waiting %.1f %%.",
                     100 * root.scoring / max(seconds, 1e-9), 100 * (root.validation - root.scoring) / max(seconds, 1e-9)))
    }

    private func clearBar() {
        if barShown { writeStandardError("\r\u{1B}[K"); barShown = false }
    }
}

func grouped(_ n: Int) -> String {
    let digits = String(abs(n))
    var out = ""
    for (i, c) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60) : String(format: "%ld:%02ld", s / 60, s % 60)
}

/// Whether to draw the progress bar: stderr is a terminal and TERM is not `dumb`. Under mpirun a
/// rank's stderr may be a pseudo-terminal whatever mpirun's own is, so there the question goes to
/// the parent (mpirun on the launch node): is its stderr a terminal too?
func progressBarWanted() -> Bool {
    guard ProcessInfo.processInfo.environment["TERM"].map({ $0 != "dumb" }) ?? false else { return false }
    guard Launch.underLauncher else { return isatty(STDERR_FILENO) == 1 }
    let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getppid())/fd/2")) ?? ""
    return target.hasPrefix("/dev/pts/") || target.hasPrefix("/dev/tty")
}
