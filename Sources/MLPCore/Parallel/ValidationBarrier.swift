// Where the other ranks wait while rank 0 validates: asleep, so that rank 0 may use the node's cores.

/// The barrier where the other ranks wait while rank 0 validates, sleeping instead of spinning:
/// on one node in the node exchange's sleeping wait (NodeAllgather.barrier); across nodes through
/// MPI, where each wake-up takes a little of the core rank 0's second scoring thread runs on, so the wait
/// first sleeps most of what rank 0's last validation pass took (it told every rank in the step's
/// control block), then checks every `Tuning.validationPollMicroseconds`. (Sleeping most of the
/// shortest earlier *wait* instead overslept: the first validation, which also pairs the images
/// and scores the test set, is the longest, and every later wait measured the oversleep.)
public struct ValidationBarrier {
    public init() {}

    /// Makes the node exchange the barrier sleeps in, at set-up (collective). Made lazily at the
    /// first validation instead, its making was itself a collective that Open MPI polls: a rank
    /// that reached it while rank 0 was still validating, or was descheduled, spun a whole core.
    public func prepare(_ world: Communicator) throws {
        _ = try world.nodeBarrier()
    }

    /// `expected`: seconds of rank 0's last validation pass (0: none yet).
    public func wait(_ world: Communicator, expected: Double) throws {
        // Rank 0 comes last, so a long wait there means a rank is gone: it gives up after a signal.
        // On one node the ranks sleep until rank 0 arrives and wakes them: no naps to size.
        if let node = try world.nodeBarrier() { return try node.barrier(abandonOnSignal: world.isRoot) }
        try world.barrierSleeping(firstNap: world.isRoot ? 0 : Tuning.validationFirstNap * expected, abandonOnSignal: world.isRoot)
    }
}
