// The ranks of a job and the MPI calls the trainer makes, over an MPI communicator: the world, or a
// group split from it (`mlp sweep` trains one configuration per group). The only importer of
// CMPIShim: every MPI call goes through here, and a C failure becomes a CommunicationError naming
// the function. A run without mpirun is an MPI singleton of one rank, the same code path.
import CMPIShim
import Glibc

public final class Communicator {
    public let rank: Int
    public let size: Int
    public let nodeSize: Int
    public let processorName: String
    public var isRoot: Bool { rank == 0 }
    /// The MPI communicator (Open MPI's MPI_Comm is a pointer).
    let comm: UnsafeMutableRawPointer?
    private var nodeComm: UnsafeMutableRawPointer?
    /// The node allgathers made over this communicator, freed with it.
    var nodeAllgathers: [NodeAllgather] = []

    /// MPI_COMM_WORLD, initialised once per process on first use, whichever thread asks first
    /// (Swift runs a static's initialiser exactly once). Serialized: any thread may call MPI, one at
    /// a time; the trainer calls it from one thread, and tests that use MPI run one after another.
    public static func world() throws -> Communicator { try initialized.get() }

    nonisolated(unsafe) private static let initialized = Result { try Communicator.initialize() }

    private static func initialize() throws -> Communicator {
        var provided: Int32 = 0
        try check(CMPIShim_init_thread(CMPIShim_thread_serialized(), &provided), "MPI_Init_thread")
        return try Communicator(comm: CMPIShim_comm_world())
    }

