// Work handed out as it is asked for: counters held by rank 0 of a communicator, which any rank
// increments atomically without rank 0 taking part (MPI one-sided fetch-and-add, passive target;
// on one node Open MPI does it in shared memory). `mlp sweep`'s groups draw configurations this way,
// so a group that finishes early takes the next one instead of waiting for a fixed share.
import CMPIShim

public final class WorkCounter {
    private var window: UnsafeMutableRawPointer?
    private let slots: Int

    /// `slots` counters, all 0 (collective over `world`).
    public init(_ world: MPICommunicator, slots: Int) throws {
        self.slots = slots
        var base: UnsafeMutablePointer<Int64>?
        try MPICommunicator.check(CMPIShim_win_allocate_int64(world.comm, Int32(world.isRoot ? slots : 0), &base, &window), "MPI_Win_allocate")
        if world.isRoot { base!.initialize(repeating: 0, count: slots) }
        try world.barrier()   // zeroed before anyone draws
    }

    /// The counter's value before adding one: 0, 1, 2, ... across all callers.
    public func next(slot: Int) throws -> Int {
        precondition(slot < slots)
        var previous: Int64 = 0
        try MPICommunicator.check(CMPIShim_win_lock_shared(window, 0), "MPI_Win_lock")
        try MPICommunicator.check(CMPIShim_fetch_add_int64(window, 0, Int32(slot), 1, &previous), "MPI_Fetch_and_op")
        try MPICommunicator.check(CMPIShim_win_unlock(window, 0), "MPI_Win_unlock")
        return Int(previous)
    }

    /// Collective over the communicator it was made on.
    public func release() throws {
        try MPICommunicator.check(CMPIShim_win_free(&window), "MPI_Win_free")
    }
}
