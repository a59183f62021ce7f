// What the data-parallel ways share: each rank computes the forward and backward passes of its
// shard of the minibatch (b ≈ B/P rows), and one allgather hands every rank every row's factors:
// the hidden activations, every layer's delta and the row's loss, with each rank's control block.
// The gradient of a layer is Aᵀ·D over those rows, so every rank can then form any part of the
// update from the whole minibatch in its own order. FactorsStep and ShardedStep differ only in
// which part each rank forms.

class DataParallelStep {
    let architecture: Architecture
    let world: Communicator
    let parameters: ParameterSet        // W₀ held as V (DecayScale); the rest as they are
    let sgd: SGD
    let batchSize: Int                  // B
    let shards: [Shard]
    var shard: Shard { shards[world.rank] }
    var decay = DecayScale()
    let trainingNonZeros: SparseRows    // the training set's non-zeros, listed once
    private let pairs: RowPairs         // this rank's rows, merged in pairs, for the first layer
    let rows: MinibatchRows             // (B, rowWidth): factors and losses, this rank's rows filled here
    private let logits: FloatStorage    // (b, n_L) this rank's rows
    private let outputWeights: NarrowOutput?   // W_L transposed for the logits, when n_L ≤ 10
    private let transposed: [FloatStorage]     // W_lᵀ (n_{l+1}, n_l) for l ≥ 1, for backpropagation
                                               // (the output layer's is outputWeights', when it has one)
    private let exchange: RowExchange

    init(_ architecture: Architecture, parameters: ParameterSet, sgd: SGD, batchSize: Int, world: Communicator,
         trainingNonZeros: SparseRows) throws {
        precondition(!architecture.hiddenSizes.isEmpty, "a model with a hidden layer")
        self.architecture = architecture
        self.world = world
        self.parameters = parameters
        self.sgd = sgd
        self.batchSize = batchSize
        self.trainingNonZeros = trainingNonZeros
        shards = Shard.all(batchSize: batchSize, worldSize: world.size)
        let most = shards.map(\.count).max()!
        pairs = RowPairs(capacity: most, columns: architecture.inputSize)
        rows = MinibatchRows(architecture, rows: batchSize)
        let sizes = architecture.layerSizes
        logits = FloatStorage(count: most * sizes.last!)
        outputWeights = sizes.last! <= NarrowOutput.maxOutputs ? NarrowOutput(inputs: sizes[sizes.count - 2], outputs: sizes.last!) : nil
        transposed = (1..<architecture.layerCount).map { FloatStorage(count: sizes[$0] * sizes[$0 + 1]) }
        exchange = try RowExchange(rows, shards: shards, world: world)
        packTransposes()
    }

    var layerCount: Int { architecture.layerCount }

    var transport: String? { exchange.transport }

    /// The rows of the minibatch this rank computes: f(a·W_l + b_l) layer by layer, the logits and
    /// softmax delta, each row's loss. The first layer from the rows' non-zero pixels, scaled by s.
    func forward(_ batch: Minibatch, control: ControlBlock) throws {
        let shard = self.shard, b = shard.count
        pairs.fill(from: trainingNonZeros, count: b) { batch.trainingRow(shard.start + $0) }
        var input = rows.activation(0).rows(shard.start, count: b)                         // (b, n_1)
        pairs.multiply(by: parameters.weight(0), columns: 0..<input.columns, scale: decay.factor, into: input)
        architecture.activation.addBiasAndActivate(input, bias: parameters.bias(0))
        for l in 1..<layerCount - 1 {
            let output = rows.activation(l).rows(shard.start, count: b)                     // (b, n_{l+1})
            denseProduct(input, parameters.weight(l), into: output)
            architecture.activation.addBiasAndActivate(output, bias: parameters.bias(l))
            input = output
        }
        let out = layerCount - 1, z = Matrix(logits.base, rows: b, columns: architecture.outputSize)   // (b, n_L)
        if let outputWeights { outputWeights.multiply(input, into: z) } else { denseProduct(input, parameters.weight(out), into: z) }
        addBias(z, parameters.bias(out))
        SoftmaxCrossEntropy.delta(logits: z, labels: batch.samples.labels + shard.start, into: rows.delta(out).rows(shard.start, count: b),
                                  losses: rows.loss + shard.start * rows.width, lossStride: rows.width)
        exchange.control = control
    }

