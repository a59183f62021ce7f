// Work handed out as it is asked for: counters that rank 0 of a communicator keeps and hands out,
// 0, 1, 2, ... in the order the requests arrive. Another rank asks with a message and waits for
// the answer; rank 0 answers whenever it calls `serve` (between its own training steps, and while
// it waits for the others). `mlp sweep`'s groups draw configurations this way, so a group that
// finishes early takes the next one instead of waiting for a fixed share. (Messages rather than
// MPI one-sided atomics: Open MPI 4.1 finds no one-sided component for windows that span hosts
// over TCP, and its software fallback would wait on rank 0's progress anyway.)
import CMPIShim

public final class WorkCounter {
    private let world: MPICommunicator
    private var counters: [Int64]
    private static let requestTag: Int32 = 7301, answerTag: Int32 = 7302

    /// `slots` counters, all at 0. Not collective: each rank makes its own.
    public init(_ world: MPICommunicator, slots: Int) {
        self.world = world
        counters = [Int64](repeating: 0, count: slots)
    }

    /// The counter's value before adding one, across all callers.
    public func next(slot: Int) throws -> Int {
        guard !world.isRoot else { return take(slot) }
        var request = [Int64(slot)], answer = [Int64(0)]
        var from: Int32 = 0
        try MPICommunicator.check(CMPIShim_send_int64(world.comm, &request, 1, 0, Self.requestTag), "MPI_Send")
        try MPICommunicator.check(CMPIShim_recv_int64(world.comm, &answer, 1, 0, Self.answerTag, &from), "MPI_Recv")
        return Int(answer[0])
    }

    /// Rank 0: answers every request waiting (none: returns at once).
    public func serve() throws {
        guard world.isRoot else { return }
        while true {
            var waiting: Int32 = 0, from: Int32 = 0
            try MPICommunicator.check(CMPIShim_iprobe(world.comm, CMPIShim_any_source(), Self.requestTag, &waiting, &from), "MPI_Iprobe")
            guard waiting != 0 else { return }
            var request = [Int64(0)]
            try MPICommunicator.check(CMPIShim_recv_int64(world.comm, &request, 1, from, Self.requestTag, &from), "MPI_Recv")
            var answer = [Int64(take(Int(request[0])))]
            try MPICommunicator.check(CMPIShim_send_int64(world.comm, &answer, 1, from, Self.answerTag), "MPI_Send")
        }
    }

    private func take(_ slot: Int) -> Int {
        defer { counters[slot] += 1 }
        return Int(counters[slot])
    }
}
