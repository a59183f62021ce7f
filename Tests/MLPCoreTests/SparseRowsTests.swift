import Foundation
import MLPCore
import Testing

@Suite struct SparseRowsTests {
    /// `rows × columns` values in [0, 1], each zero with probability `zeros`; row 1 entirely zero.
    func sparseMatrix(rows: Int, columns: Int, zeros: Double, seed: UInt64) -> FloatStorage {
        var random = FixtureRandom(state: seed)
        let m = FloatStorage(count: rows * columns)
        for i in 0..<rows * columns where random.next() >= zeros && i / columns != 1 { m.base[i] = random.uniform(0, 1) }
        return m
    }

    @Test func storesExactlyTheNonZeros() {
        var values: [Float] = [0, 2, 0, 0,
                               0, 0, 0, 0,
                               5, 0, 0, 7]
        let sparse = values.withUnsafeMutableBufferPointer { SparseRows(Matrix($0.baseAddress!, rows: 3, columns: 4)) }
        #expect(sparse.nonZeros == 3)
        #expect(sparse.density == 0.25)
    }

    /// The paired kernel against sgemm: 600 rows (windows of 256, 256 and 87; the last with an
    /// odd image out, so a pair of one), every panel remainder, scored as two evaluator threads would
    /// (whole windows each, into their own views). Each image's sum has the same terms in the same
    /// order as alone (its partner's pixels add 0·w), so the pairing cannot change a result.
    @Test(arguments: [10, 128, 130, 300, 500])
    func productEqualsTheDenseGEMM(outputs: Int) {
        let (rows, inputs) = (599, 50)
        let x = sparseMatrix(rows: rows, columns: inputs, zeros: 0.8, seed: 7)
        let wStorage = FloatStorage(count: inputs * outputs)
        var random = FixtureRandom(state: 11)
        for i in 0..<wStorage.count { wStorage.base[i] = random.uniform(-1, 1) }
        let w = Matrix(wStorage.base, rows: inputs, columns: outputs)
        let expected = FloatStorage(count: rows * outputs), got = FloatStorage(count: rows * outputs)
        BLAS.gemm(Matrix(x.base, rows: rows, columns: inputs), w, into: Matrix(expected.base, rows: rows, columns: outputs))
        got.base.update(repeating: .nan, count: got.count)

        let sparse = SparseRows(Matrix(x.base, rows: rows, columns: inputs))
        let paired = PairedRows(sparse)
        #expect(paired.entries <= sparse.nonZeros && 2 * paired.entries >= sparse.nonZeros)   // 1 or 2 non-zeros each
        let panels = PanelWeights(inputs: inputs, outputs: outputs)
        panels.pack(w)
        paired.multiply(rows: 0..<256, by: panels, into: Matrix(got.base, rows: 256, columns: outputs))
        paired.multiply(rows: 256..<rows, by: panels, into: Matrix(got.base + 256 * outputs, rows: rows - 256, columns: outputs))

        for i in 0..<rows * outputs {
            #expect(abs(got.base[i] - expected.base[i]) <= 1e-5 * max(1, abs(expected.base[i])), "entry \(i)")
        }
        #expect((0..<outputs).allSatisfy { got.base[outputs + $0] == 0 })   // the all-zero row
    }

    /// MNIST's validation images pair up: the merged lists are far shorter than two images' worth.
    @Test func similarImagesShareTheirPixels() throws {
        let mnist = try MNIST.load(directory: bundledMNIST, trainLimit: 100, evalLimit: 2000)
        let sparse = SparseRows(mnist.validation.images)
        let paired = PairedRows(sparse)
        let perPair = Double(paired.entries) / Double(sparse.nonZeros) * 2
        #expect(perPair > 1 && perPair < 1.3, "a pair lists \(perPair)× one image's pixels")
    }