    /// δ_l = (δ_{l+1} · W_{l+1}ᵀ) ⊙ f'(a_l) for this rank's rows, from the output layer down; then
    /// the rows and the control block start travelling.
    func backward() throws {
        let shard = self.shard, b = shard.count
        for l in stride(from: layerCount - 2, through: 0, by: -1) {
            let delta = rows.delta(l).rows(shard.start, count: b)                           // (b, n_{l+1})
            let w = l + 1 == layerCount - 1 && outputWeights != nil ? outputWeights!.transposedWeights
                : Matrix(transposed[l].base, rows: architecture.layerSizes[l + 2], columns: architecture.layerSizes[l + 1])
            denseProduct(rows.delta(l + 1).rows(shard.start, count: b), w, into: delta)
            architecture.activation.multiplyByDerivative(delta, activations: rows.activation(l).rows(shard.start, count: b))
        }
        try exchange.start()
    }

    /// Every rank's rows and control blocks; the minibatch's loss summed in row order.
    func finishExchange() throws -> (control: AgreedControl, loss: Double) {
        let control = try exchange.finish()
        var loss = 0.0
        for r in 0..<batchSize { loss += Double(rows.loss[r * rows.width]) }
        return (control, loss)
    }

    /// The first layer's rows that `pixels` lists (all of them, or this rank's block), from the
    /// whole minibatch's non-zeros and deltas; then the other layers, on every rank.
    func updateLayers(_ batch: Minibatch, pixels: PixelPairs, rate eta: Double) {
        pixels.fill(from: trainingNonZeros, count: batchSize) { batch.trainingRow($0) }
        let w = parameters.weight(0)
        decay.update(w, columns: 0..<w.columns, pixels: pixels, delta: rows.delta(0), sgd: sgd, batchSize: batchSize,
                     rate: eta, fold: scaleFirstWeight)
        updateDenseLayers(rate: eta)
    }

    /// The layers after the first, from the whole minibatch's factors: W_l ← keep·W_l −
    /// shrink·sign(W_l) + α·A_lᵀ·D_l, b_l ← b_l + α·Σ D_l; then their transposes for the next step.
    func updateDenseLayers(rate eta: Double) {
        let alpha = Float(-eta / Double(batchSize)), keep = Float(sgd.keep(rate: eta)), shrink = Float(eta * sgd.l1)
        OuterProducts.addColumnSums(rows.delta(0), alpha: alpha, into: parameters.bias(0))
        for l in 1..<layerCount {
            OuterProducts.update(parameters.weight(l), keep: keep, shrink: shrink, alpha: alpha, a: rows.activation(l - 1), d: rows.delta(l))
            OuterProducts.addColumnSums(rows.delta(l), alpha: alpha, into: parameters.bias(l))
        }
        packTransposes()
    }

    /// V ← s·V over this rank's copy of W₀ (all of it), s ← 1.
    func foldDecay() { decay.fold(scaleFirstWeight) }

    func scaleFirstWeight(_ s: Float) {
        let w = parameters.weight(0)
        for i in 0..<w.count { w.base[i] *= s }
    }

    func replicatedHash() -> UInt64 {
        var hash = bitHashSeed
        bitHash(UnsafeBufferPointer(parameters.flat), into: &hash)
        var scale = decay.factor
        withUnsafeMutablePointer(to: &scale) { bitHash(UnsafeBufferPointer(start: $0, count: 1), into: &hash) }
        return hash
    }

    private func packTransposes() {
        outputWeights?.pack(parameters.weight(layerCount - 1))
        for l in 1..<layerCount where !(l == layerCount - 1 && outputWeights != nil) {
            let w = parameters.weight(l), t = transposed[l - 1].base
            for i in 0..<w.rows { for j in 0..<w.columns { t[j * w.rows + i] = w.row(i)[j] } }
        }
    }

    private func addBias(_ z: Matrix, _ bias: UnsafePointer<Float>) {
        for r in 0..<z.rows {
            let row = z.row(r)
            for j in 0..<z.columns { row[j] += bias[j] }
        }
    }
}

