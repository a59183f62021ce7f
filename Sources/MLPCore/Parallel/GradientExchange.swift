// Carries out an ExchangePlan each step, over buffers fixed at set-up (nothing is allocated per step).
// The trainer calls it in the order of the step: `startControl`, then per layer from the output down
// `startGradient` / `startRows`, then `finish` (everything summed or gathered), then, after the
// update, `finishUpdate`. Every exchange starts as soon as nothing more will read its buffers, so
// it runs while the layers below are computed: a dense layer's allreduce right after its gradient
// is formed, a gathered layer's rows once the layer below has read them for backpropagation, the
// control block at once. Gathers run without blocking and `finish` waits for them; allreduces
// block, because Open MPI's nonblocking allreduce was slower here (docs/performance.md).
// With parameters shared on the node the activation and delta rows are in node-shared memory too
// (see Trainer): a rank writes its shard's rows where every rank reads them, and one fence
// replaces the gathers. The split first layer's partial products meet in a reduce-scatter.

final class GradientExchange {
    private let world: Communicator
    private typealias Gather = (base: UnsafeMutablePointer<Float>, counts: Storage<Int32>, displacements: Storage<Int32>)
    private enum Operation {
        case allreduce(UnsafeMutablePointer<Float>, count: Int)
        case allgather(Gather)
    }
    /// Started when layer l's dense gradient is formed, and when its rows are read no more.
    private var gradientOperations: [[Operation]]
    private var rowOperations: [[Operation]]
    /// The control block's own allreduce, unless it rides with a dense output layer's.
    private var controlOperation: Operation?
    private let requests: Storage<UnsafeMutableRawPointer?>
    private var pending = 0
    private var weightGathers: [Gather] = []
    /// Gathered only to make the parameters whole (assembleParameters): the split first layer's rows.
    private var assemblyGathers: [Gather] = []
    private let sharedParameters: Bool
    /// The split first layer: this rank's partial product (B, n_1) and every rank's share of the sum.
    private var splitPartial: FloatStorage?
    private var splitCounts: [Int32] = []
    /// The rows of each layer's weight this rank updates (all rows when absent).
    let ownedRows: [Int: Range<Int>]
    /// The layers whose bias this rank updates.
    let ownedBiases: Set<Int>

    /// `gradients` holds the dense gradients followed by the control block (`controlCount` floats),
    /// so that one allreduce can carry both. `fullActivations` / `fullDeltas` are the (B, n) buffers
    /// whose shard rows this rank fills; node-shared memory when the plan shares the parameters.
    /// `firstLayerRowCost`: the work each of W_0's rows brings to a split first layer (with sparse
    /// inputs, mostly its pixel's non-zeros); the rows are then divided so that each rank's cost is
    /// about equal, instead of their number (MNIST's lower half holds 53 % of the non-zero pixels).
    init(plan: ExchangePlan, world: Communicator, parameters: ParameterSet, gradients: ParameterSet, controlCount: Int,
         fullActivations: [Matrix], fullDeltas: [Matrix], shards: [Shard], firstLayerRowCost: [Double]? = nil) {
        self.world = world
        sharedParameters = plan.sharedParameters
        let layers = parameters.layout.layers
        func gather(_ base: UnsafeMutablePointer<Float>, counts: [Int], displacements: [Int]) -> Gather {
            let c = Storage<Int32>(count: counts.count), d = Storage<Int32>(count: displacements.count)
            for i in counts.indices { c.base[i] = Int32(counts[i]); d.base[i] = Int32(displacements[i]) }
            return (base, c, d)
        }

        // Who updates what: sharded and split layers (every layer, with shared parameters) by rows.
        var owned: [Int: Range<Int>] = [:]
        for l in layers.indices where plan.layers[l] == .sharded || plan.layers[l] == .split || plan.sharedParameters {
            let slot = layers[l]
            func rows(_ rank: Int) -> Range<Int> {
                if l == 0, plan.layers[0] == .split, let cost = firstLayerRowCost {
                    return Shard.rows(balancing: cost, rank: rank, worldSize: world.size)
                }
                return Shard.rows(slot.inputs, rank: rank, worldSize: world.size)
            }
            owned[l] = rows(world.rank)
            guard !plan.sharedParameters else { continue }
            let split = (0..<world.size).map(rows)
            let rows = gather(parameters.weight(l).base, counts: split.map { $0.count * slot.outputs },
                              displacements: split.map { $0.lowerBound * slot.outputs })
            if plan.layers[l] == .split { assemblyGathers.append(rows) } else { weightGathers.append(rows) }
        }
        ownedRows = owned
        // Private parameters: every rank updates every bias. Shared: layer l's bias is rank (l mod P)'s.
        ownedBiases = Set(layers.indices.filter { !plan.sharedParameters || $0 % world.size == world.rank })
        if plan.splitsFirstLayer {
            let width = layers[0].outputs
            splitPartial = FloatStorage(count: fullDeltas[0].rows * width)
            splitCounts = shards.map { Int32($0.count * width) }
        }

        // Per layer: a dense layer's weight and bias gradient (contiguous) is allreduced; a gathered
        // layer's delta rows are gathered, and its input rows unless the input is the data. The
        // control block, at the end of the gradient buffer, joins the output layer's allreduce
        // when that layer is dense (they are adjacent) and goes alone otherwise.
        let outputDense = plan.layers.last == .dense
        gradientOperations = layers.indices.map { l in
            guard plan.layers[l] == .dense else { return [] }
            let slot = layers[l], withControl = outputDense && l == layers.count - 1
            return [.allreduce(gradients.storage.base + slot.weightOffset, count: slot.end - slot.weightOffset + (withControl ? controlCount : 0))]
        }
        rowOperations = layers.indices.map { l in
            guard plan.layers[l] != .dense && plan.layers[l] != .columns && world.size > 1 && !plan.sharedParameters else { return [] }
            return ([fullDeltas[l]] + (l > 0 ? [fullActivations[l - 1]] : [])).map { m in
                .allgather(gather(m.base, counts: shards.map { $0.count * m.columns }, displacements: shards.map { $0.start * m.columns }))
            }
        }
        // (With columns the control block rides with the logits, in HiddenUnitsStep.)
        controlOperation = outputDense || plan.dividesHiddenUnits ? nil : .allreduce(gradients.storage.base + gradients.layout.count, count: controlCount)
        requests = Storage<UnsafeMutableRawPointer?>(count: (gradientOperations + rowOperations).reduce(1) { $0 + $1.count })
    }

