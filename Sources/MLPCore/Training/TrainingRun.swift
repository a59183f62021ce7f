// One training run, set up on a communicator and carried out: the outputs checked and locked, the
// checkpoint to resume from agreed, the data loaded and checked against the model, the trainer
// built. `mlp train` is one; `mlp sweep` runs one per configuration. Every step of the set-up is
// agreed across the ranks: one rank's failure ends them all, with its message.
import Foundation

public final class TrainingRun {
    public let request: RunRequest
    public let trainer: Trainer
    /// The checkpoint it continues from, and its path.
    public let resumed: Checkpoint?
    public let resumePath: String?
    /// Rank 0's outputs (nil on the other ranks, and where not asked for).
    public let checkpoints: OutputDirectory?
    public let json: LogFile?
    public let csv: LogFile?
    public let tensorBoard: TensorBoardWriter?
    /// `--trace`: every rank records; rank 0 writes the file when the run ends, however it ends.
    public let trace: Trace?
    /// Rank 0: the trace file, once written.
    public private(set) var traceWritten: String?
    /// Rank 0: with `--resume auto` and no checkpoint yet, the run starts afresh and says so.
    public let startsAfreshWithAutomaticResume: Bool

    /// `data`: already loaded (a sweep reads it once for all its runs). `checkpoints` and `json`: a
    /// directory and log rank 0 already opened (a sweep's configuration folder and its log), else
    /// the request's are opened.
    public init(_ request: RunRequest, world: Communicator, watchdog: Watchdog?, data loaded: MNIST? = nil,
                checkpoints given: OutputDirectory? = nil, json givenLog: LogFile? = nil,
                tensorBoard givenBoard: OutputDirectory? = nil) throws {
        try request.validate()
        self.request = request
        watchdog?.beat(.setup)

        // Rank 0 opens and locks the checkpoint directory, and decides where the run starts.
        let directory = try world.together { world.isRoot ? try given ?? Self.openCheckpointDirectory(request) : nil }
        checkpoints = directory
        var resumePathBytes = try world.together { try world.isRoot ? Array((Self.resumeFile(request, directory) ?? "").utf8) : [] }
        try world.broadcast(&resumePathBytes, from: 0)   // every rank names the same file in messages
        let resumePath = resumePathBytes.isEmpty ? nil : String(decoding: resumePathBytes, as: UTF8.self)
        self.resumePath = resumePath
        startsAfreshWithAutomaticResume = world.isRoot && request.resume == .automatic && resumePath == nil

        // Rank 0 alone reads the checkpoint; every rank gets its verified bytes.
        var resumeBytes = try world.together { world.isRoot ? try resumePath.map(Checkpoint.readBytes) ?? [] : [] }
        try world.broadcast(&resumeBytes, from: 0)
        let resumed = resumeBytes.isEmpty ? nil : try world.together { try Checkpoint.decode(resumeBytes, path: resumePath!) }
        self.resumed = resumed
        let configuration = try world.together { () -> TrainingConfiguration in
            let c = try request.configuration(resuming: resumed, from: resumePath)
            try c.architecture.checkFits(batchSize: c.batchSize, memory: InputFile.physicalMemory)
            return c
        }

        // Rank 0's logs and event files: a resumed run appends to them; a fresh one refuses to bury an earlier run's.
        let isResumed = resumed != nil
        (json, csv, tensorBoard) = try world.together {
            world.isRoot ? try Self.openLogs(request, checkpoints: directory, json: givenLog, tensorBoard: givenBoard, resumed: isResumed)
                         : (nil, nil, nil)
        }

        // Every rank reads the data itself. A resumed run reads as many samples as the checkpoint's
        // run did, unless told otherwise; the model must fit the images and their labels.
        let mnist = try loaded ?? world.together {
            try MNIST.load(directory: request.dataDirectory, trainLimit: request.trainLimit ?? resumed.map(\.trainSamples),
                           evalLimit: request.evalLimit ?? resumed?.evaluationSamples)
        }
        watchdog?.beat(.setup)
        try world.together { try mnist.check(fits: configuration.architecture, from: resumePath) }
        if let resumed, resumed.trainSamples != mnist.train.count {
            try world.failTogether(CheckpointError.conflict(flag: "--train-limit", given: String(mnist.train.count),
                                                            stored: "\(resumed.trainSamples) training samples", path: resumePath!))
        }
        let trainer = try world.together {
            try Trainer(configuration: configuration, data: mnist, world: world,
                        parameters: resumed?.parameters ?? ParameterSet.initialized(configuration.architecture, seed: configuration.seed),
                        state: resumed?.state)
        }
        trainer.checkpoints = directory
        trainer.checkpointEvery = request.checkpointEvery
        trainer.watchdog = watchdog
        // While rank 0 validates, the other ranks on its node sleep: it may use their cores too.
        trainer.validationThreads = BLAS.scoringThreads()
        trace = try request.tracePath.map {
            try Trace(path: $0, window: request.traceWindow, world: world, validationEvery: trainer.state.stopping.validationFrequency)
        }
        trainer.trace = trace
        self.trainer = trainer
    }

    /// Trains to the end, an agreed stop or a failure. With `--trace`, rank 0 then writes the
    /// trace: every rank's slices after a run that ended together, and after a failure what it
    /// has (the others' up to the last validation), saying so in the file.
    public func run(observer: TrainingObserver?) throws -> TrainingSummary {
        let world = trainer.world
        let summary: TrainingSummary
        do {
            summary = try trainer.run(observer: world.isRoot ? observer : nil)
        } catch {
            if world.isRoot, let trace {
                let note = "the run failed (\(error)); the other ranks' slices since the last validation are missing"
                traceWritten = try? trace.write(note: note)
            }
            throw error
        }
        if let trace {
            try trace.collect()
            if world.isRoot { traceWritten = try trace.write() }
        }
        return summary
    }

