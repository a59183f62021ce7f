// The model-parallel way (`--exchange columns`, a model with one hidden layer): each rank owns a
// block of the hidden units for the whole minibatch, i.e. those columns of W₀ and b₀. A step: the
// rank's block of the hidden layer (B, units), one allgather of the blocks and control blocks, then
// every rank forms the whole minibatch's logits and softmax delta, its block's hidden delta, and
// updates its columns of W₀ and all of the small output layer. Only the hidden layer crosses
// between the ranks, and every sum runs as one rank runs it, so the bits are one rank's too.
// W₀ is made whole only when rank 0 needs it (validation, checkpoints).

final class ColumnsStep: TrainingStep {
    private let architecture: Architecture
    private let world: Communicator
    private let parameters: ParameterSet
    private let sgd: SGD
    private let batchSize: Int
    private var decay = DecayScale()
    private let trainingNonZeros: SparseRows
    /// Every rank's hidden units, blocks in rank order, and this rank's.
    private let allUnits: [Range<Int>]
    private var units: Range<Int> { allUnits[world.rank] }
    private let pairs: RowPairs                   // the whole minibatch's rows, merged in pairs
    private let pixels: PixelPairs                // the whole minibatch's non-zeros by pairs of pixels
    private let blocks: FloatStorage              // (H·B): rank r's block (B, units_r) at B·units_r.lowerBound
    private let hidden: FloatStorage              // (B, H), unpacked from the blocks
    private let blockDelta: FloatStorage          // (B, units) this rank's hidden delta
    private let logits: FloatStorage              // (B, n_L)
    private let outputDelta: FloatStorage         // (B, n_L)
    private let losses: FloatStorage              // (B)
    private let outputWeights: NarrowOutput       // W₁ transposed, for the logits and the hidden delta
    private let control = FloatStorage(count: ControlBlock.count)
    private let controls: FloatStorage            // (P, ControlBlock.count)
    private let requests = Storage<UnsafeMutableRawPointer?>(count: 2)
    private let blockCounts: Storage<Int32>, blockDisplacements: Storage<Int32>
    private let packed: FloatStorage              // (n_0 · H): W₀'s column blocks, packed rank after rank
    private var ownControl = ControlBlock()
    private var labels: UnsafePointer<Int32>?     // the minibatch's (B), from forward to finishExchange
    private let node: NodeAllgather?              // on one node: the blocks and control blocks through shared memory

    /// Whether the model can be divided so: one hidden layer, at least one unit per rank.
    static func fits(_ architecture: Architecture, worldSize: Int) -> Bool {
        architecture.hiddenSizes.count == 1 && architecture.hiddenSizes[0] >= worldSize
            && architecture.outputSize <= NarrowOutput.maxOutputs
    }

    init(_ architecture: Architecture, parameters: ParameterSet, sgd: SGD, batchSize: Int, world: Communicator,
         trainingNonZeros: SparseRows) throws {
        precondition(Self.fits(architecture, worldSize: world.size), "columns needs one hidden layer with a unit per rank")
        self.architecture = architecture
        self.world = world
        self.parameters = parameters
        self.sgd = sgd
        self.batchSize = batchSize
        self.trainingNonZeros = trainingNonZeros
        let (inputs, width, classes) = (architecture.inputSize, architecture.hiddenSizes[0], architecture.outputSize)
        allUnits = (0..<world.size).map { Shard.units(width, rank: $0, worldSize: world.size) }
        let mine = allUnits[world.rank]
        pairs = RowPairs(capacity: batchSize, columns: inputs)
        pixels = PixelPairs(capacity: batchSize, pixels: 0..<inputs)
        blocks = FloatStorage(count: batchSize * width)
        hidden = FloatStorage(count: batchSize * width)
        blockDelta = FloatStorage(count: batchSize * mine.count)
        logits = FloatStorage(count: batchSize * classes)
        outputDelta = FloatStorage(count: batchSize * classes)
        losses = FloatStorage(count: batchSize)
        outputWeights = NarrowOutput(inputs: width, outputs: classes)
        controls = FloatStorage(count: world.size * ControlBlock.count)
        blockCounts = Storage(count: world.size)
        blockDisplacements = Storage(count: world.size)
        for (r, block) in allUnits.enumerated() {
            blockCounts.base[r] = Int32(block.count * batchSize)
            blockDisplacements.base[r] = Int32(block.lowerBound * batchSize)
        }
        packed = FloatStorage(count: inputs * width)
        node = try world.nodeAllgather(slotFloats: allUnits.map(\.count).max()! * batchSize + ControlBlock.count)
        packOutputLayer()
    }

    var mode: ExchangeMode { .columns }
    var transport: String? { world.transport(node) }

    private var width: Int { architecture.hiddenSizes[0] }
    private var classes: Int { architecture.outputSize }
    /// This rank's block of the hidden layer, (B, units), inside `blocks`.
    private var block: Matrix { Matrix(blocks.base + units.lowerBound * batchSize, rows: batchSize, columns: units.count) }

    /// This rank's hidden units for every row of the minibatch; then its block and control block
    /// start travelling.
    func forward(_ batch: Minibatch, control mine: ControlBlock) throws {
        pairs.fill(from: trainingNonZeros, count: batchSize) { batch.trainingRow($0) }
        pairs.multiply(by: parameters.weight(0), columns: units, scale: decay.factor, into: block)
        architecture.activation.addBiasAndActivate(block, bias: parameters.bias(0) + units.lowerBound)
        labels = UnsafePointer(batch.samples.labels)
        ownControl = mine
        mine.encode(into: control.base)
        if let node {
            node.publish(block.base, count: units.count * batchSize, then: control.base, count: ControlBlock.count)
            return
        }
        guard world.size > 1 else { return }
        try world.startAllgather(blocks.base, counts: blockCounts.base, displacements: blockDisplacements.base, request: requests.base)
        try world.startAllgather(control.base, count: ControlBlock.count, into: controls.base, request: requests.base + 1)
    }

