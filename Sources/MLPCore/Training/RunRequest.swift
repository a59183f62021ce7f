// What one training run is asked for, as a command line says it: every setting that may be given
// (nil: the default, or the checkpoint's value when resuming), the data, and what the run writes.
// `mlp train` fills one from its flags, `mlp sweep` one per configuration; TrainingRun carries it out.

public struct RunRequest: Sendable {
    // MARK: The model and its training (nil: the default, or the checkpoint's)
    public var hidden: [Int]?
    public var activation: Activation?
    public var learningRate: Double?
    public var learningRateDecay: Double?
    public var learningRateScaling: LearningRateScaling?
    public var referenceBatch: Int?
    public var warmupEpochs: Int?
    public var l1: Double?
    public var l2: Double?
    public var batchSize: Int?
    public var epochs: Int?
    public var patience: Int?
    public var seed: Int?
    public var shuffle = false
    public var exchange: ExchangeMode = .auto
    public var checkReplicasEvery = 0

    // MARK: The data
    public var dataDirectory = "data/mnist"
    public var trainLimit: Int?
    public var evalLimit: Int?

    // MARK: What the run writes (rank 0)
    public var checkpointDirectory: String?
    public var resume: Resume = .none
    public var checkpointEvery = 1
    /// A fresh run may replace the checkpoints an earlier run left in the directory.
    public var overwrite = false
    public var logJSON: String?
    public var logCSV: String?
    /// A timeline of every rank's steps (Chrome trace JSON), and which steps it holds.
    public var tracePath: String?
    public var traceWindow = TraceWindow.standard
    /// A directory for TensorBoard's event files.
    public var tensorBoardDirectory: String?

    public enum Resume: Equatable, Sendable {
        case none
        case file(String)
        /// From <checkpoint directory>/last.safetensors if there is one, else afresh.
        case automatic
    }

    public init() {}

    /// The largest epoch count and warm-up: whatever counts them up (iterations, a schedule) must
    /// stay far from overflowing, whatever the batch.
    public static let mostEpochs = 1_000_000_000
    /// The largest hidden layer, batch and count of samples a flag may ask for.
    public static let mostUnits = 1 << 20

    /// Checks every value against its rule, before anything starts; the message names the flag.
    public func validate() throws {
        func check(_ value: Double?, _ flag: String, _ rule: Rules.Rule<Double>) throws {
            if let value, let must = rule(value) { throw ConfigurationError("\(flag) \(value): must be \(must).") }
        }
        func check(_ value: Int?, _ flag: String, _ range: ClosedRange<Int>, _ what: String) throws {
            if let value, !range.contains(value) { throw ConfigurationError("\(flag) \(value): must be \(what).") }
        }
        try check(learningRate, "--lr", Rules.positive)
        try check(learningRateDecay, "--lr-decay", Rules.nonNegative)
        try check(l1, "--l1", Rules.nonNegative)
        try check(l2, "--l2", Rules.nonNegative)
        if let hidden {
            guard !hidden.isEmpty else { throw ConfigurationError("--hidden: needs at least one hidden layer width.") }
            if let bad = hidden.first(where: { !(1...Self.mostUnits).contains($0) }) {
                throw ConfigurationError("--hidden \(hidden.map(String.init).joined(separator: ",")): layer width \(bad) is not in 1...\(Self.mostUnits).")
            }
        }
        try check(referenceBatch, "--lr-reference-batch", 1...Self.mostUnits, "at least 1 (and at most \(Self.mostUnits))")
        try check(warmupEpochs, "--warmup-epochs", 0...Self.mostEpochs, "at least 0 (and at most \(Self.mostEpochs))")
        try check(batchSize, "--batch-size", 1...Self.mostUnits, "at least 1 (and at least the number of ranks; at most \(Self.mostUnits))")
        try check(epochs, "--epochs", 1...Self.mostEpochs, "at least 1 (and at most \(Self.mostEpochs))")
        try check(patience, "--patience", 1...Int(Int32.max), "at least 1 iteration (and at most \(Int32.max))")
        try check(seed, "--seed", 0...Int(UInt32.max), "in 0...4294967295")
        try check(trainLimit, "--train-limit", 1...Int(Int32.max), "at least 1")
        try check(evalLimit, "--eval-limit", 1...Int(Int32.max), "at least 1")
        try check(checkpointEvery, "--checkpoint-every", 1...Int(Int32.max), "at least 1 (every validation)")
        try check(checkReplicasEvery, "--check-replicas", 0...Int(Int32.max), "0 (off) or a number of steps")
        if checkpointDirectory == "" { throw ConfigurationError("--checkpoint-dir '': an empty path. Name the directory for the checkpoints.") }
        if resume == .automatic && checkpointDirectory == nil {
            throw ConfigurationError("--resume auto: continues from <checkpoint-dir>/last.safetensors, so it needs --checkpoint-dir DIR.")
        }
        if resume != .none && overwrite {
            throw ConfigurationError("--overwrite starts afresh over an earlier run's checkpoints; --resume continues it. Choose one.")
        }
        if let json = logJSON, let csv = logCSV, json == csv {
            throw ConfigurationError("--log-json and --log-csv both name \(json); give each log its own file.")
        }
    }

