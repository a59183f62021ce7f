// The way a run divides its steps, chosen once at set-up: the one asked for, or for `auto` the faster
// data-parallel way on this run's own machine and ranks, timed. The data-parallel ways give the
// same bits, so timing them cannot change a result, only how soon it comes.
import Foundation

struct StepChoice {
    let step: TrainingStep
    /// Why, for the start block: "timed: factors 0.101 ms a step, sharded 0.134".
    let reason: String

    static func make(_ configuration: TrainingConfiguration, parameters: ParameterSet, world: Communicator,
                     trainingNonZeros: SparseRows, schedule: MinibatchSchedule, from iteration: Int) throws -> StepChoice {
        func build(_ mode: ExchangeMode, on p: ParameterSet) throws -> TrainingStep {
            let (a, sgd, batch) = (configuration.architecture, configuration.sgd, configuration.batchSize)
            switch mode {
            case .auto, .factors: return try FactorsStep(a, parameters: p, sgd: sgd, batchSize: batch, world: world, trainingNonZeros: trainingNonZeros)
            case .sharded: return try ShardedStep(a, parameters: p, sgd: sgd, batchSize: batch, world: world, trainingNonZeros: trainingNonZeros)
            case .columns: return try ColumnsStep(a, parameters: p, sgd: sgd, batchSize: batch, world: world, trainingNonZeros: trainingNonZeros)
            }
        }
        let mode = configuration.exchange
        if mode == .columns && !ColumnsStep.fits(configuration.architecture, worldSize: world.size) {
            let hidden = configuration.architecture.hiddenSizes
            throw ConfigurationError("--exchange columns divides the units of one hidden layer among the ranks; this model has \(hidden.count) hidden layer\(hidden.count == 1 ? "" : "s") (\(hidden.map(String.init).joined(separator: ", ")) units) for \(world.size) ranks. Use one hidden layer of at least \(world.size) units, or another --exchange.")
        }
        guard mode == .auto else { return StepChoice(step: try build(mode, on: parameters), reason: "asked for") }
        guard world.size > 1 else { return StepChoice(step: try build(.factors, on: parameters), reason: "one rank") }

        // Each way trains a scratch copy of the parameters on the run's next minibatches, in
        // alternating rounds; the median round decides. Every rank sees the slowest rank's times.
        let ways: [ExchangeMode] = [.factors, .sharded]
        let trials = try ways.map { way -> TrainingStep in
            let copy = ParameterSet(parameters.layout)
            copy.copy(from: parameters)
            return try build(way, on: copy)
        }
        var seconds = [[Double]](repeating: [], count: ways.count)
        var steps = 4
        for round in 0..<Tuning.autoRounds {
            for (w, trial) in trials.enumerated() {
                try world.barrier()
                let start = world.wallTime()
                for s in 0..<steps { try run(trial, schedule.minibatch(iteration + s), configuration) }
                var elapsed = [Int64((world.wallTime() - start) / Double(steps) * 1e9)]
                try world.allreduceMax(&elapsed)
                if round > 0 { seconds[w].append(Double(elapsed[0]) / 1e9) }
                if round == 0 && w == 0 {   // the rounds' length: about Tuning.autoRoundSeconds each
                    steps = max(4, min(500, Int(Tuning.autoRoundSeconds / max(Double(elapsed[0]) / 1e9, 1e-7))))
                }
            }
        }
        let medians = seconds.map { $0.sorted()[$0.count / 2] }
        let best = medians.indices.min { medians[$0] < medians[$1] }!
        let timed = ways.indices.map { String(format: "%@ %.3f", ways[$0].rawValue, medians[$0] * 1e3) }.joined(separator: ", ")
        return StepChoice(step: try build(ways[best], on: parameters), reason: "timed here: \(timed) ms a step")
    }

    /// One whole step, its result thrown away.
    private static func run(_ step: TrainingStep, _ batch: Minibatch, _ configuration: TrainingConfiguration) throws {
        try step.forward(batch, control: ControlBlock())
        try step.backward()
        _ = try step.finishExchange()
        try step.update(batch, rate: configuration.sgd.learningRate)
    }
}
