// The step's allgather when every rank is on one node: through memory the ranks share, with a wait
// that sleeps until the awaited rank has published (CMPIShim/node_exchange.c). Open MPI's own
// shared-memory transport can only be polled, and a polling rank under load (a busy process beside
// the job, more ranks than cores) takes turns from the rank it waits for: docs/performance.md.
import CMPIShim

final class NodeAllgather {
    private var handle: UnsafeMutableRawPointer?
    private let world: Communicator
    private let slotFloats: Int

    /// Collective over `world`, whose ranks share one node; each rank publishes at most `slotFloats`.
    fileprivate init(_ world: Communicator, slotFloats: Int) throws {
        self.world = world
        self.slotFloats = slotFloats
        try Communicator.check(CMPIShim_node_exchange_create(world.comm, Int64(slotFloats * 4), &handle), "MPI_Win_allocate_shared")
    }

    /// Publishes this rank's `count` floats from `part`, then `extraCount` from `extra`, as the
    /// next generation (does not wait).
    func publish(_ part: UnsafePointer<Float>, count: Int, then extra: UnsafePointer<Float>? = nil, count extraCount: Int = 0) {
        precondition(count + extraCount <= slotFloats, "a part larger than the node exchange's slot")
        let slot = CMPIShim_node_exchange_next_slot(handle)!.assumingMemoryBound(to: Float.self)
        slot.update(from: part, count: count)
        if let extra { (slot + count).update(from: extra, count: extraCount) }
        CMPIShim_node_exchange_publish(handle)
    }

    /// Waits for `rank`'s part of this generation and returns it (valid until this rank's next
    /// `publish`): spins, yields, then sleeps until woken (Tuning.nodeSpinSeconds,
    /// nodeYieldSeconds), waking every `Tuning.sleepCheckSeconds` to give up as
    /// `Communicator.waitAll` does on a SIGTERM (unless `abandonOnSignal` is false).
    func part(of rank: Int, abandonOnSignal: Bool = true) throws -> UnsafePointer<Float> {
        let start = CMPIShim_wtime()
        defer { world.lastWait = (start, CMPIShim_wtime()) }
        var watch = SignalWatch()
        let spin = Int64(Tuning.nodeSpinSeconds * 1e9), yield = Int64(Tuning.nodeYieldSeconds * 1e9)
        let check = Int64(Tuning.sleepCheckSeconds * 1e9)
        while CMPIShim_node_exchange_wait(handle, Int32(rank), spin, yield, check) == 0 {
            if abandonOnSignal { try watch.check(CMPIShim_wtime()) }
        }
        return UnsafePointer(CMPIShim_node_exchange_slot(handle, Int32(rank))!.assumingMemoryBound(to: Float.self))
    }

    /// Every other rank's part of this generation, copied to `buffer + displacements[r]`.
    func collect(into buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>) throws {
        let start = CMPIShim_wtime()
        for r in 0..<world.size where r != world.rank {
            (buffer + Int(displacements[r])).update(from: try part(of: r), count: Int(counts[r]))
        }
        world.lastWait.start = start
    }

    /// Returns once every rank has called it: a barrier whose waiters sleep until the last rank
    /// arrives (no polling, so no wake-ups that take a core from the rank everyone waits for).
    func barrier(abandonOnSignal: Bool) throws {
        CMPIShim_node_exchange_publish(handle)
        for r in 0..<world.size where r != world.rank { _ = try part(of: r, abandonOnSignal: abandonOnSignal) }
    }

    fileprivate func free() throws {
        try Communicator.check(CMPIShim_node_exchange_free(&handle), "MPI_Win_free")
    }
}

extension Communicator {
    /// A node allgather over these ranks when they all share one node (and there are several),
    /// else nil: across nodes the step's exchange goes through MPI. Collective. Freed with the
    /// communicator (`release`, `finalize`).
    func nodeAllgather(slotFloats: Int) throws -> NodeAllgather? {
        guard size > 1 && nodeSize == size else { return nil }
        let exchange = try NodeAllgather(self, slotFloats: slotFloats)
        nodeAllgathers.append(exchange)
        return exchange
    }

    /// How a step's exchange travels, for the start block: through `node` when there is one.
    func transport(_ node: NodeAllgather?) -> String? { node != nil ? "shared memory" : size > 1 ? "MPI" : nil }

    func freeNodeAllgathers() throws {
        for exchange in nodeAllgathers { try exchange.free() }
        nodeAllgathers.removeAll()
    }
}
