// The Communicator over an MPI communicator: the world, or a group split from it (`mlp sweep` trains
// one configuration per group). With WorkCounter, the only importer of CMPIShim. A run without
// mpirun is an MPI singleton of one rank, the same code path. C failures become CommunicationError.
import CMPIShim
import Glibc

public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let nodeSize: Int
    public let processorName: String
    /// The MPI communicator (Open MPI's MPI_Comm is a pointer).
    let comm: UnsafeMutableRawPointer?
    private var nodeComm: UnsafeMutableRawPointer?
    private var windows: [UnsafeMutableRawPointer?] = []

    /// MPI_COMM_WORLD, initialised once per process on first use, whichever thread asks first
    /// (Swift runs a static's initialiser exactly once). Serialized: any thread may call MPI, one at
    /// a time; the trainer calls it from one thread, and tests that use MPI run one after another.
    public static func world() throws -> MPICommunicator { try initialized.get() }

    nonisolated(unsafe) private static let initialized = Result { try MPICommunicator.initialize() }

    private static func initialize() throws -> MPICommunicator {
        var provided: Int32 = 0
        try check(CMPIShim_init_thread(CMPIShim_thread_serialized(), &provided), "MPI_Init_thread")
        return try MPICommunicator(comm: CMPIShim_comm_world())
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
    public func split(color: Int, key: Int) throws -> MPICommunicator {
        var part: UnsafeMutableRawPointer?
        try Self.check(CMPIShim_comm_split(comm, Int32(color), Int32(key), &part), "MPI_Comm_split")
        return try MPICommunicator(comm: part)
    }

    /// A communicator of the same ranks with its own node-shared memory, to `release` when done
    /// (collective). Each of a sweep's trainings runs on one, so their windows do not pile up.
    public func duplicate() throws -> MPICommunicator { try split(color: 0, key: rank) }

    /// Frees this communicator's node-shared memory and the communicator itself (collective over its
    /// ranks; not for the world, which `finalize` ends).
    public func release() throws {
        for var window in windows {
            try Self.check(CMPIShim_win_unlock_all(window), "MPI_Win_unlock_all")
            try Self.check(CMPIShim_win_free(&window), "MPI_Win_free")
        }
        windows = []
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

    /// Polls (MPI_Test) for `Tuning.spinSeconds`, then naps between polls: a rank that waits long
    /// (a core shared with another process, more ranks than cores) gives its core to whoever needs
    /// it, while the short waits of a normal step cost no more than a spin.
    public func waitAll(_ requests: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int) throws {
        guard count > 0 else { return }
        let start = CMPIShim_wtime()
        for i in 0..<count {
            var done: Int32 = 0
            while true {
                try Self.check(CMPIShim_test(requests + i, &done), "MPI_Test")
                if done != 0 { break }
                if CMPIShim_wtime() - start > Tuning.spinSeconds { usleep(Tuning.napMicroseconds) }
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
            let piece = min(bytes.count - offset, 1 << 30)
            try Self.check(bytes.withUnsafeMutableBytes { CMPIShim_bcast_bytes(comm, $0.baseAddress! + offset, Int32(piece), Int32(root)) }, "MPI_Bcast")
            offset += piece
        }
    }

    public func barrier() throws { try Self.check(CMPIShim_barrier(comm), "MPI_Barrier") }

    public func reduceScatterSum(_ send: UnsafePointer<Float>, into receive: UnsafeMutablePointer<Float>, counts: [Int32]) throws {
        try Self.check(CMPIShim_reduce_scatter_sum_float(comm, send, receive, counts), "MPI_Reduce_scatter")
    }

    public func barrierSleeping(firstNap: Double, waiting: (() -> Void)?) throws {
        var request: UnsafeMutableRawPointer?
        try Self.check(CMPIShim_ibarrier(comm, &request), "MPI_Ibarrier")
        var done: Int32 = 0
        if firstNap > 0 { usleep(UInt32(min(firstNap, 10) * 1e6)) }
        while true {
            try Self.check(CMPIShim_test(&request, &done), "MPI_Test")
            if done != 0 { return }
            waiting?()
            usleep(Tuning.validationPollMicroseconds)
        }
    }

    public func allocateNodeShared(floats count: Int) throws -> UnsafeMutablePointer<Float> {
        var nodeRank: Int32 = 0
        try Self.check(CMPIShim_comm_rank(nodeComm, &nodeRank), "MPI_Comm_rank")
        // The node's first rank allocates it all; the others map the same pages.
        var window: UnsafeMutableRawPointer?, mine: UnsafeMutableRawPointer?, base: UnsafeMutableRawPointer?
        let bytes = nodeRank == 0 ? max(count, 1) * MemoryLayout<Float>.stride : 0
        try Self.check(CMPIShim_win_allocate_shared(bytes, nodeComm, &mine, &window), "MPI_Win_allocate_shared")
        try Self.check(CMPIShim_win_shared_query(window, 0, &base), "MPI_Win_shared_query")
        try Self.check(CMPIShim_win_lock_all(window), "MPI_Win_lock_all")
        windows.append(window)
        return base!.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    public func fenceNodeShared() throws {
        // MPI's unified memory model: sync (memory barrier), barrier (everyone has written), sync.
        for window in windows { try Self.check(CMPIShim_win_sync(window), "MPI_Win_sync") }
        try barrier()
        for window in windows { try Self.check(CMPIShim_win_sync(window), "MPI_Win_sync") }
    }

    public func wallTime() -> Double { CMPIShim_wtime() }

    public func abort(exitCode: Int32) -> Never {
        _ = CMPIShim_abort(exitCode)
        fatalError("MPI_Abort returned")
    }

    public func finalize() {
        var finalized: Int32 = 0
        _ = CMPIShim_finalized(&finalized)
        guard finalized == 0 else { return }
        for var window in windows {
            _ = CMPIShim_win_unlock_all(window)
            _ = CMPIShim_win_free(&window)
        }
        windows = []
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
