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
}
