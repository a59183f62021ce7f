// The training step's update against finite differences of an independent double-precision cost
// (Helpers.referenceCost), for every activation and way, on tiny nets; and several steps against
// plain SGD in Double, through every path of the first layer's decay.
import Foundation
import MLPCore
import Testing

@Suite(.serialized) struct GradientTests {
    static let l1 = 0.003, l2 = 0.02

    /// A trainer over `rows` random images (40 % zeros: the first layer lists only the others),
    /// one global minibatch of `batch` rows, one rank.
    func trainer(_ architecture: Architecture, exchange: ExchangeMode, rows: Int, batch: Int, sgd: SGD,
                 parameters: ParameterSet) throws -> Trainer {
        let set = randomBatch(rows: rows, inputs: architecture.inputSize, classes: architecture.outputSize, seed: 11)
        var random = FixtureRandom(state: 5)
        for i in 0..<rows * architecture.inputSize where random.next() < 0.4 { set.pixels.base[i] = 0 }
        var c = TrainingConfiguration()
        c.architecture = architecture
        c.batchSize = batch
        c.epochs = 1
        c.patience = 1_000_000
        c.sgd = sgd
        c.exchange = exchange
        return try Trainer(configuration: c, data: MNIST(train: set, validation: set, test: set),
                           world: try Communicator.world(), parameters: parameters)
    }

    /// Every parameter's gradient implied by one real training step with η = 1 over the whole
    /// training set (one minibatch, so the step ends an epoch and the first layer's decay scale is
    /// folded): ∇ = θ_before − θ_after.
    func impliedGradient(_ activation: Activation, exchange: ExchangeMode, hidden: [Int]) throws -> (implied: [Double], finite: [Double]) {
        let architecture = Architecture(inputSize: 6, hiddenSizes: hidden, outputSize: 3, activation: activation)
        let p = randomParameters(architecture, seed: 7)
        let t = try trainer(architecture, exchange: exchange, rows: 4, batch: 4,
                            sgd: SGD(learningRate: 1, decay: 0, l1: Self.l1, l2: Self.l2), parameters: p)
        let before = p.flat.map(Double.init)
        let finite = finiteDifferenceGradient(architecture, p, t.data.train, l1: Self.l1, l2: Self.l2)
        #expect(try t.step() == .updated)
        return (zip(before, p.flat).map { $0 - Double($1) }, finite)
    }

    /// The data-parallel step on two hidden layers, and the model-parallel one (one hidden layer).
    @Test(arguments: Activation.allCases, [ExchangeMode.factors, .sharded, .columns])
    func updateFollowsTheFiniteDifferenceGradient(_ activation: Activation, exchange: ExchangeMode) throws {
        let r = try impliedGradient(activation, exchange: exchange, hidden: exchange == .columns ? [5] : [5, 4])
        // Float32 arithmetic against a Double reference: stated tolerance 1e-4 absolute + 1e-3 relative.
        for (i, (a, b)) in zip(r.implied, r.finite).enumerated() {
            #expect(abs(a - b) <= 1e-4 + 1e-3 * abs(b), "parameter \(i): update implies \(a), finite differences \(b)")
        }
        #expect(r.implied.contains { abs($0) > 1e-3 }, "the test must exercise non-trivial gradients")
    }

    /// Twelve steps (an epoch) against plain SGD in Double on the finite-difference gradient: the
    /// first layer's decay kept as a scale (l2 only; with a decay strong enough that the scale is
    /// folded early), and updated directly (with L1; with a decay of more than half a step).
    @Test(arguments: [(0.0, 0.02, 0.3), (0.0, 0.24, 1.0), (0.003, 0.02, 0.3), (0.0, 0.3, 1.0)])
    func stepsFollowPlainSGD(l1: Double, l2: Double, rate: Double) throws {
        let architecture = Architecture(inputSize: 6, hiddenSizes: [5, 4], outputSize: 3, activation: .tanh)
        let p = randomParameters(architecture, seed: 7)
        let t = try trainer(architecture, exchange: .factors, rows: 48, batch: 4, sgd: SGD(learningRate: rate, decay: 0, l1: l1, l2: l2), parameters: p)
        var reference = p.flat.map(Double.init)
        let shadow = ParameterSet(p.layout)
        for step in 0..<12 {
            for i in reference.indices { shadow.storage.base[i] = Float(reference[i]) }
            let g = finiteDifferenceGradient(architecture, shadow, t.data.train.slice(4 * step, count: 4), l1: l1, l2: l2, step: 1e-5)
            for i in reference.indices { reference[i] -= rate * g[i] }
            #expect(try t.step() == .updated)
        }
        #expect(t.isFoldPoint(12))
        var worst = 0.0
        for (a, b) in zip(p.flat, reference) { worst = max(worst, abs(Double(a) - b) / max(1e-2, abs(b))) }
        #expect(worst < 2e-3, "l1 \(l1), l2 \(l2), rate \(rate): worst relative difference \(worst) after 12 steps")
    }

    /// η_t = η₀ / (1 + d·t). (That the penalties reach the weights and not the biases, the
    /// finite-difference test above shows: its reference cost penalises weights only.)
    @Test func rateDecays() {
        #expect(abs(SGD(learningRate: 0.01, decay: 0.5).rate(at: 2, batchSize: 20, batchesPerEpoch: 10) - 0.005) < 1e-15)
    }

    /// Goyal et al.'s rule: η₀ · B / B_ref after a per-iteration linear warm-up from η₀; the decay on top.
    @Test func linearScalingWithWarmup() {
        var sgd = SGD(learningRate: 0.01, decay: 0)
        #expect(sgd.rate(at: 0, batchSize: 80, batchesPerEpoch: 10) == 0.01)    // no scaling: B does not matter
        sgd.scaling = .linear
        #expect(sgd.peakRate(batchSize: 80) == 0.04 && sgd.peakRate(batchSize: 20) == 0.01)
        #expect(sgd.rate(at: 0, batchSize: 80, batchesPerEpoch: 10) == 0.04)    // no warm-up: the peak at once
        sgd.warmupEpochs = 2                                                    // 20 iterations
        let rates = [0, 5, 10, 19, 20, 1000].map { sgd.rate(at: $0, batchSize: 80, batchesPerEpoch: 10) }
        for (rate, expected) in zip(rates, [0.01, 0.0175, 0.025, 0.0385, 0.04, 0.04]) {
            #expect(abs(rate - expected) < 1e-15, "\(rates)")
        }
        sgd.referenceBatch = 40
        sgd.decay = 0.5
        #expect(abs(sgd.rate(at: 30, batchSize: 80, batchesPerEpoch: 10) - 0.02 / 16) < 1e-15)
    }
}
