// Seeded random numbers: MT19937 with numpy's legacy seeding and uniform doubles, so that
// `--seed 1234` draws exactly the initial weights of the tutorial's numpy.random.RandomState(1234).

public struct MersenneTwister: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    /// numpy's `RandomState(seed)` for an integer seed (init_genrand).
    public init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 {
            state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
        }
    }

    public mutating func next() -> UInt32 {
        if index >= 624 { twist() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// A double in [0, 1) with 53 random bits, as numpy's `random_sample` (genrand_res53).
    public mutating func nextDouble() -> Double {
        let a = Double(next() >> 5), b = Double(next() >> 6)
        return (a * 67_108_864 + b) / 9_007_199_254_740_992
    }

    /// numpy's `uniform(low, high)`: low + (high - low) · random_sample().
    public mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * nextDouble()
    }

    /// An integer in 0 ..< bound (multiply-shift; the bias is below 2^-32 · bound).
    public mutating func below(_ bound: Int) -> Int {
        Int((UInt64(next()) &* UInt64(bound)) >> 32)
    }

    private mutating func twist() {
        for i in 0..<624 {
            let y = (state[i] & 0x8000_0000) | (state[(i + 1) % 624] & 0x7FFF_FFFF)
            var value = state[(i + 397) % 624] ^ (y >> 1)
            if y & 1 != 0 { value ^= 0x9908_B0DF }
            state[i] = value
        }
        index = 0
    }
}

extension MersenneTwister {
    /// The training order of one epoch: a permutation of 0 ..< count drawn from (seed, epoch) alone,
    /// so that a resumed run needs only the epoch number to continue in the same order.
    public static func epochPermutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var mixed = seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1)  // SplitMix64 finaliser
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        var generator = MersenneTwister(seed: UInt32(truncatingIfNeeded: mixed))
        var order = (0..<count).map { Int32($0) }
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, generator.below(i + 1))
        }
        return order
    }
}
