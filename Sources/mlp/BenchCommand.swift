// `mlp bench`: training speed on this machine, next to the sgemm peak and the bare GEMMs a step
// needs, measured in the same run. Under `mpirun -np P` it measures the step on P ranks;
// Scripts/bench/scaling.sh runs it for several P and builds the scaling table from its CSV.
// A window of steps is not a training run: Scripts/bench/whole-runs.sh times those.
import ArgumentParser
import Foundation
import MLPCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training speed: samples/s, s/epoch, GFLOP/s against the sgemm peak, and the time split per phase.",
        discussion: "Reports the median of --repeats windows and how much slower the slowest was (a window is not a training run: Scripts/bench/whole-runs.sh times those). Figures are rank 0's view; run it under mpirun for several ranks.")

    @Option(help: ArgumentHelp("Global batch sizes to measure, comma-separated (per rank with --weak).", valueName: "list"))
    var batchSizes = "20,256"

    @Flag(help: "Weak scaling: each batch size is per rank, so the global batch is that times the ranks.")
    var weak = false

    @Option(help: ArgumentHelp("Seconds of training per window (at most 3600).", valueName: "s"))
    var seconds = 2.0

    @Option(help: "Windows per batch size (the median and the slowest are reported).")
    var repeats = 3

    @OptionGroup(title: "Parallelism (as mlp train)") var step: StepOptions
    @OptionGroup(title: "Data (as mlp train)") var data: DataOptions
    @OptionGroup(title: "Tracing (as mlp train; step 0 is each batch size's first timed step)") var tracing: TraceOptions

    @Option(help: ArgumentHelp("Append one CSV row per batch size to this file (the header written if it is new).", valueName: "file"))
    var appendCsv: String?

    @Option(help: .hidden) var csv: String?   // the earlier spelling of --append-csv

    func validate() throws {
        guard let sizes = parsedBatchSizes, !sizes.isEmpty, sizes.allSatisfy({ (1...RunRequest.mostUnits).contains($0) }) else {
            throw ValidationError("--batch-sizes \(batchSizes): expected whole numbers from 1 to \(RunRequest.mostUnits), separated by commas.")
        }
        if !(seconds > 0 && seconds <= 3600) { throw ValidationError("--seconds \(seconds): must be more than 0 and at most 3600.") }
        if !(1...1000).contains(repeats) { throw ValidationError("--repeats \(repeats): must be from 1 to 1000.") }
        if csv != nil && appendCsv != nil { throw ValidationError("--csv is the earlier name of --append-csv; give one of them.") }
    }

    var parsedBatchSizes: [Int]? {
        let values = batchSizes.split(separator: ",").map { Int($0) }
        return values.allSatisfy { $0 != nil } ? values.map { $0! } : nil
    }

    /// What the machine can do, measured once: the sgemm peak and the allreduce's latency and bandwidth.
    struct Machine {
        var corePeak: Double, machinePeak: Double, latency: Double, fullAllreduce: Double, modelFloats: Int
    }

    func run() throws {
        let world = try Session.start()
        defer { try? reportMemory(world) }
        if csv != nil { warn("--csv is now --append-csv; the old name goes in the next release") }
        let table = try world.together { () -> LogFile? in
            guard world.isRoot, let path = appendCsv ?? csv else { return nil }
            let file = try LogFile(path: path, flag: appendCsv != nil ? "--append-csv" : "--csv", existing: .append)
            if file.wasEmpty { try file.write(ScalingRow.csvHeader + "\n") }
            return file
        }
        let mnist = try world.together { try MNIST.load(directory: data.directory, trainLimit: data.trainLimit, evalLimit: data.evalLimit) }
        let architecture = Architecture()
        let trace = try tracing.trace.map {
            try Trace(path: $0, window: tracing.traceSteps ?? .standard, world: world, validationEvery: Int(Int32.max))
        }
        let machine = try measureMachine(world, architecture)
        if world.isRoot { printHeader(world, architecture, machine) }
        for size in parsedBatchSizes! {
            let row = try measure(batch: weak ? size * world.size : size, world: world, data: mnist, architecture: architecture, trace: trace)
            guard world.isRoot else { continue }
            print(row.line(machine: machine, oneRank: world.size == 1))
            fflush(nil)
            try table?.write(row.csv(world: world, machine: machine) + "\n")
        }
        if let trace {
            try trace.collect()
            if world.isRoot { note("wrote \(try trace.write())") }
        }
    }

    /// The sgemm peak of one core (every rank measures at once, as they will train) and the allreduce.
    private func measureMachine(_ world: Communicator, _ architecture: Architecture) throws -> Machine {
        try world.barrier()
        let corePeak = Benchmark.sgemmPeak(clock: world.wallTime)
        var peaks = [Int64(corePeak * 1000)]
        try world.allreduceSum(&peaks)
        let modelFloats = ParameterLayout(architecture).count
        let latency = world.size > 1 ? try Benchmark.allreduceSeconds(world, count: 1, rounds: 2000) : 0
        let full = world.size > 1 ? try Benchmark.allreduceSeconds(world, count: modelFloats, rounds: 50) : 0
        return Machine(corePeak: corePeak, machinePeak: Double(peaks[0]) / 1000, latency: latency, fullAllreduce: full, modelFloats: modelFloats)
    }

    private func printHeader(_ world: Communicator, _ architecture: Architecture, _ m: Machine) {
        let nodes = world.size / max(1, world.nodeSize)
        print("mlp bench: \(architecture.summary), \(Int(Benchmark.flopsPerSample(architecture) / 1e3)) kFLOP per sample; \(world.size) rank\(world.size == 1 ? "" : "s") on \(nodes) node\(nodes == 1 ? "" : "s"), OpenBLAS on one thread per rank (\(BLAS.coreName))")
        print(String(format: "sgemm peak %.1f GFLOP/s per core (1536³, 1 thread), %.1f GFLOP/s for all %ld ranks", m.corePeak, m.machinePeak, world.size))
        if world.size > 1 {
            print(String(format: "allreduce: 1 float %.2f µs, the %ld-float gradient %.1f µs", m.latency * 1e6, m.modelFloats, m.fullAllreduce * 1e6))
        }
        print("")
        print("   batch  exchange         samples/s (slowest)   s/epoch   GFLOP/s  %peak   step ms = forward + backward + exchange + update   validation ms (% of epoch)" + (world.size == 1 ? "   bare sgemm ms  ratio" : ""))
    }

    /// One batch size: a warm-up, --repeats windows of about --seconds (on one rank each followed
    /// by the bare GEMMs of the same step, so that both see the same machine mode), and rank 0's
    /// validation pass as training runs it.
    private func measure(batch: Int, world: Communicator, data: MNIST, architecture: Architecture, trace: Trace?) throws -> BenchRow {
        var configuration = TrainingConfiguration()
        configuration.batchSize = batch
        configuration.epochs = RunRequest.mostEpochs
        configuration.patience = Int(Int32.max)
        configuration.exchange = step.mode
        let trainer = try world.together {
            try Trainer(configuration: configuration, data: data, world: world, parameters: .initialized(architecture, seed: 1234))
        }
        var warm = world.wallTime()
        for _ in 0..<20 { _ = try trainer.step() }
        warm = (world.wallTime() - warm) / 20
        var agreed = [Int64(min(1e7, max(20, seconds / max(warm, 1e-6))))]
        try world.allreduceMax(&agreed)
        let steps = Int(agreed[0])

        let bare = world.size == 1 ? Benchmark.BareStep(architecture, rows: batch) : nil
        bare?.run(steps: 20)
        var stepTimes: [Double] = [], bareTimes: [Double] = []
        trainer.resetProfile()
        trainer.restartCount()
        trainer.trace = trace
        for _ in 0..<repeats {
            try world.barrier()
            let start = world.wallTime()
            for _ in 0..<steps { _ = try trainer.step() }
            var elapsed = [Int64((world.wallTime() - start) * 1e9)]
            try world.allreduceMax(&elapsed)
            stepTimes.append(Double(elapsed[0]) / 1e9 / Double(steps))
            if let bare {
                let start = world.wallTime()
                bare.run(steps: steps)
                bareTimes.append((world.wallTime() - start) / Double(steps))
            }
        }
        return BenchRow(batch: batch, exchange: trainer.exchange, stepTimes: stepTimes, bareTimes: bareTimes, profile: trainer.profile,
                        batchesPerEpoch: trainer.schedule.batchesPerEpoch, validation: try validationPass(world, trainer, architecture))
    }

    /// Rank 0's pass over the validation images, with the node's cores while the other ranks sleep
    /// (a new best adds a test pass of the same cost). Best of 3; each tells the sleeping ranks how
    /// long to nap next, as a training run's control block does.
    private func validationPass(_ world: Communicator, _ trainer: Trainer, _ architecture: Architecture) throws -> Double {
        let validationSet = world.isRoot ? trainer.data.validation.compressedForScoring(architecture) : trainer.data.validation
        let evaluator = world.isRoot ? Evaluator(architecture, threads: BLAS.scoringThreads()) : nil
        var best = Double.infinity, lastPass = 0.0
        let barrier = try ValidationBarrier(world)
        for _ in 0..<3 {
            let start = world.wallTime()
            _ = evaluator?.errorRate(trainer.parameters, on: validationSet)
            best = min(best, world.wallTime() - start)
            try barrier.wait(expected: lastPass)
            var told = [Int64((world.wallTime() - start) * 1e9)]
            try world.allreduceMax(&told)
            lastPass = Double(told[0]) / 1e9
        }
        return best
    }

    /// Every rank's peak resident memory, printed by rank 0.
    func reportMemory(_ world: Communicator) throws {
        let peaks = try world.allgather(Int64(Benchmark.peakResidentBytes() ?? 0))
        guard world.isRoot else { return }
        print("")
        print("peak resident memory per rank: " + peaks.enumerated().map { String(format: "rank %ld %.0f MiB", $0.offset, Double($0.element) / 1_048_576) }.joined(separator: ", "))
    }
}

