// Where the other ranks wait while rank 0 validates: asleep, so that rank 0 may use the node's cores.

/// The barrier where the other ranks wait while rank 0 validates, sleeping instead of spinning:
/// on one node in the node exchange's sleeping wait (NodeAllgather.barrier); across nodes through
/// MPI, where each wake-up takes a little of the core rank 0's second scoring thread runs on, so the wait
/// first sleeps most of what rank 0's last validation pass took (it told every rank in the step's
/// control block), then checks every `Tuning.validationPollMicroseconds`. (Sleeping most of the
/// shortest earlier *wait* instead overslept: the first validation, which also pairs the images
/// and scores the test set, is the longest, and every later wait measured the oversleep.)
public struct ValidationBarrier {
    private let world: Communicator
    private let node: NodeAllgather?

    /// Collective. The node exchange is made here, where every rank arrives together: made at the
    /// first validation instead, its making (a collective Open MPI polls) was where the other ranks
    /// waited for rank 0, and one whose rank 0 was descheduled spun a whole core.
    public init(_ world: Communicator) throws {
        self.world = world
        node = try world.nodeAllgather(slotFloats: 0)
    }

    /// `expected`: seconds of rank 0's last validation pass (0: none yet).
    public func wait(expected: Double) throws {
        // Rank 0 comes last, so a long wait there means a rank is gone: it gives up after a signal.
        // On one node the ranks sleep until rank 0 arrives and wakes them: no naps to size.
        if let node { return try node.barrier(abandonOnSignal: world.isRoot) }
        try world.barrierSleeping(firstNap: world.isRoot ? 0 : Tuning.validationFirstNap * expected, abandonOnSignal: world.isRoot)
    }
}
