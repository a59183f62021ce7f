// The multilayer perceptron: forward and backward passes side by side, as matrix products over
// whole minibatches (rows = samples). Dimension letters used across the project:
//   B  global minibatch            b  this rank's shard of it (B split over P ranks)
//   P  ranks                       L  weight layers (hidden layers + softmax layer)
//   n_l  width of layer l's output (n_0 = 784 inputs, n_L = 10 classes), H = n_1 for one hidden layer

public struct MLP {
    public let architecture: Architecture
    public var layerCount: Int { architecture.layerCount }

    public init(_ architecture: Architecture) { self.architecture = architecture }

    /// Forward pass. `input` is (n, 784); `activations[l]` receives layer l's output (n, n_{l+1}):
    /// f(a · W_l + b_l) for hidden layers, the logits a · W_L + b_L for the last. With
    /// `firstProductGiven`, activations[0] already holds input · W_0 (the scoring pass computes it
    /// from the images' non-zeros). With `narrowOutput` (packed from W_L), the logits' product is
    /// its kernel's instead of a GEMM.
    public func forward(_ input: Matrix, _ p: ParameterSet, activations: [Matrix], firstProductGiven: Bool = false,
                        narrowOutput: NarrowOutput? = nil) {
        var a = input
        for l in 0..<layerCount {
            let z = activations[l]
            if l == layerCount - 1, l > 0, let narrowOutput {
                narrowOutput.multiply(a, into: z)
            } else if l > 0 || !firstProductGiven {
                BLAS.gemm(a, p.weight(l), into: z)                       // (n, n_in) · (n_in, n_out)
            }
            if l < layerCount - 1 {
                architecture.activation.addBiasAndActivate(z, bias: p.bias(l))
            } else {
                addBias(z, p.bias(l))
            }
            a = z
        }
    }

    /// Backward pass through the hidden layers, given the output delta in `deltas[L-1]`:
    /// deltas[l] = (deltas[l+1] · W_{l+1}ᵀ) ⊙ f'(activations[l]). Uses the weights before any update.
    public func backpropagate(_ p: ParameterSet, activations: [Matrix], deltas: [Matrix]) {
        for l in stride(from: layerCount - 2, through: 0, by: -1) {
            backpropagate(to: l, p, activations: activations, deltas: deltas)
        }
    }

    /// One layer of it: deltas[l] from deltas[l+1].
    public func backpropagate(to l: Int, _ p: ParameterSet, activations: [Matrix], deltas: [Matrix]) {
        BLAS.gemm(deltas[l + 1], p.weight(l + 1), into: deltas[l], transposeB: true)    // (n, n_{l+2}) · (n_{l+2}, n_{l+1})
        architecture.activation.multiplyByDerivative(deltas[l], activations: activations[l])
    }

    /// Layer l's gradient of the summed loss over the rows of `input`/`delta`:
    /// G_W = inputᵀ · delta (n_in, n_out), G_b = column sums of delta (n_out).
    public func gradient(layer l: Int, input: Matrix, delta: Matrix, into g: ParameterSet, ones: UnsafePointer<Float>) {
        BLAS.gemm(input, delta, into: g.weight(l), transposeA: true)
        BLAS.addColumnSums(of: delta, into: g.bias(l), alpha: 1, beta: 0, ones: ones)
    }

    private func addBias(_ z: Matrix, _ bias: UnsafePointer<Float>) {
        for r in 0..<z.rows {
            let row = z.row(r)
            for j in 0..<z.columns { row[j] += bias[j] }
        }
    }
}