    /// The run's configuration: these settings over the defaults, or over the checkpoint's values
    /// when resuming, where the settings that define the model and the data order must agree with it.
    public func configuration(resuming checkpoint: Checkpoint?, from path: String?) throws -> TrainingConfiguration {
        var c = checkpoint?.configuration ?? TrainingConfiguration()
        if let checkpoint {
            let stored = checkpoint.configuration
            func agree<T: Equatable>(_ flag: String, _ given: T?, _ saved: T, _ show: (T) -> String) throws {
                if let given, given != saved { throw CheckpointError.conflict(flag: flag, given: show(given), stored: show(saved), path: path ?? "") }
            }
            try agree("--hidden", hidden, stored.architecture.hiddenSizes) { $0.map(String.init).joined(separator: ",") }
            try agree("--activation", activation, stored.architecture.activation) { $0.rawValue }
            try agree("--batch-size", batchSize, stored.batchSize) { String($0) }
            try agree("--seed", seed.map { UInt32($0) }, stored.seed) { String($0) }
            try agree("--patience", patience, stored.patience) { String($0) }
            try agree("--shuffle", shuffle ? true : nil, stored.shuffle) { $0 ? "on" : "off" }
        } else {
            c.architecture.hiddenSizes = hidden ?? c.architecture.hiddenSizes
            c.architecture.activation = activation ?? c.architecture.activation
            c.batchSize = batchSize ?? c.batchSize
            c.seed = seed.map { UInt32($0) } ?? c.seed
            c.patience = patience ?? c.patience
            c.shuffle = shuffle
        }
        // These may change on resume (README: "Resuming"); the run then leaves the original's path.
        c.sgd.learningRate = learningRate ?? c.sgd.learningRate
        c.sgd.decay = learningRateDecay ?? c.sgd.decay
        c.sgd.scaling = learningRateScaling ?? c.sgd.scaling
        c.sgd.referenceBatch = referenceBatch ?? c.sgd.referenceBatch
        c.sgd.warmupEpochs = warmupEpochs ?? c.sgd.warmupEpochs
        if c.sgd.scaling == .none, let flag = warmupEpochs.map({ "--warmup-epochs \($0)" }) ?? referenceBatch.map({ "--lr-reference-batch \($0)" }) {
            throw ConfigurationError("\(flag): only means something with --lr-scaling linear (the warm-up rises to the scaled rate); add it, or drop \(flag.split(separator: " ")[0]).")
        }
        c.sgd.l1 = l1 ?? c.sgd.l1
        c.sgd.l2 = l2 ?? c.sgd.l2
        c.epochs = epochs ?? c.epochs
        c.exchange = exchange
        c.checkReplicasEvery = checkReplicasEvery
        c.checkpointDirectory = checkpointDirectory
        return c
    }
}
