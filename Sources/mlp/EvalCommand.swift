// `mlp eval`: the error rate and confusion matrix of a checkpoint on one split. No MPI.
import ArgumentParser
import Foundation
import MLPCore

extension MNIST.Split: ExpressibleByArgument {}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval", abstract: "Score a checkpoint on a split of MNIST: error rate and confusion matrix.")

    @OptionGroup var file: CheckpointFileOption
    @OptionGroup var data: DataDirectoryOption

    @Option(help: "Which split: test, validation or train.")
    var split: MNIST.Split = .test

    func run() throws {
        signal(SIGPIPE, SIG_DFL)   // `| head` ends this quietly, as it ends any Unix tool
        let checkpoint = file.checkpoint
        let model = try Checkpoint.load(checkpoint)
        let (loaded, owner) = try MNIST.loadSplit(split, directory: data.directory)
        try model.check(fits: loaded, path: checkpoint)
        guard loaded.count > 0 else { throw DataError.tooFewImages(data.directory, count: 0, needed: 1, reason: "the \(split.rawValue) split is empty") }
        let samples = loaded.compressedForScoring(model.configuration.architecture)
        let evaluator = Evaluator(model.configuration.architecture, threads: BLAS.scoringThreads())
        let confusion = withExtendedLifetime(owner) { evaluator.confusionMatrix(model.parameters, on: samples) }
        let wrong = samples.count - confusion.indices.reduce(0) { $0 + confusion[$1][$1] }
        print("\(checkpoint): \(model.configuration.architecture.summary), iteration \(model.state.iteration)")
        print(String(format: "%@ error: %.2f %% (%ld of %ld misclassified)", split.rawValue, 100 * Double(wrong) / Double(samples.count), wrong, samples.count))
        print("confusion matrix (rows: true digit, columns: predicted):")
        print("       " + (0..<confusion.count).map { String(format: "%6ld", $0) }.joined())
        for (digit, row) in confusion.enumerated() {
            print(String(format: "  %3ld  ", digit) + row.map { String(format: "%6ld", $0) }.joined())
        }
    }
}

