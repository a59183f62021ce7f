// The softmax output and its negative log-likelihood: the delta that starts backpropagation,
// and the error count used by validation and test scoring.
import Foundation

public enum SoftmaxCrossEntropy {
    /// delta[i] = softmax(logits[i]) − onehot(label[i]), the gradient of the *summed* NLL with
    /// respect to the logits. Returns Σ_i −log softmax(logits[i])[label[i]].
    public static func delta(logits: Matrix, labels: UnsafePointer<Int32>, into delta: Matrix) -> Double {
        var loss = 0.0
        let k = logits.columns
        for i in 0..<logits.rows {
            let z = logits.row(i), d = delta.row(i)
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
            let y = Int(labels[i])
            loss += Double(Foundation.log(sum) + maximum - z[y])
            d[y] -= 1
        }
        return loss
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
