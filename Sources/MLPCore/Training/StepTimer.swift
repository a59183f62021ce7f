// Phase times of the training step, for --profile and `mlp bench`, and for --trace the phases of
// the steps its window holds.

/// Adds each phase's seconds to a StepProfile: `lap` ends the phase in progress and starts the
/// next; with a timeline, each phase is a slice of it too.
struct StepTimer {
    private let world: Communicator   // whose clock (MPI_Wtime) the trace's slices are on
    private var last: Double
    /// When the timer was made.
    let started: Double
    private let timeline: Timeline?
    private let iteration: Int

    init(_ world: Communicator, recordingInto timeline: Timeline? = nil, iteration: Int = 0) {
        self.world = world
        last = world.wallTime()
        started = last
        self.timeline = timeline
        self.iteration = iteration
    }

    /// The time since the last lap goes to `phase`.
    mutating func lap(_ phase: TracePhase, of profile: inout StepProfile) {
        let now = world.wallTime()
        switch phase {
        case .forward: profile.forward += now - last
        case .backward: profile.backward += now - last
        case .exchange: profile.exchange += now - last
        case .update: profile.update += now - last
        case .validation: profile.validation += now - last
        case .scoring: profile.scoring += now - last
        case .wait, .checkpoint, .stop: break
        }
        timeline?.add(phase, iteration: iteration, from: last, to: now)
        last = now
    }
}
