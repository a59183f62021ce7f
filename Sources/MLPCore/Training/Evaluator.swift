// Scoring a model on a whole split: a batched forward pass in chunks, then argmax. The first layer
// skips the zero pixels, two images at a time, when the split carries its paired sparse form;
// `threads` row ranges (whole windows of pairs) run at once.
import Dispatch

public final class Evaluator {
    public let model: MLP
    /// Row ranges scored at once, each on its own thread (BLAS itself is single-threaded).
    public var threads: Int {
        didSet { precondition(threads >= 1, "an evaluator needs a thread") }
    }
    private let chunk: Int
    private var workspaces: [Workspace] = []  // one per thread, (chunk, n_l) per layer
    private lazy var firstLayer = PanelWeights(inputs: model.architecture.inputSize,   // W_0 rearranged for
                                               outputs: model.architecture.layerSizes[1])  // the sparse product
    private lazy var outputLayer: NarrowOutput? = {   // W_L transposed for the logits, when narrow enough
        let sizes = model.architecture.layerSizes
        return sizes.count > 2 && sizes.last! <= NarrowOutput.maxOutputs
            ? NarrowOutput(inputs: sizes[sizes.count - 2], outputs: sizes.last!) : nil
    }()

    /// `chunk`: rows per forward pass, whole windows of the paired sparse form.
    public init(_ architecture: Architecture, chunk: Int = PairedRows.window, threads: Int = 1) {
        precondition(threads >= 1, "an evaluator needs a thread")
        precondition(chunk > 0 && chunk % PairedRows.window == 0, "chunks of whole windows")
        model = MLP(architecture)
        self.chunk = chunk
        self.threads = threads
    }

    /// The partial results of `body` over the chunks of `samples`: `body(&partial, logits, start)`
    /// gets the logits (n, 10) of each chunk and its first row. One partial per thread, each thread
    /// taking a contiguous range of rows; the caller combines them.
    public func mapChunks<Partial>(_ p: ParameterSet, _ samples: Samples, initial: Partial,
                                   _ body: (inout Partial, Matrix, Int) -> Void) -> [Partial] {
        let sparse = samples.sparseImages
        if sparse != nil { firstLayer.pack(p.weight(0)) }   // made and filled before any thread reads it
        outputLayer?.pack(p.weight(model.layerCount - 1))
        // Each thread's rows: whole windows (pairs never cross them).
        let windows = (samples.count + PairedRows.window - 1) / PairedRows.window
        let ranges = (0..<threads).map { t in
            min(samples.count, windows * t / threads * PairedRows.window) ..< min(samples.count, windows * (t + 1) / threads * PairedRows.window)
        }
        while workspaces.count < threads { workspaces.append(Workspace(model.architecture, rows: chunk)) }
        var partials = [Partial](repeating: initial, count: threads)

        func score(_ t: Int, into partial: inout Partial) {
            var start = ranges[t].lowerBound
            while start < ranges[t].upperBound {
                let n = min(chunk, ranges[t].upperBound - start)
                let activations = workspaces[t].activations(0, count: n)   // (n, n_l) per layer
                if let sparse {
                    sparse.multiply(rows: start ..< start + n, by: firstLayer, into: activations[0])
                }
                model.forward(samples.images.rows(start, count: n), p, activations: activations,
                              firstProductGiven: sparse != nil, narrowOutput: outputLayer)
                body(&partial, activations[activations.count - 1], start)
                start += n
            }
        }

        if threads == 1 {
            score(0, into: &partials[0])
        } else {
            // Thread t writes only slots[t] and workspaces[t], and reads what no one writes meanwhile.
            partials.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let slots = slots
                withoutActuallyEscaping(score) { score in
                    nonisolated(unsafe) let score = score
                    DispatchQueue.concurrentPerform(iterations: threads) { t in score(t, &slots[t]) }
                }
            }
        }
        return partials
    }

    /// Misclassified samples.
    public func errors(_ p: ParameterSet, on samples: Samples) -> Int {
        mapChunks(p, samples, initial: 0) { wrong, logits, start in
            wrong += SoftmaxCrossEntropy.errors(logits: logits, labels: samples.labels + start)
        }.reduce(0, +)
    }

    /// The fraction misclassified (0.0165 for 1.65 %).
    public func errorRate(_ p: ParameterSet, on samples: Samples) -> Double {
        samples.count == 0 ? 0 : Double(errors(p, on: samples)) / Double(samples.count)
    }

    /// counts[label][predicted].
    public func confusionMatrix(_ p: ParameterSet, on samples: Samples) -> [[Int]] {
        let k = model.architecture.outputSize
        let none = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        return mapChunks(p, samples, initial: none) { counts, logits, start in
            for i in 0..<logits.rows {
                counts[Int(samples.labels[start + i])][SoftmaxCrossEntropy.argmax(logits.row(i), k)] += 1
            }
        }.reduce(none) { sum, part in zip(sum, part).map { zip($0, $1).map(+) } }
    }
}
