// The step's control block: four floats after the gradients in their buffer, summed across ranks in
// the step's exchange, so that every rank learns the same facts at the same iteration and leaves
// (or goes on) together. No extra message, and no rank can miss it.

public struct ControlBlock {
    public static let count = 4
    let base: UnsafeMutablePointer<Float>

    /// The block at `base` (`count` floats).
    init(_ base: UnsafeMutablePointer<Float>) { self.base = base }

    /// Before the exchange, this rank's facts; after it, their sums over the ranks (a flag is set
    /// when any rank set it).
    var stop: Bool {                // rank 0: early stopping says stop; leave before this update
        get { base[0] > 0 }
        nonmutating set { base[0] = newValue ? 1 : 0 }
    }
    var signal: Bool {              // any rank: SIGTERM or SIGINT arrived
        get { base[1] > 0 }
        nonmutating set { base[1] = newValue ? 1 : 0 }
    }
    var error: Bool {               // any rank: failed; everyone leaves, the failing rank reports
        get { base[2] > 0 }
        nonmutating set { base[2] = newValue ? 1 : 0 }
    }
    var loss: Double {              // Σ NLL over the rank's shard; after the exchange, the minibatch's
        get { Double(base[3]) }
        nonmutating set { base[3] = Float(newValue) }
    }
}
