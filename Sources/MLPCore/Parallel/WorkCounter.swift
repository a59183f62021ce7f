// Work handed out as it is asked for: counters that rank 0 of a communicator keeps and hands out,
// 0, 1, 2, ... in the order the requests arrive. Another rank asks with a message and waits for
// the answer; rank 0 answers whenever it calls `serve` (between its own training steps, and while
// it waits for the others). `mlp sweep`'s groups draw configurations this way, so a group that
// finishes early takes the next one instead of waiting for a fixed share. (Messages rather than
// MPI one-sided atomics: Open MPI 4.1 finds no one-sided component for windows that span hosts
// over TCP, and its software fallback would wait on rank 0's progress anyway.)

public final class WorkCounter {
    private let world: Communicator
    private var counters: [Int64]
    private static let requestTag: Int32 = 7301, answerTag: Int32 = 7302

    /// `slots` counters, all at 0. Not collective: each rank makes its own.
    public init(_ world: Communicator, slots: Int) {
        self.world = world
        counters = [Int64](repeating: 0, count: slots)
    }

    /// The counter's value before adding one, across all callers.
    public func next(slot: Int) throws -> Int {
        guard !world.isRoot else { return take(slot) }
        try world.send([Int64(slot)], to: 0, tag: Self.requestTag)
        return Int(try world.receive(1, from: 0, tag: Self.answerTag).values[0])
    }

    /// Rank 0: answers every request waiting (none: returns at once).
    public func serve() throws {
        guard world.isRoot else { return }
        while let from = try world.probe(tag: Self.requestTag) {
            let request = try world.receive(1, from: from, tag: Self.requestTag)
            try world.send([Int64(take(Int(request.values[0])))], to: from, tag: Self.answerTag)
        }
    }

    private func take(_ slot: Int) -> Int {
        defer { counters[slot] += 1 }
        return Int(counters[slot])
    }
}
