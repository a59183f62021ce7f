// Where each layer's weight and bias sit in the one flat parameter buffer: for each layer, its
// weight (n_in, n_out) row-major, then its bias (n_out).

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
