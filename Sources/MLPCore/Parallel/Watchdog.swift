// Ends this rank when the run makes no progress for too long. A collective waits forever for a rank
// that died or for a network link that went down (Open MPI's TCP transport has no timeout of its
// own); the watchdog turns that wait into a one-line error and an exit, after which mpirun ends the
// other ranks. The last checkpoint on disk is untouched.
import Foundation
import Glibc
import Synchronization

public final class Watchdog: @unchecked Sendable {
    public let timeout: Double
    private let rank: Int
    private let worldSize: Int
    private let lastBeat = Atomic<Int64>(0)      // monotonic nanoseconds of the last sign of progress
    private let iteration = Atomic<Int>(0)
    private let phase = Atomic<Int>(0)           // a Phase's raw value

    public enum Phase: Int {
        case setup, training, exchange, validation, finishing

        var doing: String {
            switch self {
            case .setup: "setting up"
            case .training: "training"
            case .exchange: "in the gradient exchange"
            case .validation: "validating"
            case .finishing: "finishing"
            }
        }
    }

    /// Starts watching at once; `timeout` seconds without a `beat` end the process.
    public init(timeout: Double, rank: Int, worldSize: Int) {
        self.timeout = timeout
        self.rank = rank
        self.worldSize = worldSize
        beat(.setup)
        var thread = pthread_t()
        let unmanaged = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { context in
            Unmanaged<Watchdog>.fromOpaque(context!).takeUnretainedValue().watch()
            return nil
        }, unmanaged.toOpaque())
        pthread_detach(thread)
    }

    /// Records progress: what the rank is about to do, at which iteration.
    public func beat(_ phase: Phase, iteration: Int? = nil) {
        lastBeat.store(Self.now(), ordering: .relaxed)
        self.phase.store(phase.rawValue, ordering: .relaxed)
        if let iteration { self.iteration.store(iteration, ordering: .relaxed) }
    }

    private func watch() {
        let period = UInt32(max(0.05, min(1, timeout / 4)) * 1e6)
        while true {
            usleep(period)
            let silent = Double(Self.now() - lastBeat.load(ordering: .relaxed)) / 1e9
            guard silent > timeout else { continue }
            let prefix = worldSize > 1 ? "mlp: error (rank \(rank)): " : "mlp: error: "
            let message = prefix + "no progress for \(String(format: "%.1f", silent)) s at iteration \(iteration.load(ordering: .relaxed)) "
                + "(\(Phase(rawValue: phase.load(ordering: .relaxed))!.doing)): another rank or the network to it is gone. "
                + "Exiting so that the whole job ends; resume from the last checkpoint (--watchdog sets this limit).\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            _exit(1)
        }
    }

    private static func now() -> Int64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec)
    }
}
