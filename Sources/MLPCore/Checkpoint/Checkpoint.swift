// Checkpoints: the parameters and the whole training state in one safetensors file, readable by
// any safetensors reader (docs/checkpoint-format.md specifies the tensors and metadata keys).
import CZlib
import Foundation

public struct Checkpoint {
    public static let format = "swift-mpi-mlp"
    /// 2: the metadata carries its own CRC-32 (`metadata_crc32`); version 1 files, without it, still load.
    public static let formatVersion = 2

    public var configuration: TrainingConfiguration  // architecture and hyperparameters of the run
    public var trainSamples: Int                     // size of the training split the epochs count
    /// Size of the validation split (--eval-limit), so that a resume scores the same images; nil
    /// in files written before it was stored (they resume with the full split).
    public var evaluationSamples: Int?
    public var state: TrainingState
    public var worldSize: Int
    public let parameters: ParameterSet

    public init(configuration: TrainingConfiguration, trainSamples: Int, evaluationSamples: Int? = nil, state: TrainingState,
                worldSize: Int, parameters: ParameterSet) {
        self.configuration = configuration
        self.trainSamples = trainSamples
        self.evaluationSamples = evaluationSamples
        self.state = state
        self.worldSize = worldSize
        self.parameters = parameters
    }

    // MARK: Encoding

