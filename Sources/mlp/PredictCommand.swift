// `mlp predict`: the predicted digit (and, if asked, the class probabilities) of every image in an
// IDX file, one line each. No MPI.
import ArgumentParser
import Foundation
import MLPCore

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the predicted digit of every image in an IDX image file, one per line.")

    @OptionGroup var file: CheckpointFileOption

    @Option(help: ArgumentHelp("An IDX image file (raw or .gz) of 28×28 images.", valueName: "file"))
    var images: String

    @Flag(help: "After each label, print the ten class probabilities.")
    var probabilities = false

    func run() throws {
        signal(SIGPIPE, SIG_DFL)   // `| head` ends this quietly, as it ends any Unix tool
        let checkpoint = file.checkpoint
        let model = try Checkpoint.load(checkpoint)
        let idx = try IDX.readImages(images)
        let set = LabeledImages(count: idx.dimensions[0])
        try model.check(fits: set.all, path: checkpoint)
        for (i, byte) in idx.bytes.enumerated() { set.pixels.base[i] = Float(byte) / 255 }
        let evaluator = Evaluator(model.configuration.architecture)  // one thread: chunks in order
        var out = ""
        _ = evaluator.mapChunks(model.parameters, set.all.compressedForScoring(model.configuration.architecture), initial: ()) { _, logits, _ in
            for i in 0..<logits.rows {
                let row = logits.row(i)
                out += String(SoftmaxCrossEntropy.argmax(row, logits.columns))
                if probabilities {
                    out += " " + SoftmaxCrossEntropy.probabilities(row, logits.columns).map { String(format: "%.6f", $0) }.joined(separator: " ")
                }
                out += "\n"
            }
            print(out, terminator: "")
            out = ""
        }
    }
}