    /// The split first layer's product input · W_0 for this rank's shard rows (`into`, (b, n_1)):
    /// this rank's rows of W_0 times every sample's matching inputs, summed across ranks.
    func firstLayerProduct(_ batchInput: Matrix, sparseInput: SparseBatch.Rows?, _ parameters: ParameterSet,
                           into shardRows: Matrix) throws {
        let rows = ownedRows[0]!, partial = splitPartial!
        let product = Matrix(partial.base, rows: batchInput.rows, columns: shardRows.columns)       // (B, n_1)
        let weights = parameters.weight(0).rows(rows.lowerBound, count: rows.count)                // (rows, n_1)
        if let sparseInput {
            sparseInput.multiply(columns: rows, by: weights, into: product)
        } else {
            BLAS.gemm(batchInput.columns(rows.lowerBound, count: rows.count), weights, into: product) // (B, rows) · (rows, n_1)
        }
        try world.reduceScatterSum(partial.base, into: shardRows.base, counts: splitCounts)
    }

    /// The control block's allreduce, unless it rides with the output layer's gradient.
    func startControl() throws {
        if let controlOperation { try start(controlOperation) }
    }

    /// A dense layer's allreduce: call once its gradient is formed.
    func startGradient(layer l: Int) throws {
        for operation in gradientOperations[l] { try start(operation) }
    }

    /// Starts gathering a layer's delta and input rows: call once nothing on this rank reads them
    /// (after backpropagating to the layer below).
    func startRows(layer l: Int) throws {
        for operation in rowOperations[l] { try start(operation) }
    }

    /// Seconds spent in blocking allreduces since the last `takeBlockedSeconds` (for the profile,
    /// which counts them as exchange although they run inside the backward pass).
    private var blockedSeconds = 0.0

    func takeBlockedSeconds() -> Double {
        defer { blockedSeconds = 0 }
        return blockedSeconds
    }

    private func start(_ operation: Operation) throws {
        switch operation {
        case .allreduce(let base, let count):
            let start = world.wallTime()
            try world.allreduceSum(base, count: count)
            blockedSeconds += world.wallTime() - start
        case .allgather(let g):
            try world.startAllgather(g.base, counts: g.counts.base, displacements: g.displacements.base, request: requests.base + pending)
            pending += 1
        }
    }

    /// Waits for every gather started this step: afterwards dense gradients and the control block
    /// are summed and factor rows gathered (or, in shared memory, written), on every rank.
    func finish() throws {
        try world.waitAll(requests.base, count: pending)
        pending = 0
        if sharedParameters { try world.fenceNodeShared() }
    }

    /// Makes every rank's copy of the parameters whole: the split first layer's rows live only with
    /// their owners until this (a collective) gathers them. Nothing to do with shared parameters.
    func assembleParameters() throws {
        for g in assemblyGathers { try allgather(g) }
    }

    /// After the update: every rank's updated rows of the sharded layers gathered, or, with shared
    /// parameters, every rank's writes made visible to all.
    func finishUpdate() throws {
        if sharedParameters { try world.fenceNodeShared() }
        for g in weightGathers { try allgather(g) }
    }

    private func allgather(_ g: Gather) throws {
        try world.allgather(g.base, counts: g.counts.base, displacements: g.displacements.base)
    }
}
