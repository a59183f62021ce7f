// The flags of `mlp train`, grouped as `--help` shows them, each group filling its part of a
// RunRequest. `mlp sweep` takes the groups it does not sweep; `mlp bench` the data and the step.
// Every value is optional so that a resumed run can tell a flag the user gave from a default and
// take the rest from the checkpoint; the defaults in the help come from the configuration's own.
import ArgumentParser
import MLPCore

extension Activation: ExpressibleByArgument {}
extension ExchangeMode: ExpressibleByArgument {}
extension LearningRateScaling: ExpressibleByArgument {}

private let defaults = TrainingConfiguration()

/// "500", "500,300" or "500x300": the widths of the hidden layers (printed as 500x300, the sweep's
/// spelling, where a comma separates the values of a list).
struct HiddenSizes: ExpressibleByArgument, Equatable {
    let sizes: [Int]
    init?(argument: String) {
        let parts = argument.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "," || $0 == "x" })
            .map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.count <= 64, parts.allSatisfy({ $0 != nil }) else { return nil }
        sizes = parts.map { $0! }
    }
    var defaultValueDescription: String { sizes.map(String.init).joined(separator: "x") }
}

/// A request's checks, as a usage error of the command.
func validated(_ request: RunRequest) throws {
    do { try request.validate() } catch let error as ConfigurationError { throw ValidationError(error.message) }
}

/// Where the data is: every command that reads MNIST takes it so.
struct DataOptions: ParsableArguments {
    @OptionGroup var location: DataDirectoryOption
    var directory: String { location.directory }

    @Option(parsing: .unconditional, help: ArgumentHelp("Train on only the first N of the 50,000 training samples (quick runs).", valueName: "n"))
    var trainLimit: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Validate and test on only the first N samples of each split (quick runs).", valueName: "n"))
    var evalLimit: Int?

    func apply(to r: inout RunRequest) {
        r.dataDirectory = directory
        r.trainLimit = trainLimit
        r.evalLimit = evalLimit
    }
}

struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Hidden layer widths, e.g. 500 or 500x300 (500,300 also works). (default: \(defaults.architecture.hiddenSizes.map(String.init).joined(separator: "x")))", valueName: "widths"))
    var hidden: HiddenSizes?

    @Option(help: ArgumentHelp("Hidden activation: tanh, sigmoid or relu. (default: \(defaults.architecture.activation.rawValue))", valueName: "name"))
    var activation: Activation?

    func apply(to r: inout RunRequest) {
        r.hidden = hidden?.sizes
        r.activation = activation
    }
}

/// The hyper-parameters `mlp sweep` takes lists of.
struct HyperparameterOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Learning rate η₀. (default: \(compact(defaults.sgd.learningRate)))", valueName: "rate"))
    var lr: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Learning-rate decay d: η_t = η₀ / (1 + d·t), t = iterations done. (default: \(compact(defaults.sgd.decay)))", valueName: "d"))
    var lrDecay: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("L1 penalty λ₁ on the weights. (default: \(compact(defaults.sgd.l1)))", valueName: "λ"))
    var l1: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Squared-L2 penalty λ₂ on the weights. (default: \(compact(defaults.sgd.l2)))", valueName: "λ"))
    var l2: Double?

    @Option(parsing: .unconditional, help: ArgumentHelp("Global minibatch size B, split over the ranks. (default: \(defaults.batchSize))", valueName: "n"))
    var batchSize: Int?

    func apply(to r: inout RunRequest) {
        r.learningRate = lr
        r.learningRateDecay = lrDecay
        r.l1 = l1
        r.l2 = l2
        r.batchSize = batchSize
    }
}

/// How long, in which order, from which start.
struct ScheduleOptions: ParsableArguments {
    @Option(help: ArgumentHelp("How the learning rate follows the global batch B: none, or linear (Goyal et al. 2017: --lr · B / --lr-reference-batch). (default: \(defaults.sgd.scaling.rawValue))", valueName: "rule"))
    var lrScaling: LearningRateScaling?

