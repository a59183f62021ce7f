// The softmax output and its negative log-likelihood: the delta that starts backpropagation,
// and the error count used by validation and test scoring.
import Foundation

public enum SoftmaxCrossEntropy {
    /// delta[i] = softmax(logits[i]) − onehot(label[i]), the gradient of the *summed* NLL with
    /// respect to the logits. Returns Σ_i −log softmax(logits[i])[label[i]].
    public static func delta(logits: Matrix, labels: UnsafePointer<Int32>, into delta: Matrix) -> Double {
        var loss = 0.0
        for i in 0..<logits.rows { loss += Double(row(logits.row(i), label: Int(labels[i]), into: delta.row(i), count: logits.columns)) }
        return loss
    }

    /// The same for each row, its NLL stored at `losses[i · lossStride]` (the data-parallel step
    /// gathers them, so that every rank sums the minibatch's loss in one order).
    public static func delta(logits: Matrix, labels: UnsafePointer<Int32>, into delta: Matrix,
                             losses: UnsafeMutablePointer<Float>, lossStride: Int) {
        for i in 0..<logits.rows {
            losses[i * lossStride] = row(logits.row(i), label: Int(labels[i]), into: delta.row(i), count: logits.columns)
        }
    }

    /// One row: d = softmax(z) − onehot(y); returns −log softmax(z)[y].
    @inline(__always)
    private static func row(_ z: UnsafePointer<Float>, label y: Int, into d: UnsafeMutablePointer<Float>, count k: Int) -> Float {
        var maximum = z[0]
        for j in 1..<k where z[j] > maximum { maximum = z[j] }
        var sum: Float = 0
        for j in 0..<k {
            let e = Foundation.exp(z[j] - maximum)
            d[j] = e
            sum += e
        }
        let inverse = 1 / sum
        for j in 0..<k { d[j] *= inverse }
        d[y] -= 1
        return Foundation.log(sum) + maximum - z[y]
    }

    /// The predicted class of each row: the first index of the largest logit.
    @inline(__always)
    public static func argmax(_ row: UnsafePointer<Float>, _ count: Int) -> Int {
        var best = 0
        for j in 1..<count where row[j] > row[best] { best = j }
        return best
    }

    /// softmax of one row of logits.
    public static func probabilities(_ row: UnsafePointer<Float>, _ count: Int) -> [Double] {
        let maximum = (0..<count).map { Double(row[$0]) }.max()!
        let exps = (0..<count).map { Foundation.exp(Double(row[$0]) - maximum) }
        let sum = exps.reduce(0, +)
        return exps.map { $0 / sum }
    }

    /// How many rows predict a class other than their label.
    public static func errors(logits: Matrix, labels: UnsafePointer<Int32>) -> Int {
        var wrong = 0
        for i in 0..<logits.rows where argmax(logits.row(i), logits.columns) != Int(labels[i]) { wrong += 1 }
        return wrong
    }
}
