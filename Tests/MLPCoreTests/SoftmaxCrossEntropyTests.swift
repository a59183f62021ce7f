import Foundation
import MLPCore
import Testing

@Suite struct SoftmaxCrossEntropyTests {
    @Test func softmaxOfZeroAndLn2() {
        // softmax([0, ln 2]) = [1/3, 2/3]; with label 1, NLL = −log(2/3), delta = [1/3, −1/3].
        var logits: [Float] = [0, Float(log(2.0))], delta: [Float] = [0, 0], labels: [Int32] = [1]
        let loss = logits.withUnsafeMutableBufferPointer { z in delta.withUnsafeMutableBufferPointer { d in
            SoftmaxCrossEntropy.delta(logits: Matrix(z.baseAddress!, rows: 1, columns: 2), labels: labels,
                                      into: Matrix(d.baseAddress!, rows: 1, columns: 2))
        } }
        #expect(abs(loss + log(2.0 / 3.0)) < 1e-6)
        #expect(abs(delta[0] - 1.0 / 3.0) < 1e-6)
        #expect(abs(delta[1] + 1.0 / 3.0) < 1e-6)
    }

    @Test func largeLogitsDoNotOverflow() {
        var logits: [Float] = [1000, 0, -1000], delta: [Float] = [0, 0, 0], labels: [Int32] = [0]
        let loss = logits.withUnsafeMutableBufferPointer { z in delta.withUnsafeMutableBufferPointer { d in
            SoftmaxCrossEntropy.delta(logits: Matrix(z.baseAddress!, rows: 1, columns: 3), labels: labels,
                                      into: Matrix(d.baseAddress!, rows: 1, columns: 3))
        } }
        #expect(loss.isFinite && abs(loss) < 1e-6)
        #expect(delta == [0, 0, 0])
    }

    @Test func errorsCountArgmaxMisses() {
        var logits: [Float] = [0.1, 0.9, 0.8, 0.2, 0.5, 0.5]  // predictions 1, 0, 0 (ties: first)
        let labels: [Int32] = [1, 1, 0]
        let wrong = logits.withUnsafeMutableBufferPointer {
            SoftmaxCrossEntropy.errors(logits: Matrix($0.baseAddress!, rows: 3, columns: 2), labels: labels)
        }
        #expect(wrong == 1)
        let p = logits.withUnsafeMutableBufferPointer { SoftmaxCrossEntropy.probabilities($0.baseAddress!, 2) }
        #expect(abs(p[0] + p[1] - 1) < 1e-12 && p[1] > p[0])
    }
}