    /// The safetensors bytes: one tensor per weight and bias, in the flat buffer's order, so the
    /// data section is the parameter buffer itself.
    public func encoded() -> [UInt8] {
        let layout = parameters.layout
        var tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)] = []
        for (l, slot) in layout.layers.enumerated() {
            tensors.append((slot.name + ".weight", [slot.inputs, slot.outputs],
                            UnsafeBufferPointer(start: parameters.weight(l).base, count: slot.inputs * slot.outputs)))
            tensors.append((slot.name + ".bias", [slot.outputs], UnsafeBufferPointer(start: parameters.bias(l), count: slot.outputs)))
        }
        var metadata = self.metadata
        metadata["data_crc32"] = Self.crc32(UnsafeRawBufferPointer(parameters.flat))
        metadata["metadata_crc32"] = Self.metadataCRC(metadata)
        return SafeTensorsFile.encode(metadata: metadata, tensors: tensors)
    }

    /// CRC-32 of every metadata entry but `metadata_crc32` itself, as sorted `key=value` lines: one
    /// changed byte anywhere in the header's metadata shows.
    public static func metadataCRC(_ metadata: [String: String]) -> String {
        let text = metadata.filter { $0.key != "metadata_crc32" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined()
        return Array(text.utf8).withUnsafeBytes { crc32($0) }
    }

    var metadata: [String: String] {
        let c = configuration, s = state, stopping = state.stopping
        return [
            "format": Self.format,
            "format_version": String(Self.formatVersion),
            "layer_sizes": c.architecture.layerSizes.map(String.init).joined(separator: ","),
            "activation": c.architecture.activation.rawValue,
            "learning_rate": String(c.sgd.learningRate),
            "learning_rate_decay": String(c.sgd.decay),
            "learning_rate_scaling": c.sgd.scaling.rawValue,
            "learning_rate_reference_batch": String(c.sgd.referenceBatch),
            "warmup_epochs": String(c.sgd.warmupEpochs),
            "l1": String(c.sgd.l1),
            "l2": String(c.sgd.l2),
            "batch_size": String(c.batchSize),
            "epochs": String(c.epochs),
            "initial_patience": String(c.patience),
            "seed": String(c.seed),
            "shuffle": String(c.shuffle),
            "train_samples": String(trainSamples),
            "evaluation_samples": evaluationSamples.map { String($0) } ?? "all",
            "iteration": String(s.iteration),
            "epoch": String(s.iteration / max(1, trainSamples / c.batchSize)),
            "learning_rate_now": String(c.sgd.rate(at: s.iteration, batchSize: c.batchSize, batchesPerEpoch: max(1, trainSamples / c.batchSize))),
            "data_order": c.shuffle ? "shuffled per epoch from seed and epoch" : "fixed (tutorial order)",
            "patience": String(stopping.patience),
            "validation_frequency": String(stopping.validationFrequency),
            "best_validation_error": String(stopping.bestValidationError),
            "best_iteration": String(stopping.bestValidationError.isFinite ? stopping.bestIteration + 1 : 0),  // 1-based, as the logs; 0: none yet
            "test_error_at_best": stopping.testErrorAtBest.map { String($0) } ?? "none",
            "loss_since_validation": String(s.lossSinceValidation),
            "steps_since_validation": String(s.stepsSinceValidation),
            "elapsed_seconds": String(s.elapsedSeconds),
            "world_size": String(worldSize),
        ]
    }

    // MARK: Decoding

    /// Parses and verifies checkpoint bytes; `path` names the file in errors. The format and the
    /// metadata's checksum first, then the configuration, the state and the tensors, each held to
    /// the rules of the flags that set it, so that nothing a file says can trap later.
    public static func decode(_ bytes: [UInt8], path: String) throws -> Checkpoint {
        let file = try SafeTensorsFile.decode(bytes, path: path)
        let meta = Metadata(values: file.metadata, path: path)
        try verifyFormat(meta)
        let configuration = try decodeConfiguration(meta)
        let (state, trainSamples) = try decodeState(meta, configuration)
        let parameters = try decodeTensors(file, bytes, configuration.architecture, meta)
        let evaluation = meta.values["evaluation_samples"]
        guard evaluation == nil || evaluation == "all" || Int(evaluation!).map({ $0 >= 1 }) == true else {
            throw CheckpointError.badMetadata(path, key: "evaluation_samples", value: evaluation!)
        }
        return Checkpoint(configuration: configuration, trainSamples: trainSamples,
                          evaluationSamples: evaluation.flatMap { Int($0) }, state: state,
                          worldSize: try meta.number("world_size"), parameters: parameters)
    }


    /// Our format, a version this program reads, and (from format 2) the metadata's own checksum.
    private static func verifyFormat(_ meta: Metadata) throws {
        let path = meta.path
        guard meta.values["format"] == format else {
            throw meta.values["format"] == nil ? CheckpointError.missingMetadata(path, key: "format")
                                               : CheckpointError.badMetadata(path, key: "format", value: meta.values["format"]!)
        }
        let version: Int = try meta.number("format_version")
        guard version <= formatVersion else { throw CheckpointError.newerVersion(path, found: version, supported: formatVersion) }
        guard version >= 1 else { throw CheckpointError.badMetadata(path, key: "format_version", value: String(version)) }
        if version >= 2 {   // before any value is believed
            let stored = try meta.string("metadata_crc32"), computed = metadataCRC(meta.values)
            guard stored == computed else { throw CheckpointError.metadataChecksumMismatch(path, stored: stored, computed: computed) }
        }
    }

    /// The architecture and hyperparameters, each within the flags' rules.
    private static func decodeConfiguration(_ meta: Metadata) throws -> TrainingConfiguration {
        let path = meta.path
        var configuration = TrainingConfiguration()
        let sizes = try meta.list("layer_sizes")
        guard (3...66).contains(sizes.count), sizes.allSatisfy({ $0 >= 1 && $0 <= RunRequest.mostUnits }) else {
            throw CheckpointError.badMetadata(path, key: "layer_sizes", value: meta.values["layer_sizes"]!)
        }
        guard let activation = Activation(rawValue: try meta.string("activation")) else {
            throw CheckpointError.badMetadata(path, key: "activation", value: meta.values["activation"]!)
        }
        configuration.architecture = Architecture(inputSize: sizes.first!, hiddenSizes: Array(sizes.dropFirst().dropLast()),
                                                  outputSize: sizes.last!, activation: activation)
        configuration.sgd = SGD(learningRate: try meta.number("learning_rate"), decay: try meta.number("learning_rate_decay"),
                                l1: try meta.number("l1"), l2: try meta.number("l2"))
        if let scaling = meta.values["learning_rate_scaling"] {   // absent before the scaling rule: none
            guard let rule = LearningRateScaling(rawValue: scaling) else {
                throw CheckpointError.badMetadata(path, key: "learning_rate_scaling", value: scaling)
            }
            configuration.sgd.scaling = rule
            configuration.sgd.referenceBatch = try meta.number("learning_rate_reference_batch")
            configuration.sgd.warmupEpochs = try meta.number("warmup_epochs")
            guard configuration.sgd.referenceBatch >= 1, configuration.sgd.warmupEpochs >= 0 else {
                throw CheckpointError.badMetadata(path, key: "learning_rate_reference_batch", value: String(configuration.sgd.referenceBatch))
            }
        }
        configuration.batchSize = try meta.number("batch_size")
        configuration.epochs = try meta.number("epochs")
        configuration.patience = try meta.number("initial_patience")
        configuration.seed = try meta.number("seed")
        configuration.shuffle = try meta.flag("shuffle")

        return configuration
    }

    /// The training state, its counts bounded and agreeing with one another.
    private static func decodeState(_ meta: Metadata, _ configuration: TrainingConfiguration) throws -> (TrainingState, Int) {
        let testError = try meta.string("test_error_at_best")
        var state = TrainingState(stopping: EarlyStopping(
            patience: try meta.number("patience"), validationFrequency: try meta.number("validation_frequency"),
            bestValidationError: try meta.number("best_validation_error"), bestIteration: max(0, try meta.number("best_iteration") - 1),
            testErrorAtBest: testError == "none" ? nil : try meta.number("test_error_at_best")))
        state.iteration = try meta.number("iteration")
        state.lossSinceValidation = try meta.number("loss_since_validation")
        state.stepsSinceValidation = try meta.number("steps_since_validation")
        state.elapsedSeconds = try meta.number("elapsed_seconds")
        // Every value passes the rule of the flag that sets it (Rules), and the state's own.
        let sgd = configuration.sgd, stopping = state.stopping
        try meta.check("learning_rate", sgd.learningRate, Rules.positive)
        try meta.check("learning_rate_decay", sgd.decay, Rules.nonNegative)
        try meta.check("l1", sgd.l1, Rules.nonNegative)
        try meta.check("l2", sgd.l2, Rules.nonNegative)
        // Counts stay within what the flags allow, so that no arithmetic on them can overflow.
        try meta.check("learning_rate_reference_batch", sgd.referenceBatch, Rules.within(1...RunRequest.mostUnits))
        try meta.check("warmup_epochs", sgd.warmupEpochs, Rules.within(0...RunRequest.mostEpochs))
        try meta.check("batch_size", configuration.batchSize, Rules.within(1...RunRequest.mostUnits))
        try meta.check("epochs", configuration.epochs, Rules.within(1...RunRequest.mostEpochs))
        try meta.check("initial_patience", configuration.patience, Rules.within(1...Int(Int32.max)))
        try meta.check("world_size", try meta.number("world_size") as Int, Rules.within(1...Int(Int32.max)))
        try meta.check("best_validation_error", stopping.bestValidationError, Rules.fractionOrUnset)
        try meta.check("best_iteration", stopping.bestIteration + 1, Rules.atLeast(0))
        if let test = stopping.testErrorAtBest { try meta.check("test_error_at_best", test, Rules.fraction) }
        try meta.check("loss_since_validation", state.lossSinceValidation, Rules.nonNegative)
        try meta.check("elapsed_seconds", state.elapsedSeconds, Rules.nonNegative)
        try meta.check("loss_since_validation", state.lossSinceValidation, { $0 < 1e300 ? nil : "below 1e300" })
        // The counts agree with one another, so a value edited alone (and re-signed) is caught too.
        let trainSamples: Int = try meta.number("train_samples")
        try meta.check("train_samples", trainSamples, Rules.within(1...Int(Int32.max)))
        let batchesPerEpoch = max(1, trainSamples / configuration.batchSize), iteration = state.iteration
        try meta.check("iteration", iteration, Rules.within(0...RunRequest.mostEpochs * batchesPerEpoch))
        try meta.check("steps_since_validation", state.stepsSinceValidation, Rules.within(0...iteration))
        try meta.check("validation_frequency", stopping.validationFrequency, Rules.within(1...batchesPerEpoch))
        try meta.check("patience", stopping.patience, Rules.within(1...(1 << 40)))
        try meta.check("epoch", try meta.number("epoch") as Int) {
            $0 == iteration / batchesPerEpoch ? nil : "the iteration \(iteration) over \(batchesPerEpoch) minibatches per epoch, \(iteration / batchesPerEpoch)"
        }
        let bestIteration: Int = try meta.number("best_iteration")
        try meta.check("best_iteration", bestIteration) { $0 <= iteration ? nil : "at most the iteration, \(iteration)" }

        return (state, trainSamples)
    }

    /// Exactly the tensors the architecture names, with its shapes, verified against the data
    /// checksum before any of it is used.
    private static func decodeTensors(_ file: SafeTensorsFile, _ bytes: [UInt8], _ architecture: Architecture, _ meta: Metadata) throws -> ParameterSet {
        let path = meta.path
        // Tensors: exactly the ones the architecture names, with its shapes, in its order.
        let layout = ParameterLayout(architecture)
        var expected: [(String, [Int])] = []
        for slot in layout.layers {
            expected.append((slot.name + ".weight", [slot.inputs, slot.outputs]))
            expected.append((slot.name + ".bias", [slot.outputs]))
        }
        let byName = Dictionary(file.tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, shape) in expected {
            guard let tensor = byName[name] else { throw CheckpointError.missingTensor(path, name: name) }
            guard tensor.shape == shape else { throw CheckpointError.shapeMismatch(path, name: name, found: tensor.shape, expected: shape) }
        }
        if let extra = file.tensors.first(where: { t in !expected.contains { $0.0 == t.name } }) {
            throw CheckpointError.unexpectedTensor(path, name: extra.name)
        }

        // The data section, verified against its checksum before any of it is used.
        let storedCRC = try meta.string("data_crc32")
        let computedCRC = bytes.withUnsafeBytes { crc32(UnsafeRawBufferPointer(rebasing: $0[file.dataOffset...])) }
        guard storedCRC == computedCRC else { throw CheckpointError.checksumMismatch(path, stored: storedCRC, computed: computedCRC) }

        let parameters = ParameterSet(layout)
        for (l, slot) in layout.layers.enumerated() {
            copy(bytes, file.dataOffset + byName[slot.name + ".weight"]!.begin, into: parameters.weight(l).base, count: slot.inputs * slot.outputs)
            copy(bytes, file.dataOffset + byName[slot.name + ".bias"]!.begin, into: parameters.bias(l), count: slot.outputs)
        }
        guard parameters.flat.allSatisfy(\.isFinite) else { throw CheckpointError.nonFinite(path) }
        return parameters
    }

    /// Checks that this model takes `images` and names their labels (a digit model: 10 outputs or more).
    public func check(fits images: Samples, path: String) throws {
        let a = configuration.architecture
        if a.inputSize != images.images.columns {
            throw CheckpointError.doesNotFitData(path, reason: "it takes \(a.inputSize) inputs, the images have \(images.images.columns) pixels")
        }
        if a.outputSize < 10 {
            throw CheckpointError.doesNotFitData(path, reason: "it has \(a.outputSize) outputs, and MNIST's labels are the 10 digits")
        }
    }

    /// Reads and decodes a checkpoint file.
    public static func load(_ path: String) throws -> Checkpoint {
        try decode(readBytes(path), path: path)
    }

    /// The raw bytes of a checkpoint file, with file-level errors named.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        let file: (descriptor: Int32, size: Int)
        switch InputFile.open(path) {
        case .failure(.missing): throw CheckpointError.missingFile(path)
        case .failure(.notAFile(let what)): throw CheckpointError.unreadable(path, reason: "it is \(what), not a file")
        case .failure(.unreadable(let reason)): throw CheckpointError.unreadable(path, reason: reason)
        case .success(let opened): file = opened
        }
        defer { close(file.descriptor) }
        var bytes: [UInt8] = []
        func read(upTo end: Int) throws {
            if let reason = InputFile.read(file.descriptor, into: &bytes, upTo: end) { throw CheckpointError.unreadable(path, reason: reason) }
        }
        // The header first: its length and tensor table must fit the file before the body is read
        // (a huge or sparse file that is not a checkpoint costs 8 bytes and a header, not its size).
        try read(upTo: min(8, file.size))
        let header = try SafeTensorsFile.headerLength(bytes, fileSize: file.size, path: path)
        try read(upTo: 8 + header)
        let table = try SafeTensorsFile.decode(bytes, fileSize: file.size, path: path)
        let expected = table.tensors.reduce(0) { $0 + ($1.end - $1.begin) }
        let memory = InputFile.physicalMemory
        guard memory == 0 || expected <= memory / 4 else {
            throw CheckpointError.unreadable(path, reason: "its tensors hold \(expected) bytes, more than this machine's memory can hold twice")
        }
        try read(upTo: file.size)
        return bytes
    }

    private static func copy(_ bytes: [UInt8], _ offset: Int, into target: UnsafeMutablePointer<Float>, count: Int) {
        bytes.withUnsafeBytes { raw in
            #if _endian(little)
            UnsafeMutableRawPointer(target).copyMemory(from: raw.baseAddress! + offset, byteCount: 4 * count)
            #else
            for i in 0..<count {
                target[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: UInt32.self)))
            }
            #endif
        }
    }

    /// zlib's CRC-32, as "0x" and 8 hex digits.
    static func crc32(_ bytes: UnsafeRawBufferPointer) -> String {
        var crc = CZlib.crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {  // zlib takes 32-bit lengths
            let piece = min(bytes.count - offset, 1 << 30)
            crc = CZlib.crc32(crc, bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self), UInt32(piece))
            offset += piece
        }
        return hex(UInt32(truncatingIfNeeded: crc))
    }
}

/// Typed access to the string-to-string metadata, with errors that name the key.
private struct Metadata {
    let values: [String: String]
    let path: String

    func string(_ key: String) throws -> String {
        guard let value = values[key] else { throw CheckpointError.missingMetadata(path, key: key) }
        return value
    }

    func number<T: LosslessStringConvertible>(_ key: String) throws -> T {
        let text = try string(key)
        guard let value = T(text) else { throw CheckpointError.badMetadata(path, key: key, value: text) }
        return value
    }

    func list(_ key: String) throws -> [Int] {
        let text = try string(key)
        let parts = text.split(separator: ",").map { Int($0) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { throw CheckpointError.badMetadata(path, key: key, value: text) }
        return parts.map { $0! }
    }

    /// The value parsed from `key`, held to `rule`; the error names the key and the rule.
    func check<T>(_ key: String, _ value: T, _ rule: Rules.Rule<T>) throws {
        if let must = rule(value) { throw CheckpointError.outOfRange(path, key: key, value: values[key] ?? "\(value)", rule: must) }
    }

    func flag(_ key: String) throws -> Bool {
        let text = try string(key)
        guard let value = Bool(text) else { throw CheckpointError.badMetadata(path, key: key, value: text) }
        return value
    }
}
