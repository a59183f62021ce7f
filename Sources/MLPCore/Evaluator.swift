// Scoring a model on a whole split: a batched forward pass in chunks of large GEMMs, then argmax.

public final class Evaluator {
    public let model: MLP
    private let workspace: Workspace
    private let chunk: Int

    public init(_ architecture: Architecture, chunk: Int = 1000) {
        model = MLP(architecture)
        self.chunk = chunk
        workspace = Workspace(architecture, rows: chunk)
    }

    /// Calls `body` with the logits (n, 10) of each chunk of `samples` and the chunk's start row.
    public func forEachChunk(_ p: ParameterSet, _ samples: Samples, _ body: (Matrix, Int) -> Void) {
        var start = 0
        while start < samples.count {
            let n = min(chunk, samples.count - start)
            let activations = workspace.activations(0, count: n)
            model.forward(samples.images.rows(start, count: n), p, activations: activations)
            body(activations[activations.count - 1], start)
            start += n
        }
    }

    /// Misclassified samples.
    public func errors(_ p: ParameterSet, on samples: Samples) -> Int {
        var wrong = 0
        forEachChunk(p, samples) { logits, start in
            wrong += SoftmaxCrossEntropy.errors(logits: logits, labels: samples.labels + start)
        }
        return wrong
    }

    /// The fraction misclassified (0.0165 for 1.65 %).
    public func errorRate(_ p: ParameterSet, on samples: Samples) -> Double {
        samples.count == 0 ? 0 : Double(errors(p, on: samples)) / Double(samples.count)
    }

    /// counts[label][predicted].
    public func confusionMatrix(_ p: ParameterSet, on samples: Samples) -> [[Int]] {
        let k = model.architecture.outputSize
        var counts = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        forEachChunk(p, samples) { logits, start in
            for i in 0..<logits.rows {
                counts[Int(samples.labels[start + i])][SoftmaxCrossEntropy.argmax(logits.row(i), k)] += 1
            }
        }
        return counts
    }
}