    @Test func usedOnlyWhereItBeatsTheGEMM() throws {
        let mnist = try MNIST.load(directory: bundledMNIST, trainLimit: 100, evalLimit: 1000)
        let pixels = SparseRows(mnist.validation.images)
        #expect(pixels.density > 0.1 && pixels.density < 0.25)            // MNIST: about 19 % non-zero
        #expect(pixels.beatsDense(outputs: 500))
        #expect(!pixels.beatsDense(outputs: 16))                            // a 128-wide panel for 16 outputs
        #expect(mnist.validation.compressedForScoring(Architecture()).sparseImages != nil)

        let dense = randomBatch(rows: 50, inputs: 784, classes: 10, seed: 3)
        #expect(!SparseRows(dense.all.images).beatsDense(outputs: 500))
        #expect(dense.all.compressedForScoring(Architecture()).sparseImages == nil)
    }
}

@Suite struct EvaluatorTests {
    /// The same confusion matrix from the dense GEMM on one thread and the sparse product on three.
    @Test(arguments: [Activation.tanh, .relu])
    func sparseAndThreadedScoringAgreeWithDense(activation: Activation) throws {
        let mnist = try MNIST.load(directory: bundledMNIST, trainLimit: 100, evalLimit: 2500)
        let architecture = Architecture(hiddenSizes: [300, 40], activation: activation)
        let p = randomParameters(architecture, seed: 5)
        for i in 0..<p.layout.count { p.storage.base[i] *= 0.1 }   // so that tanh does not saturate

        let dense = Evaluator(architecture, chunk: 768).confusionMatrix(p, on: mnist.validation)
        let scored = mnist.validation.compressedForScoring(architecture)
        #expect(scored.sparseImages != nil)
        let threaded = Evaluator(architecture, chunk: 512, threads: 3)
        let sparse = threaded.confusionMatrix(p, on: scored)

        #expect(sparse == dense)
        #expect(dense.joined().reduce(0, +) == 2500)
        #expect(dense.filter { $0.reduce(0, +) > 0 }.count == 10)
        #expect(Set(dense.indices.map { d in dense.map { $0[d] }.reduce(0, +) }).count > 3)   // many digits predicted
        #expect(threaded.errors(p, on: scored) == 2500 - dense.indices.reduce(0) { $0 + dense[$1][$1] })
    }
}

@Suite struct NarrowOutputTests {
    /// The logits kernel against sgemm: odd row counts (a last row alone), inputs with and without a
    /// remainder past the last 16, and fewer outputs than its 10 sums.
    @Test(arguments: [(1, 500, 10), (257, 500, 10), (6, 33, 3), (5, 16, 1), (4, 7, 10)])
    func productEqualsTheGEMM(rows: Int, inputs: Int, outputs: Int) {
        var random = FixtureRandom(state: UInt64(rows * 1000 + inputs))
        let h = FloatStorage(count: rows * inputs), w = FloatStorage(count: inputs * outputs)
        for i in 0..<h.count { h.base[i] = random.uniform(-1, 1) }
        for i in 0..<w.count { w.base[i] = random.uniform(-1, 1) }
        let (hm, wm) = (Matrix(h.base, rows: rows, columns: inputs), Matrix(w.base, rows: inputs, columns: outputs))
        let expected = FloatStorage(count: rows * outputs), got = FloatStorage(count: rows * outputs)
        BLAS.gemm(hm, wm, into: Matrix(expected.base, rows: rows, columns: outputs))
        got.base.update(repeating: .nan, count: got.count)

        let kernel = NarrowOutput(inputs: inputs, outputs: outputs)
        kernel.pack(wm)
        kernel.multiply(hm, into: Matrix(got.base, rows: rows, columns: outputs))
        for i in 0..<rows * outputs {
            #expect(abs(got.base[i] - expected.base[i]) <= 1e-5 * max(1, abs(expected.base[i])), "entry \(i): \(got.base[i]) against \(expected.base[i])")
        }
    }
}