    private init(comm: UnsafeMutableRawPointer?) throws {
        // Errors come back as codes that become CommunicationError, instead of killing the job silently.
        try Self.check(CMPIShim_set_errors_return(comm), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0, size: Int32 = 0, nodeSize: Int32 = 0
        try Self.check(CMPIShim_comm_rank(comm, &rank), "MPI_Comm_rank")
        try Self.check(CMPIShim_comm_size(comm, &size), "MPI_Comm_size")
        var node: UnsafeMutableRawPointer?
        try Self.check(CMPIShim_comm_split_node(comm, &node), "MPI_Comm_split_type")
        try Self.check(CMPIShim_comm_size(node, &nodeSize), "MPI_Comm_size")
        var name = [CChar](repeating: 0, count: Int(CMPIShim_max_processor_name()) + 1)
        var length: Int32 = 0
        try Self.check(CMPIShim_processor_name(&name, &length), "MPI_Get_processor_name")
        self.comm = comm
        self.nodeComm = node
        self.rank = Int(rank)
        self.size = Int(size)
        self.nodeSize = Int(nodeSize)
        self.processorName = String(decoding: name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The ranks of this communicator with the same `color`, ordered by `key` (collective: every
    /// rank calls it). The group's own collectives do not involve the other ranks.
    public func split(color: Int, key: Int) throws -> Communicator {
        var part: UnsafeMutableRawPointer?
        try Self.check(CMPIShim_comm_split(comm, Int32(color), Int32(key), &part), "MPI_Comm_split")
        return try Communicator(comm: part)
    }

    /// A communicator of the same ranks, to `release` when done (collective): each of a sweep's
    /// trainings runs on its own, so that nothing of one is left for the next.
    public func duplicate() throws -> Communicator { try split(color: 0, key: rank) }

    /// Frees the communicator (collective over its ranks; not for the world, which `finalize` ends).
    public func release() throws {
        try freeNodeAllgathers()
        try Self.check(CMPIShim_comm_free(&nodeComm), "MPI_Comm_free")
        var mine = comm
        try Self.check(CMPIShim_comm_free(&mine), "MPI_Comm_free")
    }

    /// The MPI library's version, e.g. "Open MPI v4.1.4" (the first part of its version line).
    public static func libraryVersion() -> String {
        var text = [CChar](repeating: 0, count: Int(CMPIShim_max_library_version_string()) + 1)
        var length: Int32 = 0
        guard CMPIShim_library_version(&text, &length) == CMPIShim_success() else { return "MPI (version unknown)" }
        let line = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return line.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? line
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) throws {
        try Self.check(CMPIShim_allreduce_sum_float(comm, buffer, Int32(count)), "MPI_Allreduce")
    }

    public func allreduceSum(_ values: inout [Int64]) throws {
        let count = Int32(values.count)
        try Self.check(values.withUnsafeMutableBufferPointer { CMPIShim_allreduce_sum_int64(comm, $0.baseAddress, count) }, "MPI_Allreduce")
    }

    public func allreduceMax(_ values: inout [Int64]) throws {
        let count = Int32(values.count)
        try Self.check(values.withUnsafeMutableBufferPointer { CMPIShim_allreduce_max_int64(comm, $0.baseAddress, count) }, "MPI_Allreduce")
    }

    public func allgather(_ value: Int64) throws -> [Int64] {
        var all = [Int64](repeating: 0, count: size)
        var mine = value
        try Self.check(all.withUnsafeMutableBufferPointer { CMPIShim_allgather_int64(comm, &mine, $0.baseAddress) }, "MPI_Allgather")
        return all
    }

    public func allgather(_ buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>) throws {
        try Self.check(CMPIShim_allgatherv_float(comm, buffer, counts, displacements), "MPI_Allgatherv")
    }

    public func startAllgather(_ buffer: UnsafeMutablePointer<Float>, counts: UnsafePointer<Int32>, displacements: UnsafePointer<Int32>,
                               request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws {
        try Self.check(CMPIShim_iallgatherv_float(comm, buffer, counts, displacements, request), "MPI_Iallgatherv")
    }

    public func startAllgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>,
                               request: UnsafeMutablePointer<UnsafeMutableRawPointer?>) throws {
        try Self.check(CMPIShim_iallgather_float(comm, send, Int32(count), receive, request), "MPI_Iallgather")
    }

    /// When the last `waitAll` began and ended (a trace draws the wait inside the exchange).
    public internal(set) var lastWait = (start: 0.0, end: 0.0)

    /// Polls (MPI_Test) for `Tuning.spinSeconds`, then yields between polls, then naps: a rank that
    /// waits long (a core shared with another process, more ranks than cores) lets whoever needs
    /// the core run without losing its own turn, while the short waits of a normal step cost no
    /// more than a spin.
    public func waitAll(_ requests: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int) throws {
        guard count > 0 else { return }
        let start = CMPIShim_wtime()
        defer { lastWait = (start, CMPIShim_wtime()) }
        var watch = SignalWatch()
        for i in 0..<count {
            var done: Int32 = 0
            while true {
                try Self.check(CMPIShim_test(requests + i, &done), "MPI_Test")
                if done != 0 { break }
                let now = CMPIShim_wtime()
                if now - start > Tuning.spinSeconds {
                    try watch.check(now)
                    if now - start < Tuning.yieldSeconds { sched_yield() } else { usleep(Tuning.napMicroseconds) }
                }
            }
        }
    }

    public func broadcast(_ bytes: inout [UInt8], from root: Int) throws {
        var length = [Int64(bytes.count)]
        try Self.check(length.withUnsafeMutableBytes { CMPIShim_bcast_bytes(comm, $0.baseAddress, 8, Int32(root)) }, "MPI_Bcast")
        if rank != root { bytes = [UInt8](repeating: 0, count: Int(length[0])) }
        var offset = 0
        // MPI counts are 32-bit: send large payloads in pieces.
        while offset < bytes.count {
            let piece = min(bytes.count - offset, Tuning.broadcastPieceBytes)
            try Self.check(bytes.withUnsafeMutableBytes { CMPIShim_bcast_bytes(comm, $0.baseAddress! + offset, Int32(piece), Int32(root)) }, "MPI_Bcast")
            offset += piece
        }
    }

    public func barrier() throws { try Self.check(CMPIShim_barrier(comm), "MPI_Barrier") }

    /// Waits for every rank without spinning: for ranks that idle while rank 0 validates, so that
    /// rank 0 can use the whole node. Sleeps `firstNap` seconds, then checks every
    /// `Tuning.validationPollMicroseconds`, calling `waiting` (if given) between checks.
    /// `abandonOnSignal`: give up as `waitAll` does (rank 0, whom the others are already waiting for).
    public func barrierSleeping(firstNap: Double, abandonOnSignal: Bool = false, waiting: (() -> Void)? = nil) throws {
        var request: UnsafeMutableRawPointer?
        try Self.check(CMPIShim_ibarrier(comm, &request), "MPI_Ibarrier")
        var done: Int32 = 0
        if firstNap > 0 { usleep(UInt32(min(firstNap, Tuning.longestNapSeconds) * 1e6)) }
        var watch = SignalWatch()
        while true {
            try Self.check(CMPIShim_test(&request, &done), "MPI_Test")
            if done != 0 { return }
            if abandonOnSignal { try watch.check(CMPIShim_wtime()) }
            waiting?()
            usleep(Tuning.validationPollMicroseconds)
        }
    }

    /// Sends `values` to rank `destination` with `tag` (the work queue's few messages).
    public func send(_ values: [Int64], to destination: Int, tag: Int32) throws {
        var values = values
        try Self.check(values.withUnsafeMutableBufferPointer { CMPIShim_send_int64(comm, $0.baseAddress, Int32($0.count), Int32(destination), tag) }, "MPI_Send")
    }

    /// Receives `count` values with `tag` from `source` (nil: any rank); returns them and the sender.
    public func receive(_ count: Int, from source: Int?, tag: Int32) throws -> (values: [Int64], from: Int) {
        var values = [Int64](repeating: 0, count: count), from: Int32 = 0
        let rank = source.map { Int32($0) } ?? CMPIShim_any_source()
        try Self.check(values.withUnsafeMutableBufferPointer { CMPIShim_recv_int64(comm, $0.baseAddress, Int32(count), rank, tag, &from) }, "MPI_Recv")
        return (values, Int(from))
    }

    /// Receives as `receive` does, but polls until the message is there, giving up as `waitAll` does.
    public func receivePolling(_ count: Int, from source: Int, tag: Int32) throws -> [Int64] {
        var waiting: Int32 = 0, from: Int32 = 0, watch = SignalWatch()
        while true {
            try Self.check(CMPIShim_iprobe(comm, Int32(source), tag, &waiting, &from), "MPI_Iprobe")
            if waiting != 0 { return try receive(count, from: source, tag: tag).values }
            try watch.check(CMPIShim_wtime())
            usleep(Tuning.napMicroseconds)
        }
    }

    /// The rank whose message with `tag` is waiting, if one is (does not wait).
    public func probe(tag: Int32) throws -> Int? {
        var waiting: Int32 = 0, from: Int32 = 0
        try Self.check(CMPIShim_iprobe(comm, CMPIShim_any_source(), tag, &waiting, &from), "MPI_Iprobe")
        return waiting != 0 ? Int(from) : nil
    }

    /// Seconds on a monotonic clock.
    public func wallTime() -> Double { CMPIShim_wtime() }

    public func abort(exitCode: Int32) -> Never {
        _ = CMPIShim_abort(exitCode)
        fatalError("MPI_Abort returned")
    }

    public func finalize() {
        var finalized: Int32 = 0
        _ = CMPIShim_finalized(&finalized)
        guard finalized == 0 else { return }
        try? freeNodeAllgathers()
        _ = CMPIShim_finalize()
    }

    static func check(_ code: Int32, _ function: String) throws {
        guard code != CMPIShim_success() else { return }
        var text = [CChar](repeating: 0, count: Int(CMPIShim_max_error_string()) + 1)
        var length: Int32 = 0
        _ = CMPIShim_error_string(code, &text, &length)
        throw CommunicationError(function: function, code: code,
                                 text: String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
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

/// Within one wait: throws AbandonedWait once a SIGTERM or SIGINT has been pending for
/// `Tuning.abandonWaitSeconds` of it.
struct SignalWatch {
    private var seen: Double?

    mutating func check(_ now: Double) throws {
        let signal = StopSignal.pending
        guard signal == SIGTERM || signal == SIGINT else { return }
        if let seen, now - seen > Tuning.abandonWaitSeconds { throw AbandonedWait(signal: signal, seconds: Tuning.abandonWaitSeconds) }
        if seen == nil { seen = now }
    }
}
