// The model-parallel option, `--exchange columns`: for a model with one hidden layer, each rank owns
// a block of the hidden units (its columns of W_0 and b_0, the same rows of W_1) and computes them
// for the WHOLE minibatch, with its share of the logits. One allreduce of the (B, 10) partial logits,
// with the control block, is all that crosses between the ranks: every rank then forms the whole
// minibatch's softmax delta itself, and backpropagation and the update of its blocks are local. No
// gradient moves. The parameters are private to each rank and made whole only when rank 0 needs
// them (validation, checkpoints). Across a network this beat every data-parallel way
// (docs/performance.md); `--exchange auto` never takes it.

final class HiddenUnitsStep {
    private let world: Communicator
    private let architecture: Architecture
    private let parameters: ParameterSet
    /// This rank's hidden units, and every rank's (blocks in rank order).
    let units: Range<Int>
    private let allUnits: [Range<Int>]
    private let storage: [FloatStorage]
    private let hiddenRows: Matrix               // (B, H): only this rank's columns are filled
    private let hidden: Matrix                   // (B, units) this rank's activations, a view of hiddenRows
    private let hiddenDelta: Matrix              // (B, units) their deltas
    private let outputDelta: Matrix              // (B, n_L), the whole minibatch's, on every rank
    /// The (B, n_L) logits this rank's units contribute, followed by the control block: one allreduce.
    private let logitsAndControl: FloatStorage
    private let partialLogits: Matrix
    private let controlCount: Int
    /// The one rank that adds b_1 into its share of the logits, so that the sum holds it once.
    private let addsOutputBias: Bool
    private let ones: FloatStorage               // (B) of 1: column sums as a matrix-vector product
    /// For assembling the model: W_0's column blocks packed (n_0, units) rank after rank, and the
    /// gathers of W_1's row blocks and b_0's blocks, which lie in place.
    private let packedColumns: FloatStorage
    private let columnsGather: (counts: [Int32], displacements: [Int32])
    private let rowsGather: (counts: [Int32], displacements: [Int32])
    private let biasGather: (counts: [Int32], displacements: [Int32])

    /// Whether the model can be divided so: one hidden layer, at least one unit per rank.
    static func fits(_ architecture: Architecture, worldSize: Int) -> Bool {
        architecture.hiddenSizes.count == 1 && architecture.hiddenSizes[0] >= worldSize
    }

    init(_ architecture: Architecture, parameters: ParameterSet, world: Communicator, batchSize: Int, controlCount: Int) {
        precondition(Self.fits(architecture, worldSize: world.size), "columns needs one hidden layer with a unit per rank")
        self.world = world
        self.architecture = architecture
        self.parameters = parameters
        self.controlCount = controlCount
        let (inputs, width, classes) = (architecture.inputSize, architecture.hiddenSizes[0], architecture.outputSize)
        let allUnits = (0..<world.size).map { Shard.units(width, rank: $0, worldSize: world.size) }
        self.allUnits = allUnits
        units = allUnits[world.rank]
        storage = [FloatStorage(count: batchSize * width), FloatStorage(count: batchSize * units.count),
                   FloatStorage(count: batchSize * classes)]
        hiddenRows = Matrix(storage[0].base, rows: batchSize, columns: width)
        hidden = hiddenRows.columns(units.lowerBound, count: units.count)
        hiddenDelta = Matrix(storage[1].base, rows: batchSize, columns: units.count)
        outputDelta = Matrix(storage[2].base, rows: batchSize, columns: classes)
        logitsAndControl = FloatStorage(count: batchSize * classes + controlCount)
        partialLogits = Matrix(logitsAndControl.base, rows: batchSize, columns: classes)
        addsOutputBias = world.rank == 1 % world.size
        ones = FloatStorage(count: batchSize)
        ones.base.update(repeating: 1, count: batchSize)
        packedColumns = FloatStorage(count: inputs * width)
        func blocks(_ scale: Int) -> (counts: [Int32], displacements: [Int32]) {
            (allUnits.map { Int32($0.count * scale) }, allUnits.map { Int32($0.lowerBound * scale) })
        }
        columnsGather = blocks(inputs)
        rowsGather = blocks(classes)
        biasGather = blocks(1)
    }

