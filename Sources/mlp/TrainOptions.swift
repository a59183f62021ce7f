// The flags of `mlp train`, grouped as `--help` shows them. Every value is optional so that a
// resumed run can tell a flag the user gave from a default, and take the rest from the checkpoint.
import ArgumentParser
import MLPCore

extension Activation: ExpressibleByArgument {}
extension ExchangeMode: ExpressibleByArgument {}
extension LearningRateScaling: ExpressibleByArgument {}

/// "500" or "500,300": the widths of the hidden layers.
struct HiddenSizes: ExpressibleByArgument, Equatable {
    let sizes: [Int]
    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        sizes = parts.map { $0! }
    }
    var defaultValueDescription: String { sizes.map(String.init).joined(separator: ",") }
}

struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp("Directory holding the four MNIST IDX files (raw or .gz). Every rank reads it.", valueName: "dir"))
    var directory = "data/mnist"

    @Option(parsing: .unconditional, help: ArgumentHelp("Train on only the first N of the 50,000 training samples (quick runs).", valueName: "n"))
    var trainLimit: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Validate and test on only the first N samples of each split (quick runs).", valueName: "n"))
    var evalLimit: Int?

    func validate() throws {
        if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit \(trainLimit): must be at least 1.") }
        if let evalLimit, evalLimit < 1 { throw ValidationError("--eval-limit \(evalLimit): must be at least 1.") }
    }
}

struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Hidden layer widths, comma-separated, e.g. 500 or 500,300. (default: 500)", valueName: "sizes"))
    var hidden: HiddenSizes?

    @Option(help: ArgumentHelp("Hidden activation: tanh, sigmoid or relu. (default: tanh)", valueName: "name"))
    var activation: Activation?

    func validate() throws {
        if let hidden, let bad = hidden.sizes.first(where: { $0 < 1 || $0 > 1 << 20 }) {
            throw ValidationError("--hidden \(hidden.defaultValueDescription): layer width \(bad) is not in 1...\(1 << 20).")
        }
    }
}

struct OptimizerOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Learning rate η₀. (default: 0.01)", valueName: "rate"))
    var lr: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Learning-rate decay d: η_t = η₀ / (1 + d·t), t = iterations done. (default: 0)", valueName: "d"))
    var lrDecay: Double?

    @Option(help: ArgumentHelp("How the learning rate follows the global batch B: none, or linear (Goyal et al. 2017: --lr · B / --lr-reference-batch). (default: none)", valueName: "rule"))
    var lrScaling: LearningRateScaling?

    @Option(parsing: .unconditional, help: ArgumentHelp("The global batch --lr is tuned for, with --lr-scaling linear. (default: 20, the tutorial's)", valueName: "n"))
    var lrReferenceBatch: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --lr-scaling linear: epochs over which the rate rises linearly, per iteration, from --lr to the scaled rate. (default: 0)", valueName: "n"))
    var warmupEpochs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("L1 penalty λ₁ on the weights. (default: 0)", valueName: "λ"))
    var l1: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Squared-L2 penalty λ₂ on the weights. (default: 0.0001)", valueName: "λ"))
    var l2: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Global minibatch size B, split over the ranks. (default: 20)", valueName: "n"))
    var batchSize: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Maximum number of epochs. (default: 1000)", valueName: "n"))
    var epochs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Initial patience in iterations (minibatches), as the tutorial. (default: 10000)", valueName: "n"))
    var patience: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the initial weights (numpy RandomState) and of --shuffle, 0...4294967295. (default: 1234)", valueName: "n"))
    var seed: Int?

    @Flag(help: "Shuffle the training set every epoch (seeded). The tutorial does not.")
    var shuffle = false

    func validate() throws {
        // The same rules the checkpoint decoder applies to the stored values.
        func check(_ value: Double?, _ flag: String, _ rule: Rules.Rule<Double>) throws {
            if let value, let must = rule(value) { throw ValidationError("--\(flag) \(value): must be \(must).") }
        }
        try check(lr, "lr", Rules.positive)
        try check(lrDecay, "lr-decay", Rules.nonNegative)
        try check(l1, "l1", Rules.nonNegative)
        try check(l2, "l2", Rules.nonNegative)
        if let lrReferenceBatch, lrReferenceBatch < 1 { throw ValidationError("--lr-reference-batch \(lrReferenceBatch): must be at least 1.") }
        if let warmupEpochs, warmupEpochs < 0 { throw ValidationError("--warmup-epochs \(warmupEpochs): must be at least 0.") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size \(batchSize): must be at least 1 (and at least the number of ranks).") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs \(epochs): must be at least 1.") }
        if let patience, patience < 1 { throw ValidationError("--patience \(patience): must be at least 1 iteration.") }
        if let seed, seed < 0 || seed > Int(UInt32.max) { throw ValidationError("--seed \(seed): must be in 0...4294967295.") }
    }
}

