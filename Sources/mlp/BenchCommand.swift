// `mlp bench`: training speed on this machine, next to the sgemm peak and the bare GEMMs a step
// needs, measured in the same run. Under `mpirun -np P` it measures the data-parallel step on P ranks;
// Scripts/bench/scaling.sh runs it for several P and builds the scaling table from its CSV.
import ArgumentParser
import Foundation
import MLPCore

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training speed: samples/s, s/epoch, GFLOP/s against the sgemm peak, and the time split per phase.",
        discussion: "Reports the median of --repeats measurements and how much slower the slowest was (a window is not a training run: Scripts/bench/whole-runs.sh times those). Figures are rank 0's view; run it under mpirun for several ranks.")

    @Option(help: ArgumentHelp("Global batch sizes to measure, comma-separated (per rank with --weak).", valueName: "list"))
    var batchSizes = "20,256"

    @Flag(help: "Weak scaling: each batch size is per rank, so the global batch is that times the ranks.")
    var weak = false

    @Option(help: ArgumentHelp("Seconds of training per measurement.", valueName: "s"))
    var seconds = 2.0

    @Option(help: "Measurements per batch size (the median and the slowest are reported).")
    var repeats = 3

    @OptionGroup(title: "Parallelism (as mlp train)") var step: StepOptions

    @Option(name: .customLong("data"), help: ArgumentHelp("Directory holding the MNIST IDX files.", valueName: "dir"))
    var directory = "data/mnist"

    @Option(help: ArgumentHelp("Append one CSV row per batch size to this file (header written if new).", valueName: "file"))
    var csv: String?

    func validate() throws {
        guard let sizes = parsedBatchSizes, !sizes.isEmpty, sizes.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--batch-sizes \(batchSizes): expected positive whole numbers separated by commas.")
        }
        if seconds <= 0 || !seconds.isFinite { throw ValidationError("--seconds \(seconds): must be > 0.") }
        if repeats < 1 { throw ValidationError("--repeats \(repeats): must be at least 1.") }
    }

    var parsedBatchSizes: [Int]? {
        let values = batchSizes.split(separator: ",").map { Int($0) }
        return values.allSatisfy { $0 != nil } ? values.map { $0! } : nil
    }

    /// Every rank's peak resident memory, printed by rank 0.
    func reportMemory(_ world: MPICommunicator) throws {
        let peaks = try world.allgather(Int64(Benchmark.peakResidentBytes() ?? 0))
        guard world.isRoot else { return }
        print("")
        print("peak resident memory per rank: " + peaks.enumerated().map { String(format: "rank %ld %.0f MiB", $0.offset, Double($0.element) / 1_048_576) }.joined(separator: ", "))
    }

    static let csvHeader = "ranks,nodes,batch,exchange,samples_per_second,spread_percent,seconds_per_epoch,gflops,peak_gflops,percent_of_peak,step_ms,forward_ms,backward_ms,exchange_ms,update_ms,validation_ms,validation_percent,bare_gemm_ms,gemm_ratio,allreduce_latency_us,allreduce_model_us,model_floats"

    func run() throws {
        let world = try Session.start()
        defer { try? reportMemory(world) }
        let csvFile = try world.together { () -> LogFile? in
            guard world.isRoot, let csv else { return nil }
            let file = try LogFile(path: csv, flag: "--csv", existing: .append)
            if file.wasEmpty { try file.write(Self.csvHeader + "\n") }
            return file
        }
        let mnist = try world.together { try MNIST.load(directory: directory) }
        let architecture = Architecture()
        let validationSet = world.isRoot ? mnist.validation.compressedForScoring(architecture) : mnist.validation  // rank 0 scores
        let flops = Benchmark.flopsPerSample(architecture)
        let nodes = world.size / max(1, world.nodeSize)

        // The machine: sgemm peak of one core (every rank measures at once, as they will train) and the allreduce.
        try world.barrier()
        let corePeak = Benchmark.sgemmPeak(clock: world.wallTime)
        var peaks = [Int64(corePeak * 1000)]
        try world.allreduceSum(&peaks)
        let machinePeak = Double(peaks[0]) / 1000
        let modelFloats = ParameterLayout(architecture).count
        let latency = world.size > 1 ? try Benchmark.allreduceSeconds(world, count: 1, rounds: 2000) : 0
        let fullAllreduce = world.size > 1 ? try Benchmark.allreduceSeconds(world, count: modelFloats + ControlBlock.count, rounds: 50) : 0

        if world.isRoot {
            print("mlp bench: \(architecture.summary), \(Int(flops / 1e3)) kFLOP per sample; \(world.size) rank\(world.size == 1 ? "" : "s") on \(nodes) node\(nodes == 1 ? "" : "s"), OpenBLAS on one thread per rank (\(BLAS.coreName))")
            print(String(format: "sgemm peak %.1f GFLOP/s per core (1536³, 1 thread), %.1f GFLOP/s for all %ld ranks", corePeak, machinePeak, world.size))
            if world.size > 1 {
                print(String(format: "allreduce: 1 float %.2f µs, the %ld-float gradient %.1f µs", latency * 1e6, modelFloats, fullAllreduce * 1e6))
            }
            print("")
            print("   batch  exchange         samples/s (slowest)   s/epoch   GFLOP/s  %peak   step ms = forward + backward + exchange + update   validation ms (% of epoch)" + (world.size == 1 ? "   bare sgemm ms  ratio" : ""))
        }

        for size in parsedBatchSizes! {
            let batch = weak ? size * world.size : size
            var configuration = TrainingConfiguration()
            configuration.batchSize = batch
            configuration.epochs = 1_000_000
            configuration.patience = Int.max / 4
            step.apply(to: &configuration)
            let trainer = try world.together {
                try Trainer(configuration: configuration, data: mnist, world: world, parameters: .initialized(architecture, seed: 1234))
            }
            // Warm up, then agree on a step count that takes about --seconds.
            var warm = world.wallTime()
            for _ in 0..<20 { _ = try trainer.step() }
            warm = (world.wallTime() - warm) / 20
            var agreed = [Int64(max(20, seconds / max(warm, 1e-6)))]
            try world.allreduceMax(&agreed)
            let steps = Int(agreed[0])

            let bare = world.size == 1 ? Benchmark.BareStep(architecture, rows: batch) : nil
            bare?.run(steps: 20)
            var stepTimes: [Double] = [], bareTimes: [Double] = []
            trainer.resetProfile()
            for _ in 0..<repeats {
                try world.barrier()
                let start = world.wallTime()
                for _ in 0..<steps { _ = try trainer.step() }
                var elapsed = [Int64((world.wallTime() - start) * 1e9)]
                try world.allreduceMax(&elapsed)
                stepTimes.append(Double(elapsed[0]) / 1e9 / Double(steps))
                if let bare {   // alternating with the real step, so both see the same machine mode
                    let start = world.wallTime()
                    bare.run(steps: steps)
                    bareTimes.append((world.wallTime() - start) / Double(steps))
                }
            }
            // Rank 0's validation pass over the 10,000 validation images, as training runs it: with the
            // node's cores while the other ranks sleep. (A new best adds a test pass of the same cost.)
            // Best of 3: the first pass also tells the sleeping ranks how long to nap (as a training
            // run's control block does).
            var validation = Double.infinity, lastPass = 0.0
            let evaluator = world.isRoot ? Evaluator(architecture, threads: BLAS.scoringThreads()) : nil
            for _ in 0..<3 {
                let start = world.wallTime()
                _ = evaluator?.errorRate(trainer.parameters, on: validationSet)
                validation = min(validation, world.wallTime() - start)
                try ValidationBarrier().wait(world, expected: lastPass)
                var told = [Int64((world.wallTime() - start) * 1e9)]
                try world.allreduceMax(&told)
                lastPass = Double(told[0]) / 1e9
            }

            // The median window, and how much slower the slowest was: what a run gets, not its luckiest moment.
            let best = stepTimes.sorted()[stepTimes.count / 2], worst = stepTimes.max()!
            let samplesPerSecond = Double(batch) / best
            let epoch = best * Double(trainer.schedule.batchesPerEpoch)
            let gflops = samplesPerSecond * flops / 1e9
            let p = trainer.profile, n = Double(max(1, p.steps))
            let validationPercent = 100 * validation / (epoch + validation)
            let bareBest = bareTimes.isEmpty ? nil : bareTimes.sorted()[bareTimes.count / 2]
            guard world.isRoot else { continue }
            var line = String(format: "  %6ld  %-15@ %10.0f (%4.1f%%)  %8.3f  %8.1f  %5.1f   %7.3f = %6.3f + %6.3f + %6.3f + %6.3f        %8.1f (%4.1f%%)",
                              batch, trainer.exchange.rawValue, samplesPerSecond, 100 * (worst - best) / best, epoch, gflops, 100 * gflops / machinePeak,
                              best * 1e3, p.forward / n * 1e3, p.backward / n * 1e3, p.exchange / n * 1e3, p.update / n * 1e3,
                              validation * 1e3, validationPercent)
            if let bareBest { line += String(format: "       %8.3f   %5.3f", bareBest * 1e3, best / bareBest) }
            print(line)
            fflush(nil)
            let row: [String] = [
                String(world.size), String(nodes), String(batch), trainer.exchange.rawValue,
                String(format: "%.1f", samplesPerSecond), String(format: "%.2f", 100 * (worst - best) / best),
                String(format: "%.4f", epoch), String(format: "%.2f", gflops), String(format: "%.2f", machinePeak),
                String(format: "%.2f", 100 * gflops / machinePeak), String(format: "%.4f", best * 1e3),
                String(format: "%.4f", p.forward / n * 1e3), String(format: "%.4f", p.backward / n * 1e3),
                String(format: "%.4f", p.exchange / n * 1e3), String(format: "%.4f", p.update / n * 1e3),
                String(format: "%.3f", validation * 1e3), String(format: "%.2f", validationPercent),
                bareBest.map { String(format: "%.4f", $0 * 1e3) } ?? "", bareBest.map { String(format: "%.4f", best / $0) } ?? "",
                String(format: "%.3f", latency * 1e6), String(format: "%.2f", fullAllreduce * 1e6), String(modelFloats),
            ]
            try csvFile?.write(row.joined(separator: ",") + "\n")
        }
    }
}
