// Every weight and bias in ONE flat Float32 buffer with a named view per layer, so that an allreduce
// is one call, a checkpoint one write, an update one loop. Gradients live in a twin of the same layout.

/// A flat buffer of `layout.count` floats (plus `extra` trailing floats) with per-layer views.
public final class ParameterSet {
    public let layout: ParameterLayout
    public let storage: FloatStorage

    public init(_ layout: ParameterLayout, extra: Int = 0) {
        self.layout = layout
        storage = FloatStorage(count: layout.count + extra)
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