/// How a step divides its work among the ranks: `mlp train` and `mlp bench` share these.
struct StepOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How the ranks divide a step. Data-parallel (every rank trains its shard of the minibatch; every rank ends the step with one rank's bits): factors (gather every row's activations and deltas; every rank forms the whole update), sharded (gather them; each rank updates its block of the first layer's rows, which are gathered), or auto (the faster of the two, timed at start-up). Model-parallel, only when asked for: columns (one hidden layer: each rank owns a block of the hidden units for the whole minibatch; the hidden layer is gathered; also one rank's bits).", valueName: "mode"))
    var exchange: String = "auto"

    // Options of earlier releases, refused with what replaced them.
    @Option(help: .hidden) var parameterMemory: String?
    @Option(help: .hidden) var sparseInput: String?

    /// The chosen way (after `validate`).
    var mode: ExchangeMode { ExchangeMode(rawValue: exchange) ?? .auto }

    func validate() throws {
        switch exchange {
        case "dense", "split":
            throw ValidationError("--exchange \(exchange) was removed: it summed partial gradients across ranks, so its result depended on the number of ranks, and it was never the fastest (docs/performance.md). Use auto, factors, sharded or columns: each gives one rank's bits.")
        case _ where ExchangeMode(rawValue: exchange) == nil:
            throw ValidationError("--exchange \(exchange): expected auto, factors, sharded or columns.")
        default: break
        }
        if parameterMemory != nil {
            throw ValidationError("--parameter-memory was removed: every rank keeps its own copy of the parameters (a copy shared by the node's ranks made a step's speed depend on where the machine put its cores; docs/performance.md). Drop the flag.")
        }
        if sparseInput != nil {
            throw ValidationError("--sparse-input was removed: the first layer always works from the inputs' non-zero pixels, which is exact on any number of ranks (docs/performance.md). Drop the flag.")
        }
    }

    func apply(to c: inout TrainingConfiguration) {
        c.exchange = mode
    }
}

struct ReliabilityOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Debug: every N steps compare a hash of the parameters across ranks and stop if they differ; 0 turns it off.", valueName: "n"))
    var checkReplicas = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("End this rank (and so the job) after this many seconds without progress, e.g. waiting for a rank that died or a network link that went down; 0 turns it off.", valueName: "seconds"))
    var watchdog = 60.0

    func validate() throws {
        if watchdog < 0 || !watchdog.isFinite { throw ValidationError("--watchdog \(watchdog): must be a number of seconds >= 0 (0 turns it off).") }
        if checkReplicas < 0 { throw ValidationError("--check-replicas \(checkReplicas): must be 0 (off) or a number of steps.") }
    }
}

struct CheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Rank 0 writes last.safetensors (see --checkpoint-every) and best.safetensors on every new best here; made when missing.", valueName: "dir"))
    var checkpointDir: String?

    @Option(help: ArgumentHelp("Continue from this checkpoint (read by rank 0 only, any world size), or `auto`: from <checkpoint-dir>/last.safetensors if there is one, else start afresh. Flags left out come from the checkpoint; README.md says which may change.", valueName: "file|auto"))
    var resume: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Write last.safetensors after every N-th validation (and always when a signal stops the run, and at its end). (default: 1)", valueName: "n"))
    var checkpointEvery = 1

    /// `--resume auto`.
    var resumesAutomatically: Bool { resume == "auto" }

    func validate() throws {
        if checkpointEvery < 1 { throw ValidationError("--checkpoint-every \(checkpointEvery): must be at least 1 (every validation).") }
        if resumesAutomatically && checkpointDir == nil {
            throw ValidationError("--resume auto: continues from <checkpoint-dir>/last.safetensors, so it needs --checkpoint-dir DIR.")
        }
    }
}

struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Write metrics as JSON Lines: one object per validation and a final summary (rank 0).", valueName: "file"))
    var logJson: String?

    @Option(help: ArgumentHelp("Also write the validation records as CSV (rank 0).", valueName: "file"))
    var logCsv: String?

    @Flag(help: "Print only the final summary (errors still go to stderr).")
    var quiet = false

    @Flag(help: "Print the time per phase of the step (forward, backward, exchange, update, validation) for every rank at the end, and add it to the JSON log.")
    var profile = false
}
