// A failed MPI call, as Communicator reports it.

/// A failed MPI call, with the function name and MPI's own text for the error code.
public struct CommunicationError: UserFacingError, Equatable {
    public let function: String
    public let code: Int32
    public let text: String
    public var description: String { "\(function) failed with MPI error \(code): \(text)" }
}
