import MLPCore
import Testing

@Suite struct MersenneTwisterTests {
    /// numpy: RandomState(1234).random_sample(3) = [0.19151945, 0.62210877, 0.43772774]
    @Test func matchesNumpyRandomState() {
        var generator = MersenneTwister(seed: 1234)
        let expected = [0.191519450378892, 0.622108771039832, 0.437727739007115]
        for value in expected { #expect(abs(generator.nextDouble() - value) < 1e-14) }
    }

    /// numpy: the tutorial's first hidden weight, float32(RandomState(1234).uniform(−b, b)) with
    /// b = sqrt(6 / 1284), is −0.04217459; and the last of the 784×500 is −0.03103988.
    @Test func tutorialInitialWeights() {
        let p = ParameterSet.initialized(Architecture(), seed: 1234)
        let w = p.weight(0)
        #expect(abs(w.base[0] - (-0.042_174_59)) < 1e-8)
        #expect(abs(w.base[w.count - 1] - (-0.031_039_88)) < 1e-8)
        #expect(p.weight(1).base[0] == 0 && p.bias(0)[0] == 0, "output layer and biases start at zero")
        let bound = Float(Activation.tanh.initBound(fanIn: 784, fanOut: 500))
        #expect(UnsafeBufferPointer(start: w.base, count: w.count).allSatisfy { abs($0) <= bound })
    }

    @Test func epochPermutationsArePermutationsAndRepeatable() {
        let a = MersenneTwister.epochPermutation(count: 1000, seed: 42, epoch: 3)
        #expect(a.sorted() == (0..<1000).map(Int32.init))
        #expect(a == MersenneTwister.epochPermutation(count: 1000, seed: 42, epoch: 3))
        #expect(a != MersenneTwister.epochPermutation(count: 1000, seed: 42, epoch: 4))
        #expect(a != MersenneTwister.epochPermutation(count: 1000, seed: 43, epoch: 3))
    }
}