/// One batch size's figures: the median window, the slowest, the phases and the validation pass.
struct BenchRow {
    let batch: Int
    let exchange: ExchangeMode
    let stepTimes: [Double], bareTimes: [Double]
    let profile: StepProfile
    let batchesPerEpoch: Int
    let validation: Double

    var median: Double { stepTimes.sorted()[stepTimes.count / 2] }
    var slowestPercent: Double { 100 * (stepTimes.max()! - median) / median }
    var bare: Double? { bareTimes.isEmpty ? nil : bareTimes.sorted()[bareTimes.count / 2] }
    var samplesPerSecond: Double { Double(batch) / median }
    var epoch: Double { median * Double(batchesPerEpoch) }
    var gflops: Double { samplesPerSecond * Benchmark.flopsPerSample(Architecture()) / 1e9 }
    var validationPercent: Double { 100 * validation / (epoch + validation) }
    /// Milliseconds per step of each phase.
    var phases: (forward: Double, backward: Double, exchange: Double, update: Double) {
        let n = Double(max(1, profile.steps)) / 1e3
        return (profile.forward / n, profile.backward / n, profile.exchange / n, profile.update / n)
    }

    func line(machine: Bench.Machine, oneRank: Bool) -> String {
        let p = phases
        var line = String(format: "  %6ld  %-15@ %10.0f (%4.1f%%)  %8.3f  %8.1f  %5.1f   %7.3f = %6.3f + %6.3f + %6.3f + %6.3f        %8.1f (%4.1f%%)",
                          batch, exchange.rawValue, samplesPerSecond, slowestPercent, epoch, gflops, 100 * gflops / machine.machinePeak,
                          median * 1e3, p.forward, p.backward, p.exchange, p.update, validation * 1e3, validationPercent)
        if let bare { line += String(format: "       %8.3f   %5.3f", bare * 1e3, median / bare) }
        return line
    }

    func csv(world: Communicator, machine m: Bench.Machine) -> String {
        let p = phases
        return [String(world.size), String(world.size / max(1, world.nodeSize)), String(batch), exchange.rawValue,
                String(format: "%.1f", samplesPerSecond), String(format: "%.2f", slowestPercent), String(format: "%.4f", epoch),
                String(format: "%.2f", gflops), String(format: "%.2f", m.machinePeak), String(format: "%.2f", 100 * gflops / m.machinePeak),
                String(format: "%.4f", median * 1e3), String(format: "%.4f", p.forward), String(format: "%.4f", p.backward),
                String(format: "%.4f", p.exchange), String(format: "%.4f", p.update), String(format: "%.3f", validation * 1e3),
                String(format: "%.2f", validationPercent), bare.map { String(format: "%.4f", $0 * 1e3) } ?? "",
                bare.map { String(format: "%.4f", median / $0) } ?? "", String(format: "%.3f", m.latency * 1e6),
                String(format: "%.2f", m.fullAllreduce * 1e6), String(m.modelFloats)].joined(separator: ",")
    }
}
