// The data-parallel way for slow links: the factors of FactorsStep, but W₀'s update (the step's
// biggest piece of work) runs while the next step's rows travel instead of before they leave.
//
// Step t's update of the first layer is W₀ ← k·W₀ + α·A_tᵀ·D_t (k = 1 − 2ηλ₂, α = −η/B; A_t the
// minibatch's inputs, D_t its first-layer deltas). Step t+1's forward needs x·W₀ after it, and
//     x·(k·W₀ + α·A_tᵀ·D_t) = k·(x·W₀) + α·(x·A_tᵀ)·D_t,
// so the forward takes the product on W₀ as it was and adds the update as a correction (a row's B
// dot products with A_t's images, then B rows of D_t added): about a tenth of the product's work. W₀ itself
// is updated once this step's rows have started travelling (`backward`). The correction rounds
// differently from the product on the updated W₀, so this way's bits are its own: one rank with
// `--exchange overlap` gives the same bits as any number of ranks with it, not the other ways' bits.
// It needs the update to be that sum, so it refuses L1 (whose sign(W₀) term is not a product of
// the batch). At every fold point (validations, checkpoints, the end) the pending update is applied
// first, so a checkpoint holds the whole W₀ and a resumed run goes on with the same bits.

final class OverlapStep: DataParallelStep, TrainingStep {
    private let pixels: PixelPairs           // the pending minibatch's non-zeros, by pairs of pixels
    private let pendingDelta: FloatStorage   // (B, n₁) its first-layer deltas
    private let pendingImages: FloatStorage  // (B, 784) its images
    private var pendingRate: Double?         // its rate; nil when W₀ is up to date
    private let gram: FloatStorage           // (B) one row's dot products with the pending rows

    override init(_ architecture: Architecture, parameters: ParameterSet, sgd: SGD, batchSize: Int, world: Communicator,
                  trainingNonZeros: SparseRows) throws {
        guard sgd.l1 == 0 else {
            throw ConfigurationError("--exchange overlap corrects the next forward pass by the last update of the first layer, which needs --l1 0 (L1's sign term is not a product of the minibatch). Use --l1 0, or --exchange factors.")
        }
        pixels = PixelPairs(capacity: batchSize, pixels: 0..<architecture.inputSize)
        pendingDelta = FloatStorage(count: batchSize * architecture.layerSizes[1])
        pendingImages = FloatStorage(count: batchSize * architecture.inputSize)
        gram = FloatStorage(count: batchSize)
        try super.init(architecture, parameters: parameters, sgd: sgd, batchSize: batchSize, world: world, trainingNonZeros: trainingNonZeros)
    }

    var mode: ExchangeMode { .overlap }

    private var delta: Matrix { Matrix(pendingDelta.base, rows: batchSize, columns: architecture.layerSizes[1]) }

    /// z = k·(x·W₀) + α·(x·A_tᵀ)·D_t for this rank's rows, while W₀ still lacks step t's update.
    override func firstProduct(_ batch: Minibatch, into z: Matrix) {
        super.firstProduct(batch, into: z)
        guard let eta = pendingRate else { return }
        let keep = Float(sgd.keep(rate: eta)), alpha = Float(-eta / Double(batchSize))
        let images = batch.samples.images, inputs = images.columns, start = shard.start, g = gram.base
        for i in 0..<z.rows {
            let x = images.row(start + i)
            for j in 0..<batchSize { g[j] = alpha * LowRankCorrection.dot(x, pendingImages.base + j * inputs, count: inputs) }
            LowRankCorrection.scaleAndAdd(z.row(i), width: z.columns, keep: keep, coefficients: g,
                                          rows: pendingDelta.base, count: batchSize, stride: z.columns)
        }
    }

    /// The deltas, the rows start travelling, and meanwhile W₀ takes the last step's update.
    override func backward() throws {
        try super.backward()
        applyPendingUpdate()
    }

    /// The layers after the first now (the next forward needs them whole); W₀'s update is kept
    /// for the next `backward`.
    func update(_ batch: Minibatch, rate eta: Double) throws {
        updateDenseLayers(rate: eta)
        pixels.fill(from: trainingNonZeros, count: batchSize) { batch.trainingRow($0) }
        let images = batch.samples.images
        for r in 0..<batchSize { (pendingImages.base + r * images.columns).update(from: images.row(r), count: images.columns) }
        let source = rows.delta(0), target = delta
        for r in 0..<batchSize { target.row(r).update(from: source.row(r), count: target.columns) }
        pendingRate = eta
    }

    private func applyPendingUpdate() {
        guard let eta = pendingRate else { return }
        let w = parameters.weight(0)
        decay.update(w, columns: 0..<w.columns, pixels: pixels, delta: delta, sgd: sgd, batchSize: batchSize,
                     rate: eta, fold: scaleFirstWeight)
        pendingRate = nil
    }

    override func foldDecay() {
        applyPendingUpdate()
        super.foldDecay()
    }

    func assembleParameters() throws {}

    /// The pending update is part of what every rank holds alike.
    override func replicatedHash() -> UInt64 {
        var hash = super.replicatedHash()
        if pendingRate != nil { bitHash(UnsafeBufferPointer(start: pendingDelta.base, count: pendingDelta.count), into: &hash) }
        return hash
    }
}
