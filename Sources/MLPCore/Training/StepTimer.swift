// Phase times of the training step, for --profile and `mlp bench`.

/// Adds each phase's seconds to a StepProfile: `lap` ends the phase in progress and starts the next.
struct StepTimer {
    private let clock: () -> Double
    private var last: Double

    init(_ clock: @escaping () -> Double) {
        self.clock = clock
        last = clock()
    }

    /// The time since the last lap goes to `phase`.
    mutating func lap(_ phase: WritableKeyPath<StepProfile, Double>, of profile: inout StepProfile) {
        let now = clock()
        profile[keyPath: phase] += now - last
        last = now
    }

    /// Seconds that an earlier lap counted but that belong to another phase (the allreduces that
    /// run inside the backward pass are exchange time).
    func move(_ seconds: Double, from: WritableKeyPath<StepProfile, Double>, to: WritableKeyPath<StepProfile, Double>,
              of profile: inout StepProfile) {
        profile[keyPath: from] -= seconds
        profile[keyPath: to] += seconds
    }
}