/// The minibatch's rows as the exchange carries them, one row per sample: the activations of every
/// hidden layer, the delta of every layer, the row's loss. Each (B, n) part is a strided view.
final class MinibatchRows {
    let width: Int                       // floats per row
    let count: Int                       // B
    let storage: FloatStorage            // (B, width)
    private let activationOffsets: [Int]
    private let deltaOffsets: [Int]
    private let sizes: [Int]
    var loss: UnsafeMutablePointer<Float> { storage.base + width - 1 - ControlBlock.count }   // row r's at loss[r · width]
    /// Row r's control block (the first row of each rank's shard carries that rank's).
    func control(row r: Int) -> UnsafeMutablePointer<Float> { storage.base + r * width + width - ControlBlock.count }

    /// Floats per row for a model: every hidden activation, every delta, the loss, and room for a
    /// control block (a shard's first row carries its rank's).
    static func width(_ architecture: Architecture) -> Int {
        architecture.hiddenSizes.reduce(0, +) + architecture.layerSizes.dropFirst().reduce(0, +) + 1 + ControlBlock.count
    }

    init(_ architecture: Architecture, rows: Int) {
        sizes = architecture.layerSizes
        let hidden = architecture.hiddenSizes, outputs = Array(sizes.dropFirst())
        activationOffsets = hidden.indices.map { hidden[..<$0].reduce(0, +) }
        let deltasStart = hidden.reduce(0, +)
        deltaOffsets = outputs.indices.map { deltasStart + outputs[..<$0].reduce(0, +) }
        width = Self.width(architecture)
        count = rows
        storage = FloatStorage(count: rows * width)
    }

    /// Hidden layer l's activations, (B, n_{l+1}).
    func activation(_ l: Int) -> Matrix { Matrix(storage.base + activationOffsets[l], rows: count, columns: sizes[l + 1], stride: width) }
    /// Layer l's delta, (B, n_{l+1}).
    func delta(_ l: Int) -> Matrix { Matrix(storage.base + deltaOffsets[l], rows: count, columns: sizes[l + 1], stride: width) }
}

/// The data-parallel exchange: one in-place allgather of the minibatch's rows (each rank's shard is
/// a contiguous block, its first row carrying the rank's control block). On one node through shared
/// memory with a sleeping wait (NodeAllgather); across nodes through MPI, waited for so that a long
/// wait gives the core away (Communicator.waitAll).
final class RowExchange {
    private let world: Communicator
    private let rows: MinibatchRows
    private let shards: [Shard]
    private let counts: Storage<Int32>, displacements: Storage<Int32>
    var control = ControlBlock()
    private let request = Storage<UnsafeMutableRawPointer?>(count: 1)
    private let node: NodeAllgather?

    init(_ rows: MinibatchRows, shards: [Shard], world: Communicator) throws {
        self.world = world
        self.rows = rows
        self.shards = shards
        counts = Storage(count: shards.count)
        displacements = Storage(count: shards.count)
        for (r, shard) in shards.enumerated() {
            counts.base[r] = Int32(shard.count * rows.width)
            displacements.base[r] = Int32(shard.start * rows.width)
        }
        node = try world.nodeAllgather(slotFloats: shards.map(\.count).max()! * rows.width)
    }

    /// How the rows travel, for the start block.
    var transport: String? { world.transport(node) }

    func start() throws {
        let mine = shards[world.rank]
        control.encode(into: rows.control(row: mine.start))
        if let node {
            node.publish(rows.storage.base + mine.start * rows.width, count: mine.count * rows.width)
        } else if world.size > 1 {
            try world.startAllgather(rows.storage.base, counts: counts.base, displacements: displacements.base, request: request.base)
        }
    }

    func finish() throws -> AgreedControl {
        if let node {
            try node.collect(into: rows.storage.base, counts: counts.base, displacements: displacements.base)
        } else {
            try world.waitAll(request.base, count: world.size > 1 ? 1 : 0)
        }
        var agreed = AgreedControl()
        for shard in shards { agreed.add(ControlBlock(decoding: rows.control(row: shard.start))) }
        return agreed
    }
}
