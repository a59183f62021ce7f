// SIGTERM, SIGINT and SIGUSR1 (which mpirun forwards to every rank, and batch schedulers send before
// a kill) only set a flag; the training loop carries it in the next step's control block so that
// every rank stops at the same iteration and rank 0 can write a checkpoint. (mpirun SIGKILLs the
// ranks about a second after forwarding SIGTERM or SIGINT; SIGUSR1 it forwards and waits.)
import Glibc
import Synchronization

public enum StopSignal {
    private static let received = Atomic<Int32>(0)

    /// Installs the handlers and unblocks the signals (a launcher may have started this process
    /// with them blocked, and then no handler would ever run). Idempotent.
    public static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        for number in [SIGTERM, SIGINT, SIGUSR1] { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for number in [SIGTERM, SIGINT, SIGUSR1] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in StopSignal.received.store(number, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(number, &action, nil)
        }
    }

    /// The signal number received, or 0.
    public static var pending: Int32 { received.load(ordering: .relaxed) }

    /// The name, and for SIGTERM under mpirun that it may have been a Ctrl-C: mpirun passes SIGINT
    /// on as SIGTERM, so a rank cannot tell the two apart.
    public static func describe(_ number: Int32, underMpirun: Bool) -> String {
        number == SIGTERM && underMpirun ? "SIGTERM (from mpirun, which sends it for SIGINT too)" : name(number)
    }

    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(number)"
        }
    }
}
