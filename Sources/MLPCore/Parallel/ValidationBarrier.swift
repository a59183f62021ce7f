// Where the other ranks wait while rank 0 validates: asleep, so that rank 0 may use the node's cores.

/// The barrier where the other ranks wait while rank 0 validates, sleeping instead of spinning.
/// Each wake-up takes a little of the core rank 0's second scoring thread runs on, so the wait
/// first sleeps most of the shortest wait so far in one go (Tuning.validationFirstNap).
public struct ValidationBarrier {
    private var shortestWait: Double?

    public init() {}

    public mutating func wait(_ world: Communicator) throws {
        let start = world.wallTime()
        try world.barrierSleeping(firstNap: Tuning.validationFirstNap * (shortestWait ?? 0))
        shortestWait = min(shortestWait ?? .infinity, world.wallTime() - start)
    }
}
