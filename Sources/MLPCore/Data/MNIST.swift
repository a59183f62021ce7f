// MNIST as the tutorial splits it: train = the first 50,000 training images, validation = the last
// 10,000, test = the 10,000 t10k images; pixels as Float32 in [0, 1] (byte / 255).
import Foundation

public struct MNIST {
    public static let trainImages = "train-images-idx3-ubyte"
    public static let trainLabels = "train-labels-idx1-ubyte"
    public static let testImages = "t10k-images-idx3-ubyte"
    public static let testLabels = "t10k-labels-idx1-ubyte"
    public static let defaultValidationCount = 10_000

    public let train: Samples
    public let validation: Samples
    public let test: Samples
    private let owners: [LabeledImages]
    private let nonZeros = NonZerosCache()

    /// The training images' non-zeros, listed once on first use (the training step's kernels read
    /// each minibatch's from them; `mlp sweep`'s trainings share them).
    public var trainNonZeros: SparseRows { nonZeros.rows(of: train.images) }

    /// Loads the four files from `directory` (each name with or without .gz) and splits them.
    /// `trainLimit` / `evalLimit` keep only the first samples of each split, for quick runs and tests.
    public static func load(directory: String, validationCount: Int = defaultValidationCount,
                            trainLimit: Int? = nil, evalLimit: Int? = nil) throws -> MNIST {
        try checkDirectory(directory)
        let trainingFile = try LabeledImages.load(images: locate(trainImages, in: directory),
                                                  labels: locate(trainLabels, in: directory))
        let testFile = try LabeledImages.load(images: locate(testImages, in: directory),
                                              labels: locate(testLabels, in: directory))
        let n = trainingFile.all.count
        guard n > validationCount else {
            throw DataError.tooFewImages(locate(trainImages, in: directory), count: n, needed: validationCount + 1,
                                         reason: "the last \(validationCount) are the validation set")
        }
        guard testFile.all.count > 0 else {
            throw DataError.tooFewImages(locate(testImages, in: directory), count: 0, needed: 1, reason: "the test set")
        }
        let trainCount = min(n - validationCount, trainLimit ?? .max)
        let evalCount = evalLimit ?? .max
        return MNIST(
            train: trainingFile.all.slice(0, count: trainCount),
            validation: trainingFile.all.slice(n - validationCount, count: min(validationCount, evalCount)),
            test: testFile.all.slice(0, count: min(testFile.all.count, evalCount)),
            owners: [trainingFile, testFile])
    }

    init(train: Samples, validation: Samples, test: Samples, owners: [LabeledImages]) {
        (self.train, self.validation, self.test, self.owners) = (train, validation, test, owners)
    }

    /// Three splits of any images (tests train tiny models on them).
    public init(train: LabeledImages, validation: LabeledImages, test: LabeledImages) {
        self.init(train: train.all, validation: validation.all, test: test.all, owners: [train, validation, test])
    }

    /// One split only, reading only the files it needs (for `mlp eval`).
    public static func loadSplit(_ split: Split, directory: String) throws -> (Samples, LabeledImages) {
        try checkDirectory(directory)
        if split == .test {
            let file = try LabeledImages.load(images: locate(testImages, in: directory), labels: locate(testLabels, in: directory))
            return (file.all, file)
        }
        let file = try LabeledImages.load(images: locate(trainImages, in: directory), labels: locate(trainLabels, in: directory))
        let n = file.all.count
        guard n > defaultValidationCount else {
            throw DataError.tooFewImages(locate(trainImages, in: directory), count: n, needed: defaultValidationCount + 1,
                                         reason: "the last \(defaultValidationCount) are the validation set")
        }
        let samples = split == .train ? file.all.slice(0, count: n - defaultValidationCount)
                                      : file.all.slice(n - defaultValidationCount, count: defaultValidationCount)
        return (samples, file)
    }

    /// Checks that a model takes these images and can name their labels; `checkpoint` (its path)
    /// when the model comes from one.
    public func check(fits architecture: Architecture, from checkpoint: String?) throws {
        let pixels = train.images.columns
        var largest: Int32 = -1
        for split in [train, validation, test] { for i in 0..<split.count { largest = max(largest, split.labels[i]) } }
        let problem: String?
        if architecture.inputSize != pixels {
            problem = "it takes \(architecture.inputSize) inputs, the images have \(pixels) pixels"
        } else if Int(largest) >= architecture.outputSize {
            problem = "it has \(architecture.outputSize) outputs, the labels go up to \(largest)"
        } else {
            problem = nil
        }
        guard let problem else { return }
        if let checkpoint { throw CheckpointError.doesNotFitData(checkpoint, reason: problem) }
        throw ConfigurationError("the model does not fit the data: \(problem).")
    }

    /// A data directory that is not there, or is a file.
    static func checkDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else { throw DataError.missingDirectory(directory) }
        guard isDirectory.boolValue else { throw DataError.notADirectory(directory) }
    }

    public enum Split: String, CaseIterable, Sendable { case train, validation, test }

    /// The path of `name` in `directory`: the .gz file if present, else the raw one.
    public static func locate(_ name: String, in directory: String) -> String {
        let base = (directory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: base + ".gz") { return base + ".gz" }
        if FileManager.default.fileExists(atPath: base) { return base }
        return base + ".gz"
    }
}

/// A split's non-zeros, made once (a class, so that copies of the MNIST value share it).
private final class NonZerosCache: @unchecked Sendable {
    private var made: SparseRows?

    func rows(of images: Matrix) -> SparseRows {
        if let made { return made }
        let rows = SparseRows(images, columnPairs: true)
        made = rows
        return rows
    }
}