    /// Every rank's time per phase, on every rank (a collective).
    public func gatherProfiles() throws -> [StepProfile] {
        let world = trainer.world
        let mine = trainer.profile.values + [Double(trainer.profile.steps)]
        var floats = [Float](repeating: 0, count: world.size * mine.count)
        for (i, v) in mine.enumerated() { floats[world.rank * mine.count + i] = Float(v) }
        try floats.withUnsafeMutableBufferPointer { try world.allreduceSum($0.baseAddress!, count: $0.count) }
        return (0..<world.size).map { r in
            let row = floats[r * mine.count ..< (r + 1) * mine.count].map(Double.init)
            return StepProfile(values: Array(row.dropLast()), steps: Int(row.last!))
        }
    }

    /// Rank 0: the checkpoint to resume from, or nil to start afresh. A directory that holds an
    /// earlier run's checkpoints is never written over unless the request says so.
    private static func resumeFile(_ request: RunRequest, _ directory: OutputDirectory?) throws -> String? {
        let last = Trainer.lastCheckpoint, best = Trainer.bestCheckpoint
        switch request.resume {
        case .file(let path): return path
        case .automatic:
            guard let directory else { return nil }
            if directory.holdsFile(last) { return directory.file(last) }
            if directory.holdsFile(best) {
                throw FileError.holdsFinishedWork(directory.path, names: [best],
                    advice: "It has no \(last) to continue from: continue from the best with --resume \(directory.file(best)), choose another --checkpoint-dir, or pass --overwrite to start afresh over it")
            }
            return nil
        case .none:
            guard let directory, !request.overwrite else { return nil }
            let found = [last, best].filter(directory.holdsFile)
            if !found.isEmpty {
                throw FileError.holdsFinishedWork(directory.path, names: found,
                    advice: "Continue that run with --resume auto, choose another --checkpoint-dir, or pass --overwrite to start afresh over it")
            }
            return nil
        }
    }

    /// Rank 0: `--checkpoint-dir`, made and locked.
    private static func openCheckpointDirectory(_ request: RunRequest) throws -> OutputDirectory? {
        guard let path = request.checkpointDirectory else { return nil }
        let directory = try OutputDirectory(path, flag: "--checkpoint-dir")
        try directory.lock(by: "trainer")
        return directory
    }

    /// Rank 0: the JSON and CSV logs (or the one a sweep opened) and the TensorBoard writer.
    private static func openLogs(_ request: RunRequest, checkpoints: OutputDirectory?, json given: LogFile?,
                                 tensorBoard givenBoard: OutputDirectory?, resumed: Bool) throws -> (LogFile?, LogFile?, TensorBoardWriter?) {
        if let given { return (given, nil, try openTensorBoard(request, given: givenBoard, resumed: resumed)) }
        for (flag, path) in [("--log-json", request.logJSON), ("--log-csv", request.logCSV)] {
            if let path, let checkpoints { try refuseCollision(flag, path, with: checkpoints) }
        }
        let existing: LogFile.Existing = resumed ? .append : .refuse
        let json = try request.logJSON.map { try LogFile(path: $0, flag: "--log-json", existing: existing) }
        let csv = try request.logCSV.map { try LogFile(path: $0, flag: "--log-csv", existing: existing) }
        // Last: a refused log leaves no event file behind to refuse the next run.
        return (json, csv, try openTensorBoard(request, given: givenBoard, resumed: resumed))
    }

    /// Rank 0: `--tensorboard`'s writer. A fresh run refuses a directory holding an earlier run's
    /// event files, whose curves would mix with its own.
    private static func openTensorBoard(_ request: RunRequest, given: OutputDirectory?, resumed: Bool) throws -> TensorBoardWriter? {
        guard let board = try given ?? request.tensorBoardDirectory.map({ try OutputDirectory($0, flag: "--tensorboard") }) else { return nil }
        if !resumed && !request.overwrite, let earlier = board.names(startingWith: TensorBoardWriter.filePrefix).first {
            throw ConfigurationError("--tensorboard \(board.path) holds \(earlier) from an earlier run, whose curves would mix with this run's. Continue that run with --resume auto, choose another directory, or pass --overwrite to add to it anyway.")
        }
        return try TensorBoardWriter(in: board)
    }

    /// A log may not be one of the checkpoint directory's own files (a checkpoint's rename would
    /// replace it, or it would replace a checkpoint).
    private static func refuseCollision(_ flag: String, _ path: String, with directory: OutputDirectory) throws {
        let name = (path as NSString).lastPathComponent
        let parent = (path as NSString).deletingLastPathComponent
        let reserved = [Trainer.lastCheckpoint, Trainer.bestCheckpoint, OutputDirectory.lockFile]
        guard reserved.contains(name) || name.hasPrefix(OutputDirectory.temporaryPrefix) else { return }
        let resolved = URL(fileURLWithPath: parent.isEmpty ? "." : parent).resolvingSymlinksInPath().path
        let checkpoints = URL(fileURLWithPath: directory.path).resolvingSymlinksInPath().path
        if resolved == checkpoints {
            throw ConfigurationError("\(flag) \(path): that is one of --checkpoint-dir's own files (\(name)). Write the log to another file, e.g. \(directory.file("log.jsonl")).")
        }
    }
}
