// Measurements that put the trainer's speed next to the machine's: the FLOPs a sample costs, the
// sgemm peak, the bare GEMM calls a step needs (the floor the step is compared with), and the
// latency and bandwidth of the allreduce.

import Foundation

public enum Benchmark {
    /// Floating-point operations of one training sample (2 per multiply-add): the forward pass, the
    /// weight gradients, and the deltas propagated back to every hidden layer.
    public static func flopsPerSample(_ architecture: Architecture) -> Double {
        let layers = ParameterLayout(architecture).layers
        let products = layers.map { Double($0.inputs * $0.outputs) }
        return 2 * (products.reduce(0, +) * 2 + products.dropFirst().reduce(0, +))
    }

    /// GFLOP/s of one n×n·n×n sgemm on one thread (as BLAS always runs), best of `repeats`.
    public static func sgemmPeak(size n: Int = 1536, repeats: Int = 3, clock: () -> Double) -> Double {
        let a = FloatStorage(count: n * n), b = FloatStorage(count: n * n), c = FloatStorage(count: n * n)
        for i in 0..<n * n { a.base[i] = Float(i % 7) * 0.1; b.base[i] = Float(i % 5) * 0.1 }
        let (ma, mb, mc) = (Matrix(a.base, rows: n, columns: n), Matrix(b.base, rows: n, columns: n), Matrix(c.base, rows: n, columns: n))
        BLAS.gemm(ma, mb, into: mc)
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = clock()
            BLAS.gemm(ma, mb, into: mc)
            best = min(best, clock() - start)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// The GEMMs of one training step on `rows` samples, and nothing else: per layer the forward
    /// product and the weight gradient, and the backpropagated delta for every layer but the first.
    public final class BareStep {
        private let calls: [() -> Void]

        public init(_ architecture: Architecture, rows b: Int) {
            let layout = ParameterLayout(architecture)
            var storage: [FloatStorage] = []
            func matrix(_ r: Int, _ c: Int) -> Matrix {
                let s = FloatStorage(count: r * c)
                for i in 0..<r * c { s.base[i] = Float(i % 13) * 0.01 }
                storage.append(s)
                return Matrix(s.base, rows: r, columns: c)
            }
            var calls: [() -> Void] = []
            for (l, slot) in layout.layers.enumerated() {
                let input = matrix(b, slot.inputs), weight = matrix(slot.inputs, slot.outputs)
                let output = matrix(b, slot.outputs), gradient = matrix(slot.inputs, slot.outputs)
                let delta = matrix(b, slot.outputs), back = matrix(b, slot.inputs)
                calls.append { BLAS.gemm(input, weight, into: output) }
                calls.append { BLAS.gemm(input, delta, into: gradient, transposeA: true) }
                if l > 0 { calls.append { BLAS.gemm(delta, weight, into: back, transposeB: true) } }
            }
            self.calls = calls
            keepAlive = storage
        }

        private let keepAlive: [FloatStorage]

        public func run(steps: Int) {
            for _ in 0..<steps { for call in calls { call() } }
        }
    }

    /// This process's peak resident memory in bytes (Linux's VmHWM), or nil where unknown.
    public static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kilobytes * 1024
    }

    /// Seconds per in-place float allreduce of `count` floats over all ranks, best of `repeats` rounds.
    public static func allreduceSeconds(_ world: Communicator, count: Int, rounds: Int, repeats: Int = 3) throws -> Double {
        let buffer = FloatStorage(count: max(count, 1))
        try world.allreduceSum(buffer.base, count: count)
        var best = Double.infinity
        for _ in 0..<repeats {
            try world.barrier()
            let start = world.wallTime()
            for _ in 0..<rounds { try world.allreduceSum(buffer.base, count: count) }
            var elapsed = [Int64((world.wallTime() - start) * 1e9)]
            try world.allreduceMax(&elapsed)
            best = min(best, Double(elapsed[0]) / 1e9 / Double(rounds))
        }
        return best
    }
}
