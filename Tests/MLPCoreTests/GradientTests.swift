// Backpropagation and the SGD update against finite differences of an independent
// double-precision cost (Helpers.referenceCost), for every activation, on a net with two hidden layers.
import Foundation
import MLPCore
import Testing

@Suite struct GradientTests {
    static let l1 = 0.003, l2 = 0.02

    func tinyNet(_ activation: Activation) -> (Architecture, ParameterSet, LabeledImages) {
        let architecture = Architecture(inputSize: 6, hiddenSizes: [5, 4], outputSize: 3, activation: activation)
        return (architecture, randomParameters(architecture, seed: 7), randomBatch(rows: 4, inputs: 6, classes: 3, seed: 11))
    }

    /// Forward, output delta and backpropagation as the trainer runs them; returns Σ NLL.
    func backward(_ architecture: Architecture, _ p: ParameterSet, _ batch: Samples, _ workspace: Workspace) -> Double {
        let model = MLP(architecture)
        let acts = workspace.activations(0, count: batch.count), deltas = workspace.deltas(0, count: batch.count)
        model.forward(batch.images, p, activations: acts)
        let loss = SoftmaxCrossEntropy.delta(logits: acts.last!, labels: batch.labels, into: deltas.last!)
        model.backpropagate(p, activations: acts, deltas: deltas)
        return loss
    }

    /// Every parameter's gradient implied by one real SGD step with η = 1: ∇ = θ_before − θ_after.
    func impliedGradient(_ activation: Activation, fused: Bool) -> (implied: [Double], finite: [Double], loss: Double, reference: Double) {
        let (architecture, p, set) = tinyNet(activation)
        let before = p.flat.map(Double.init)
        let finite = finiteDifferenceGradient(architecture, p, set.all, l1: Self.l1, l2: Self.l2)
        let reference = referenceCost(architecture, before, set.all, l1: 0, l2: 0)
        let workspace = Workspace(architecture, rows: set.all.count)
        let loss = backward(architecture, p, set.all, workspace)
        let sgd = SGD(learningRate: 1, decay: 0, l1: Self.l1, l2: Self.l2)
        let model = MLP(architecture)
        let acts = workspace.activations(0, count: set.all.count), deltas = workspace.deltas(0, count: set.all.count)
        let g = ParameterSet(p.layout)
        for l in 0..<architecture.layerCount {
            let input = l == 0 ? set.all.images : acts[l - 1]
            if fused {
                sgd.applyFactors(layer: l, to: p, input: input, delta: deltas[l], rate: 1, ones: workspace.ones.base)
            } else {
                model.gradient(layer: l, input: input, delta: deltas[l], into: g, ones: workspace.ones.base)
                sgd.applyDense(layer: l, to: p, gradients: g, batchSize: set.all.count, rate: 1)
            }
        }
        let implied = zip(before, p.flat).map { $0 - Double($1) }
        return (implied, finite, loss / Double(set.all.count), reference)  // referenceCost is already a mean
    }

    @Test(arguments: Activation.allCases, [false, true])
    func updateFollowsTheFiniteDifferenceGradient(_ activation: Activation, fused: Bool) {
        let r = impliedGradient(activation, fused: fused)
        // Float32 arithmetic against a Double reference: stated tolerance 1e-4 absolute + 1e-3 relative.
        for (i, (a, b)) in zip(r.implied, r.finite).enumerated() {
            #expect(abs(a - b) <= 1e-4 + 1e-3 * abs(b), "parameter \(i): update implies \(a), finite differences \(b)")
        }
        #expect(relativeDifference(r.loss, r.reference) < 1e-5, "mean NLL \(r.loss) vs reference \(r.reference)")
        #expect(r.implied.contains { abs($0) > 1e-3 }, "the test must exercise non-trivial gradients")
    }

    @Test func penaltiesCoverWeightsOnly() {
        let architecture = Architecture(inputSize: 2, hiddenSizes: [2], outputSize: 2, activation: .tanh)
        let p = ParameterSet(ParameterLayout(architecture))
        for i in 0..<p.layout.count { p.storage.base[i] = 1 }   // 4 + 4 weights, 2 + 2 biases
        let sgd = SGD(learningRate: 0.1, decay: 0, l1: 0.5, l2: 0.25)
        #expect(sgd.penalty(p) == 0.5 * 8 + 0.25 * 8)
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

@Suite struct ShardedUpdateTests {
    /// Updating W's rows in two parts (as two ranks of the sharded exchange do) equals the whole update.
    @Test func rowRangesComposeToTheFullUpdate() {
        let architecture = Architecture(inputSize: 7, hiddenSizes: [5], outputSize: 3, activation: .tanh)
        let whole = randomParameters(architecture, seed: 3), parts = randomParameters(architecture, seed: 3)
        let set = randomBatch(rows: 6, inputs: 7, classes: 5, seed: 4)
        let delta = randomBatch(rows: 6, inputs: 5, classes: 2, seed: 5)   // any (6, 5) matrix will do
        let ones = FloatStorage(count: 6)
        ones.base.update(repeating: 1, count: 6)
        let sgd = SGD(learningRate: 0.3, decay: 0, l1: 0.01, l2: 0.05)
        sgd.applyFactors(layer: 0, to: whole, input: set.all.images, delta: delta.all.images, rate: 0.3, ones: ones.base)
        // Two "ranks" on one copy: each updates its rows and the whole bias, so the bias is put back
        // in between (on real ranks each updates its own copy of the bias).
        let original = randomParameters(architecture, seed: 3)
        sgd.applyFactors(layer: 0, rows: 0..<4, to: parts, input: set.all.images, delta: delta.all.images, rate: 0.3, ones: ones.base)
        parts.bias(0).update(from: original.bias(0), count: 5)
        sgd.applyFactors(layer: 0, rows: 4..<7, to: parts, input: set.all.images, delta: delta.all.images, rate: 0.3, ones: ones.base)
        for i in 0..<whole.layout.count {
            #expect(abs(whole.storage.base[i] - parts.storage.base[i]) <= 1e-6 * (1 + abs(whole.storage.base[i])), "parameter \(i)")
        }
    }
}
