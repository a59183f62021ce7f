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

    /// Publishes this rank's `count` floats from `part` as the next generation (does not wait).
    func publish(_ part: UnsafePointer<Float>, count: Int) {
        precondition(count <= slotFloats, "a part larger than the node exchange's slot")
        CMPIShim_node_exchange_publish(handle, part, Int64(count * 4))
    }

    /// Waits for every other rank's part of this generation and copies it to `buffer + displacement`:
    /// spins, yields, then sleeps until woken (Tuning.nodeSpinSeconds, nodeYieldSeconds), waking
    /// every `Tuning.sleepCheckSeconds` to give up as `Communicator.waitAll` does on a SIGTERM.
    func collect(into buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>) throws {
        let start = CMPIShim_wtime()
        defer { world.lastWait = (start, CMPIShim_wtime()) }
        var watch = SignalWatch()
        let spin = Int64(Tuning.nodeSpinSeconds * 1e9), yield = Int64(Tuning.nodeYieldSeconds * 1e9)
        let check = Int64(Tuning.sleepCheckSeconds * 1e9)
        for r in 0..<world.size where r != world.rank {
            while CMPIShim_node_exchange_wait(handle, Int32(r), spin, yield, check) == 0 {
                try watch.check(CMPIShim_wtime())
            }
            let source = CMPIShim_node_exchange_slot(handle, Int32(r))!.assumingMemoryBound(to: Float.self)
            (buffer + Int(displacements[r])).update(from: source, count: Int(counts[r]))
        }
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

    func freeNodeAllgathers() throws {
        for exchange in nodeAllgathers { try exchange.free() }
        nodeAllgathers.removeAll()
    }
}
