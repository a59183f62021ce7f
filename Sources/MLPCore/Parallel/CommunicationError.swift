// A failed MPI call, as Communicator reports it, and a wait given up on.

/// An error after which the other ranks cannot be asked to agree on stopping: the rank that meets
/// it says so and ends the whole job (MPI_Abort) instead.
public protocol EndsTheJob: UserFacingError {}

/// A failed MPI call, with the function name and MPI's own text for the error code.
public struct CommunicationError: EndsTheJob, Equatable {
    public let function: String
    public let code: Int32
    public let text: String
    public var description: String { "\(function) failed with MPI error \(code): \(text)" }
}

/// A wait for the other ranks given up after SIGTERM or SIGINT: mpirun sends those to every rank
/// when one has died, and kills the rest a second later. Giving up lets this rank say so (and rank
/// 0 write its trace) first. A live job stops at an agreed step long before this.
public struct AbandonedWait: EndsTheJob, Equatable {
    public let signal: Int32
    public let seconds: Double
    public var description: String {
        "stopped waiting for the other ranks: \(StopSignal.name(signal)) came while this rank waited, and they did not answer within \(seconds) s (one may have died; mpirun ends the others). The last validation's checkpoint is the one to resume from."
    }
    public var exitCode: Int32 { 128 + signal }
}
