import Foundation
import MLPCore
import Testing

@Suite struct ActivationTests {
    /// The vectorised kernels against the exact function, over a dense grid and the far tails.
    @Test(arguments: Activation.allCases)
    func kernelsMatchTheExactFunction(_ activation: Activation) {
        let exact: (Double) -> Double = switch activation {
        case .tanh: { Foundation.tanh($0) }
        case .sigmoid: { 1 / (1 + Foundation.exp(-$0)) }
        case .relu: { max($0, 0) }
        }
        var worst = 0.0
        for i in -200_000...200_000 {
            let x = Float(i) / 10_000  // −20 ... 20
            worst = max(worst, relativeDifference(Double(activation(x)), exact(Double(x)), floor: 1e-30))
        }
        // Stated tolerance: 4e-7 relative (a few Float32 ulp) everywhere, near 0 too, where
        // tanh's e^{2x} − 1 must not cancel.
        #expect(worst < 4e-7, "worst relative error \(worst)")
        #expect(activation(Float.nan).isNaN || activation == .relu)
    }

    @Test func initialisationBounds() {
        #expect(abs(Activation.tanh.initBound(fanIn: 784, fanOut: 500) - (6.0 / 1284).squareRoot()) < 1e-15)
        #expect(abs(Activation.sigmoid.initBound(fanIn: 784, fanOut: 500) - 4 * (6.0 / 1284).squareRoot()) < 1e-15)
        #expect(abs(Activation.relu.initBound(fanIn: 784, fanOut: 500) - (6.0 / 784).squareRoot()) < 1e-15)
    }

    @Test(arguments: Activation.allCases)
    func derivativeFromTheActivation(_ activation: Activation) {
        var z: [Float] = [-2, -0.5, 0.3, 1.7], bias: [Float] = [0, 0, 0, 0], delta: [Float] = [1, 1, 1, 1]
        z.withUnsafeMutableBufferPointer { zp in
            activation.addBiasAndActivate(Matrix(zp.baseAddress!, rows: 1, columns: 4), bias: bias)
            delta.withUnsafeMutableBufferPointer { dp in
                activation.multiplyByDerivative(Matrix(dp.baseAddress!, rows: 1, columns: 4), activations: Matrix(zp.baseAddress!, rows: 1, columns: 4))
            }
        }
        let inputs: [Double] = [-2, -0.5, 0.3, 1.7]
        for (x, d) in zip(inputs, delta) {
            let expected: Double = switch activation {
            case .tanh: 1 - pow(Foundation.tanh(x), 2)
            case .sigmoid: (1 / (1 + Foundation.exp(-x))) * (1 - 1 / (1 + Foundation.exp(-x)))
            case .relu: x > 0 ? 1 : 0
            }
            #expect(abs(Double(d) - expected) < 1e-6)
        }
    }
}
