// The network's shape: input (784) → hidden layers → output (10), and the hidden activation.

/// Layer sizes and activation: input (784) → hidden layers → output (10).
public struct Architecture: Equatable, Sendable {
    public var inputSize: Int
    public var hiddenSizes: [Int]
    public var outputSize: Int
    public var activation: Activation

    public init(inputSize: Int = 784, hiddenSizes: [Int] = [500], outputSize: Int = 10, activation: Activation = .tanh) {
        self.inputSize = inputSize
        self.hiddenSizes = hiddenSizes
        self.outputSize = outputSize
        self.activation = activation
    }

    /// [784, 500, 10] for the tutorial's model.
    public var layerSizes: [Int] { [inputSize] + hiddenSizes + [outputSize] }
    /// Number of weight layers (hidden layers + the softmax layer).
    public var layerCount: Int { hiddenSizes.count + 1 }

    /// "784-500-10 tanh"
    public var summary: String { layerSizes.map(String.init).joined(separator: "-") + " " + activation.rawValue }

    /// Weights and biases of the model, or nil when the count overflows.
    public var parameterCount: Int? {
        var total = 0
        for (inputs, outputs) in zip(layerSizes, layerSizes.dropFirst()) {
            let (weights, o1) = inputs.multipliedReportingOverflow(by: outputs)
            let (sum, o2) = total.addingReportingOverflow(weights + outputs)
            if o1 || o2 { return nil }
            total = sum
        }
        return total
    }

    /// Checks, before anything is allocated, that a rank's buffers for this model fit in `memory`
    /// bytes: the parameters and their gradients, a checkpoint's encoded copy, and the step's
    /// activation and delta rows for `batchSize` samples. The error names --hidden.
    public func checkFits(batchSize: Int, memory: Int) throws {
        let widths = hiddenSizes.map(String.init).joined(separator: ",")
        let rows = layerSizes.dropFirst().reduce(0) { $0 + $1 }
        guard let count = parameterCount, count <= Int.max / 16,
              rows <= Int.max / 8 / max(1, batchSize) else {
            throw ConfigurationError("--hidden \(widths): the model's size overflows a 64-bit count. Use narrower layers.")
        }
        let bytes = 3 * 4 * count + 2 * 4 * rows * batchSize
        guard memory == 0 || bytes <= memory else {
            throw ConfigurationError("--hidden \(widths): \(count) parameters need \(bytes >> 20) MiB per rank (parameters, gradients, a checkpoint's copy and the step's rows), more than this machine's \(memory >> 20) MiB. Use narrower layers.")
        }
    }
}
