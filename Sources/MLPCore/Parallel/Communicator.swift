// The ranks of a job and the collectives the trainer needs, as a protocol (MPICommunicator is the
// real one), and the agreement every rank reaches after a step where some may have failed.
import Glibc

public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Ranks sharing this rank's node (they share its cores).
    var nodeSize: Int { get }
    var processorName: String { get }
    var isRoot: Bool { get }

    /// Element-wise sum over all ranks, in place.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws
    func allreduceSum(_ values: inout [Int64]) throws
    func allreduceMax(_ values: inout [Int64]) throws
    /// Every rank's value, in rank order.
    func allgather(_ value: Int64) throws -> [Int64]
    /// In place: rank r's `counts[r]` floats sit at `displacements[r]`; afterwards every rank has all.
    func allgather(_ buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>) throws
    /// The allgather without waiting; `request` receives a handle for `waitAll`. The buffer (and
    /// counts) must stay untouched until then.
    func startAllgather(_ buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>,
                        request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws
    /// Every rank's `count` floats from `send`, in rank order into `receive` (count × size floats),
    /// without waiting; `request` receives a handle for `waitAll`.
    func startAllgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                        request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws
    /// Waits for `count` started collectives.
    func waitAll(_ requests: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int) throws
    /// Sums `send` (every rank's whole buffer) across ranks and leaves rank r the r-th block of the
    /// sum (`counts[r]` floats, blocks in rank order) in `receive`.
    func reduceScatterSum(_ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>, counts: [Int32]) throws
    /// Waits for every rank without spinning: for ranks that idle while rank 0 validates, so that
    /// rank 0 can use the whole node. Sleeps `firstNap` seconds, then checks every 100 µs, calling
    /// `waiting` (if given) between checks.
    func barrierSleeping(firstNap: Double, waiting: (() -> Void)?) throws
    /// Root's bytes to every rank; the others' arrays are resized to fit.
    func broadcast(_ bytes: inout [UInt8], from root: Int) throws
    func barrier() throws
    /// Seconds on a monotonic clock.
    func wallTime() -> Double
    /// `count` floats in memory shared by every rank of this node (rank order on the node decides
    /// nothing: all see the same bytes). Lives until `finalize`.
    func allocateNodeShared(floats count: Int) throws -> UnsafeMutablePointer<Float>
    /// Makes every rank's writes to node-shared memory visible to all, and waits for all ranks.
    func fenceNodeShared() throws
    /// Ends every rank of the job now. For failures that cannot be agreed on collectively.
    func abort(exitCode: Int32) -> Never
    func finalize()
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }
    public func barrierSleeping(firstNap: Double) throws { try barrierSleeping(firstNap: firstNap, waiting: nil) }
}

extension Communicator {
    /// Called by every rank after a point where some may have failed: the failing ranks throw their
    /// own error, the others a short note naming the lowest failing rank; when all failed, rank 0
    /// alone reports. Nobody is left waiting. Every rank exits with the failures' largest exit code.
    public func failTogether(_ failure: Error?) throws {
        let code = (failure as? UserFacingError)?.exitCode ?? 1
        var agreed = [Int64(failure != nil ? size - rank : 0), Int64(failure != nil ? code : 0)]
        var failed = [Int64(failure != nil ? 1 : 0)]
        try allreduceMax(&agreed)
        try allreduceSum(&failed)
        if let failure {
            if failed[0] == Int64(size) && rank != 0 { throw TrainingError.failedOnEveryRank(exitCode: Int32(agreed[1])) }
            throw failure
        }
        if agreed[0] > 0 { throw TrainingError.failedOnOtherRank(rank: size - Int(agreed[0]), exitCode: Int32(agreed[1])) }
    }

    /// The error a rank throws after an exchange whose control blocks name failed ranks: a failing
    /// rank its own, the others a note naming the lowest failing rank; when every rank failed,
    /// rank 0 alone reports. Every rank exits with the failures' largest exit status.
    public func failure(_ control: AgreedControl, own: Error?) -> Error {
        let failed = control.failedRanks
        if let own {
            return failed.count == size && rank != 0 ? TrainingError.failedOnEveryRank(exitCode: control.exitCode) : own
        }
        return TrainingError.failedOnOtherRank(rank: failed[0], exitCode: control.exitCode)
    }

    /// Runs `body` on this rank, then agrees with the others: all go on, or all fail.
    public func together<T>(_ body: () throws -> T) throws -> T {
        var result: T?
        var failure: Error?
        do { result = try body() } catch { failure = error }
        try failTogether(failure)
        return result!
    }
}
