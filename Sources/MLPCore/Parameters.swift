// The network's shape and its parameters: every weight and bias in ONE flat Float32 buffer with a
// named view per layer, so that an allreduce is one call, a checkpoint one write, an update one loop.
// Gradients live in a twin buffer of the same layout.

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

/// Where one layer's weight (n_in, n_out) and bias (n_out) sit in the flat buffer.
public struct LayerSlot: Equatable, Sendable {
    public let name: String       // "hidden.0", "hidden.1", ..., "output"
    public let inputs: Int        // n_in
    public let outputs: Int       // n_out
    public let weightOffset: Int  // weight: n_in × n_out floats, row-major (x · W convention)
    public let biasOffset: Int    // bias: n_out floats, right after the weight
    public var end: Int { biasOffset + outputs }
}

/// The order of the flat buffer: for each layer, its weight then its bias.
public struct ParameterLayout: Equatable, Sendable {
    public let layers: [LayerSlot]
    public let count: Int

    public init(_ architecture: Architecture) {
        var slots: [LayerSlot] = []
        var offset = 0
        let sizes = architecture.layerSizes
        for l in 0..<architecture.layerCount {
            let name = l < architecture.hiddenSizes.count ? "hidden.\(l)" : "output"
            let slot = LayerSlot(name: name, inputs: sizes[l], outputs: sizes[l + 1],
                                 weightOffset: offset, biasOffset: offset + sizes[l] * sizes[l + 1])
            slots.append(slot)
            offset = slot.end
        }
        layers = slots
        count = offset
    }
}

/// A flat buffer of `layout.count` floats (plus `extra` trailing floats) with per-layer views.
public final class ParameterSet {
    public let layout: ParameterLayout
    public let storage: FloatStorage

    public init(_ layout: ParameterLayout, extra: Int = 0) {
        self.layout = layout
        storage = FloatStorage(count: layout.count + extra)
    }

    /// A parameter set over storage someone else provides (a node-shared window).
    public init(_ layout: ParameterLayout, storage: FloatStorage) {
        precondition(storage.count >= layout.count, "storage too small for the layout")
        self.layout = layout
        self.storage = storage
    }

    /// Layer `l`'s weight, (n_in, n_out).
    public func weight(_ l: Int) -> Matrix {
        let slot = layout.layers[l]
        return Matrix(storage.base + slot.weightOffset, rows: slot.inputs, columns: slot.outputs)
    }

    /// Layer `l`'s bias, (n_out).
    public func bias(_ l: Int) -> UnsafeMutablePointer<Float> { storage.base + layout.layers[l].biasOffset }

    /// The parameters alone, without the trailing extra floats. The pointer lives as long as this object.
    public var flat: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: storage.base, count: layout.count)
    }

    public func copy(from other: ParameterSet) {
        precondition(other.layout == layout, "copying between different layouts")
        storage.base.update(from: other.storage.base, count: layout.count)
    }

    /// The tutorial's initialisation: hidden weights uniform in ±bound drawn in row-major order from
    /// numpy-compatible MT19937(seed), layer by layer; the output layer and all biases zero.
    public static func initialized(_ architecture: Architecture, seed: UInt32) -> ParameterSet {
        let parameters = ParameterSet(ParameterLayout(architecture))
        var generator = MersenneTwister(seed: seed)
        for (l, slot) in parameters.layout.layers.enumerated() where l < architecture.hiddenSizes.count {
            let bound = architecture.activation.initBound(fanIn: slot.inputs, fanOut: slot.outputs)
            let w = parameters.weight(l).base
            for i in 0..<slot.inputs * slot.outputs { w[i] = Float(generator.uniform(-bound, bound)) }
        }
        return parameters
    }
}