    /// Forward for this rank's units over the whole minibatch, the logits summed across ranks (with
    /// `control`, the step's control block, in the same allreduce), the loss and output delta, and
    /// the hidden delta of this rank's units. Returns Σ NLL over the B rows (the same on every
    /// rank) and the seconds spent in the allreduce.
    func forwardAndBackward(_ batch: Samples, sparseInput: SparseBatch.Rows?,
                            control: UnsafeMutablePointer<Float>) throws -> (loss: Double, allreduceSeconds: Double) {
        let w0 = parameters.weight(0).columns(units.lowerBound, count: units.count)          // (n_0, units), strided
        let w1 = parameters.weight(1).rows(units.lowerBound, count: units.count)             // (units, n_L)
        // hidden = f(x · W_0[:, units] + b_0[units]), (B, units); its share of the logits (B, n_L)
        if let sparseInput {
            sparseInput.multiply(columns: 0..<batch.images.columns, by: w0, into: hidden)
        } else {
            BLAS.gemm(batch.images, w0, into: hidden)
        }
        architecture.activation.addBiasAndActivate(hidden, bias: parameters.bias(0) + units.lowerBound)
        BLAS.gemm(hidden, w1, into: partialLogits)
        if addsOutputBias {
            let b1 = parameters.bias(1)
            for r in 0..<partialLogits.rows {
                let row = partialLogits.row(r)
                for j in 0..<partialLogits.columns { row[j] += b1[j] }
            }
        }
        // ---- the one exchange: every rank's share of the logits, and the control block ----
        (logitsAndControl.base + partialLogits.count).update(from: control, count: controlCount)
        let start = world.wallTime()
        try world.allreduceSum(logitsAndControl.base, count: logitsAndControl.count)
        let seconds = world.wallTime() - start
        control.update(from: logitsAndControl.base + partialLogits.count, count: controlCount)
        // ---- the whole minibatch's loss and output delta, then this rank's hidden delta ----
        let loss = SoftmaxCrossEntropy.delta(logits: partialLogits, labels: batch.labels, into: outputDelta)
        BLAS.gemm(outputDelta, w1, into: hiddenDelta, transposeB: true)                       // (B, n_L) · (n_L, units)
        architecture.activation.multiplyByDerivative(hiddenDelta, activations: hidden)
        return (loss, seconds)
    }

    /// This rank's blocks: W_0's and b_0's columns of its units, W_1's rows of them, and b_1 (the
    /// same on every rank, from the same output delta).
    func update(_ batch: Samples, sparseInput: SparseBatch.Rows?, sgd: SGD, rate eta: Double) {
        let ones = UnsafePointer(self.ones.base)
        sgd.applyFactors(layer: 0, columns: units, to: parameters, input: batch.images, sparseInput: sparseInput,
                         delta: hiddenDelta, rate: eta, ones: ones)
        sgd.applyFactors(layer: 1, rows: units, bias: true, to: parameters, input: hiddenRows,
                         delta: outputDelta, rate: eta, ones: ones)
    }

    /// Makes every rank's copy of the parameters whole (a collective): W_0's column blocks, W_1's
    /// row blocks and b_0's blocks, gathered from their owners.
    func assembleParameters() throws {
        let w = parameters.weight(0)
        for i in 0..<w.rows {   // this rank's block of columns, packed as (n_0, units)
            (packedColumns.base + units.lowerBound * w.rows + i * units.count).update(from: w.row(i) + units.lowerBound, count: units.count)
        }
        try gather(packedColumns.base, columnsGather)
        for block in allUnits where block != units {
            for i in 0..<w.rows {
                (w.row(i) + block.lowerBound).update(from: packedColumns.base + block.lowerBound * w.rows + i * block.count, count: block.count)
            }
        }
        try gather(parameters.weight(1).base, rowsGather)
        try gather(parameters.bias(0), biasGather)
    }

    private func gather(_ base: UnsafeMutablePointer<Float>, _ layout: (counts: [Int32], displacements: [Int32])) throws {
        try layout.counts.withUnsafeBufferPointer { counts in
            try layout.displacements.withUnsafeBufferPointer { displacements in
                try world.allgather(base, counts: counts.baseAddress!, displacements: displacements.baseAddress!)
            }
        }
    }
}