    @Option(parsing: .unconditional, help: ArgumentHelp("The global batch --lr is tuned for, with --lr-scaling linear. (default: \(defaults.sgd.referenceBatch), the tutorial's)", valueName: "n"))
    var lrReferenceBatch: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --lr-scaling linear: epochs over which the rate rises linearly, per iteration, from --lr to the scaled rate. (default: \(defaults.sgd.warmupEpochs))", valueName: "n"))
    var warmupEpochs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Maximum number of epochs. (default: \(defaults.epochs))", valueName: "n"))
    var epochs: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Initial patience in iterations (minibatches), as the tutorial. (default: \(defaults.patience))", valueName: "n"))
    var patience: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Seed of the initial weights (numpy RandomState) and of --shuffle, 0...4294967295. (default: \(defaults.seed))", valueName: "n"))
    var seed: Int?

    @Flag(help: "Shuffle the training set every epoch (seeded). The tutorial does not.")
    var shuffle = false

    func apply(to r: inout RunRequest) {
        r.learningRateScaling = lrScaling
        r.referenceBatch = lrReferenceBatch
        r.warmupEpochs = warmupEpochs
        r.epochs = epochs
        r.patience = patience
        r.seed = seed
        r.shuffle = shuffle
    }
}

/// How a step divides its work among the ranks: `mlp train`, `mlp sweep` and `mlp bench` share these.
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

    func apply(to r: inout RunRequest) { r.exchange = mode }
}

struct ReliabilityOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Debug: every N steps compare a hash of the parameters across ranks and stop if they differ; 0 turns it off.", valueName: "n"))
    var checkReplicas = 0

    @Option(parsing: .unconditional, help: ArgumentHelp("End this rank (and so the job) after this many seconds without progress, e.g. waiting for a rank that died or a network link that went down; 0 turns it off.", valueName: "seconds"))
    var watchdog = 60.0

    func validate() throws {
        if !(watchdog == 0 || (watchdog >= 0.1 && watchdog <= 86_400 * 365)) {
            throw ValidationError("--watchdog \(watchdog): must be 0 (off) or a number of seconds from 0.1 to a year.")
        }
    }

    func apply(to r: inout RunRequest) { r.checkReplicasEvery = checkReplicas }
}

struct CheckpointOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Rank 0 writes last.safetensors (see --checkpoint-every) and best.safetensors on every new best here; made when missing. A directory that holds an earlier run's checkpoints is refused unless the run resumes it (--resume) or --overwrite says so.", valueName: "dir"))
    var checkpointDir: String?

    @Option(help: ArgumentHelp("Continue from this checkpoint (read by rank 0 only, any world size), or `auto`: from <checkpoint-dir>/last.safetensors if there is one, else start afresh. Flags left out come from the checkpoint; README.md says which may change.", valueName: "file|auto"))
    var resume: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("Write last.safetensors after every N-th validation (and always when a signal stops the run, and at its end).", valueName: "n"))
    var checkpointEvery = 1

    @Flag(help: "Start afresh in a --checkpoint-dir that holds an earlier run's checkpoints, writing over them.")
    var overwrite = false

    func apply(to r: inout RunRequest) {
        r.checkpointDirectory = checkpointDir
        r.resume = resume.map { $0 == "auto" ? .automatic : .file($0) } ?? .none
        r.checkpointEvery = checkpointEvery
        r.overwrite = overwrite
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

    @Option(help: ArgumentHelp("Write the validation records as TensorBoard scalars (an event file per run) in this directory (rank 0).", valueName: "dir"))
    var tensorboard: String?

    func apply(to r: inout RunRequest) {
        r.logJSON = logJson
        r.logCSV = logCsv
        r.tensorBoardDirectory = tensorboard
    }
}

/// 0.01, 0.0001, 0 (not 0.0): a number as a person would write it.
func compact(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}