    /// Nothing: a rank's hidden delta needs the whole minibatch's logits, hence every block (update).
    func backward() throws {}

    /// Every block and control block; then, on every rank, the whole minibatch's logits, softmax
    /// delta and loss (small: B × 10).
    func finishExchange() throws -> (control: AgreedControl, loss: Double) {
        var agreed = AgreedControl()
        if let node {
            for (rank, block) in allUnits.enumerated() {
                guard rank != world.rank else { agreed.add(ControlBlock(decoding: control.base)); continue }
                let part = try node.part(of: rank), count = block.count * batchSize
                (blocks.base + block.lowerBound * batchSize).update(from: part, count: count)
                agreed.add(ControlBlock(decoding: part + count))
            }
        } else if world.size > 1 {
            try world.waitAll(requests.base, count: 2)
            for rank in 0..<world.size { agreed.add(ControlBlock(decoding: controls.base + rank * ControlBlock.count)) }
        } else {
            agreed.add(ownControl)
        }
        let h = Matrix(hidden.base, rows: batchSize, columns: width)                 // (B, H)
        for block in allUnits {
            let source = blocks.base + block.lowerBound * batchSize
            for r in 0..<batchSize { (h.row(r) + block.lowerBound).update(from: source + r * block.count, count: block.count) }
        }
        let z = Matrix(logits.base, rows: batchSize, columns: classes)                 // (B, n_L)
        outputWeights.multiply(h, into: z)
        let b1 = parameters.bias(1)
        for r in 0..<batchSize { for j in 0..<classes { z.row(r)[j] += b1[j] } }
        SoftmaxCrossEntropy.delta(logits: z, labels: labels!, into: Matrix(outputDelta.base, rows: batchSize, columns: classes),
                                  losses: losses.base, lossStride: 1)
        var loss = 0.0
        for r in 0..<batchSize { loss += Double(losses.base[r]) }
        return (agreed, loss)
    }

    /// This rank's hidden delta (B, units), its columns of W₀ and b₀; the output layer on every rank.
    func update(_ batch: Minibatch, rate eta: Double) throws {
        let delta = Matrix(blockDelta.base, rows: batchSize, columns: units.count)
        let outputT = outputWeights.transposedWeights.columns(units.lowerBound, count: units.count)
        let d = Matrix(outputDelta.base, rows: batchSize, columns: classes)
        denseProduct(d, outputT, into: delta)                                          // (B, n_L) · (n_L, units)
        architecture.activation.multiplyByDerivative(delta, activations: block)
        pixels.fill(from: trainingNonZeros, count: batchSize) { batch.trainingRow($0) }
        decay.update(parameters.weight(0), columns: units, pixels: pixels, delta: delta, sgd: sgd, batchSize: batchSize,
                     rate: eta, fold: scaleOwnColumns)
        let alpha = Float(-eta / Double(batchSize)), keep = Float(sgd.keep(rate: eta)), shrink = Float(eta * sgd.l1)
        OuterProducts.addColumnSums(delta, alpha: alpha, into: parameters.bias(0) + units.lowerBound)
        OuterProducts.update(parameters.weight(1), keep: keep, shrink: shrink, alpha: alpha,
                             a: Matrix(hidden.base, rows: batchSize, columns: width), d: d)
        OuterProducts.addColumnSums(d, alpha: alpha, into: parameters.bias(1))
        packOutputLayer()
    }

    func foldDecay() { decay.fold(scaleOwnColumns) }

    private func scaleOwnColumns(_ s: Float) {
        let w = parameters.weight(0)
        for i in 0..<w.rows { let row = w.row(i); for c in units { row[c] *= s } }
    }

    /// W₀'s column blocks and b₀'s blocks, gathered from their owners (a collective).
    func assembleParameters() throws {
        guard world.size > 1 else { return }
        let w = parameters.weight(0), n = w.rows
        func offset(_ block: Range<Int>) -> Int { block.lowerBound * n }
        for i in 0..<n {   // this rank's block of columns, packed as (n_0, units)
            (packed.base + offset(units) + i * units.count).update(from: w.row(i) + units.lowerBound, count: units.count)
        }
        let counts = allUnits.map { Int32($0.count * n) }, displacements = allUnits.map { Int32(offset($0)) }
        try gather(packed.base, counts, displacements)
        for block in allUnits where block != units {
            for i in 0..<n {
                (w.row(i) + block.lowerBound).update(from: packed.base + offset(block) + i * block.count, count: block.count)
            }
        }
        try gather(parameters.bias(0), allUnits.map { Int32($0.count) }, allUnits.map { Int32($0.lowerBound) })
    }

    private func gather(_ base: UnsafeMutablePointer<Float>, _ counts: [Int32], _ displacements: [Int32]) throws {
        try counts.withUnsafeBufferPointer { c in
            try displacements.withUnsafeBufferPointer { d in
                try world.allgather(base, counts: c.baseAddress!, displacements: d.baseAddress!)
            }
        }
    }

    /// The output layer and the decay scale: what every rank holds alike.
    func replicatedHash() -> UInt64 {
        var hash = bitHashSeed
        let slot = parameters.layout.layers[1]
        bitHash(UnsafeBufferPointer(start: parameters.weight(1).base, count: slot.end - slot.weightOffset), into: &hash)
        var scale = decay.factor
        withUnsafeMutablePointer(to: &scale) { bitHash(UnsafeBufferPointer(start: $0, count: 1), into: &hash) }
        return hash
    }

    private func packOutputLayer() { outputWeights.pack(parameters.weight(1)) }
}
