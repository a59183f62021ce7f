// `mlp sweep`: the tutorial's hyper-parameter search inside one mpirun. The world is split into
// groups of --ranks-per-run ranks; each group trains one configuration at a time, data-parallel
// within the group, with everything `mlp train` does, and draws the next configuration when it
// finishes (a counter that world rank 0 keeps, so cheap configurations do not wait for dear ones). World rank 0
// writes the tables and the plot. With --halving E, the better half goes on at each rung.
import ArgumentParser
import Foundation
import MLPCore

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train every combination of hyper-parameter lists, one group of ranks per configuration.",
        discussion: """
            Lists are comma-separated (--lr 0.1,0.01 --hidden 100,500 --l2 0,1e-4); every other flag \
            is `mlp train`'s and holds for every configuration (--epochs, --patience, --seed, \
            --train-limit, ...). Each configuration gets a folder under --out with its JSON log and \
            checkpoints; results.csv, results.md, results.jsonl and results.svg sum them up, best \
            validation error first. Rerunning the same command skips what is done and resumes the \
            rest. Exit status: 0 done (whatever the configurations' own outcomes), 1 failed, 2 bad \
            usage, 128+N stopped by signal N.
            """)

    private static let defaults = TrainingConfiguration()
    @Option(parsing: .unconditional, help: ArgumentHelp("Learning rates η₀. (default: \(compact(defaults.sgd.learningRate)))", valueName: "list")) var lr: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Hidden widths; 500x300 is two layers. (default: \(defaults.architecture.hiddenSizes.map(String.init).joined(separator: "x")))", valueName: "list")) var hidden: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("L1 penalties. (default: \(compact(defaults.sgd.l1)))", valueName: "list")) var l1: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Squared-L2 penalties. (default: \(compact(defaults.sgd.l2)))", valueName: "list")) var l2: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Global minibatch sizes. (default: \(defaults.batchSize))", valueName: "list")) var batchSize: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("Learning-rate decays d. (default: \(compact(defaults.sgd.decay)))", valueName: "list")) var lrDecay: String?

    @Option(help: ArgumentHelp("Ranks that train one configuration together; must divide the number of ranks, so that every configuration trains on as many ranks (and a rerun gives the same bits).", valueName: "n"))
    var ranksPerRun = 1

    @Option(help: ArgumentHelp("Folder for the configurations' folders and the results (made if missing).", valueName: "dir"))
    var out: String

    @Option(help: ArgumentHelp("Successive halving: every configuration trains E epochs, the better half by validation error goes on to 2E, 4E, ... up to --epochs.", valueName: "E"))
    var halving: Int?

    // What every configuration shares: `mlp train`'s flags, but for the swept ones.
    @Option(help: ArgumentHelp("Hidden activation: tanh, sigmoid or relu. (default: \(defaults.architecture.activation.rawValue))", valueName: "name")) var activation: Activation?
    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Schedule") var schedule: ScheduleOptions
    @OptionGroup(title: "Parallelism") var step: StepOptions
    @OptionGroup(title: "Reliability") var reliability: ReliabilityOptions
    @OptionGroup(title: "Tracing (each configuration's trace goes to its folder, with FILE's name)") var tracing: TraceOptions

    @Option(help: ArgumentHelp("Write each configuration's validation records as TensorBoard scalars in DIR/<its folder's name>, so that TensorBoard shows the configurations side by side.", valueName: "dir"))
    var tensorboard: String?

    // `mlp train`'s flags that the sweep sets for each configuration itself: refused with why.
    @Option(help: .hidden) var checkpointDir: String?
    @Option(help: .hidden) var logJson: String?
    @Option(help: .hidden) var logCsv: String?
    @Option(help: .hidden) var resume: String?

    func validate() throws {
        for (flag, value) in [("--checkpoint-dir", checkpointDir), ("--log-json", logJson), ("--log-csv", logCsv), ("--resume", resume)] where value != nil {
            throw ValidationError("\(flag): mlp sweep writes each configuration's checkpoints and log into its folder under --out; drop \(flag).")
        }
        if ranksPerRun < 1 { throw ValidationError("--ranks-per-run \(ranksPerRun): must be at least 1.") }
        if let halving, halving < 1 { throw ValidationError("--halving \(halving): must be at least 1 epoch.") }
        let plan = try self.plan()   // every configuration's values, checked as `mlp train` checks them
        if let halving, halving >= plan.epochs {
            throw ValidationError("--halving \(halving): must be smaller than --epochs \(plan.epochs), or there is nothing to halve.")
        }
    }

    /// The swept lists, their configurations, and how long each trains.
    struct Plan {
        var lists: [(SweepParameter, [String])]
        var points: [SweepPoint]
        var epochs: Int
        var rungs: [Int]
    }

    func plan() throws -> Plan {
        let given: [(SweepParameter, String?)] = [(.lr, lr), (.hidden, hidden), (.l1, l1), (.l2, l2), (.batchSize, batchSize), (.lrDecay, lrDecay)]
        let lists = try given.compactMap { parameter, list in
            try list.map { list in
                do { return (parameter, try SweepGrid.values(parameter, list)) } catch let e as SweepGrid.ListError { throw ValidationError(e.description) }
            }
        }
        let points: [SweepPoint]
        do { points = try SweepGrid.points(lists) } catch let e as SweepGrid.ListError { throw ValidationError(e.description) }
        for point in points { try validated(request(for: point)) }   // a value `mlp train` refuses is refused here, naming its flag
        let epochs = schedule.epochs ?? TrainingConfiguration().epochs
        return Plan(lists: lists, points: points, epochs: epochs, rungs: Halving.rungs(every: halving, epochs: epochs))
    }

    /// One configuration's run: the shared flags, the configuration's values.
    func request(for point: SweepPoint) -> RunRequest {
        var r = RunRequest()
        r.activation = activation
        data.apply(to: &r)
        schedule.apply(to: &r)
        step.apply(to: &r)
        reliability.apply(to: &r)
        point.apply(to: &r)
        return r
    }

    /// What the sweep's ranks share while it runs.
    private struct Context {
        let plan: Plan
        let world: Communicator, group: Communicator
        let folders: SweepFolders
        let data: MNIST
        let watchdog: Watchdog?
        let counter: WorkCounter
        let serve: () -> Void
    }

    func run() throws {
        StopSignal.install()
        signal(SIGPIPE, SIG_IGN)   // a closed stdout ends no training (flushStandardOutput says so)
        let world = try Session.start()
        let context = try setUp(world)
        let plan = context.plan
        var participants = dearFirst(plan.points)
        let started = Date()
        var stoppedBy: Int32 = 0
        for (rung, epochs) in plan.rungs.enumerated() {
            stoppedBy = try trainRung(rung, epochs: epochs, participants, context)
            guard let next = try nextRung(after: rung, participants, stopped: stoppedBy != 0, context), !next.isEmpty else { break }
            participants = dearFirst(next)
        }
        try context.group.release()
        if world.isRoot {
            let results = try context.folders.results(plan.points)
            if stoppedBy != 0 {
                warn("stopped by \(StopSignal.describe(stoppedBy, underMpirun: Launch.underMpirun)): \(results.count) of \(plan.points.count) configurations done, the others keep their checkpoints; run the same command again to finish")
            } else {
                printSummary(results, plan: plan, seconds: Date().timeIntervalSince(started))
            }
        }
        if stoppedBy != 0 { throw StoppedBySignal(signal: stoppedBy) }
    }

    /// The groups, the folders (prepared by rank 0, seen by every group's root), the data (read
    /// once for every configuration), the work counter; every step agreed across the world.
    private func setUp(_ world: Communicator) throws -> Context {
        let plan = try self.plan()
        let groups = world.size / max(1, ranksPerRun)
        try world.together {
            if ranksPerRun > world.size {
                throw ConfigurationError("--ranks-per-run \(ranksPerRun) is larger than the \(world.size) rank\(world.size == 1 ? "" : "s") of this job. Use at most \(world.size), or start more ranks.")
            }
            if world.size % ranksPerRun != 0 {
                throw ConfigurationError("--ranks-per-run \(ranksPerRun) does not divide the \(world.size) ranks: every configuration trains on the same number of ranks. Use a divisor of \(world.size).")
            }
            if groups > plan.points.count {
                throw ConfigurationError("\(groups) groups of \(ranksPerRun) rank\(ranksPerRun == 1 ? "" : "s") for \(plan.points.count) configuration\(plan.points.count == 1 ? "" : "s"): some groups would have nothing to do. Use a larger --ranks-per-run or fewer ranks.")
            }
        }
        let group = try world.split(color: world.rank / ranksPerRun, key: world.rank)
        let folders = SweepFolders(out: out)
        try world.together { if world.isRoot { try folders.prepare(settings: settings) } }
        // Every group's root writes into --out: it must see the same folder as rank 0.
        try world.together { if group.isRoot && !world.isRoot { try folders.checkShared(rank: world.rank, host: world.processorName) } }
        let data = try world.together {
            try MNIST.load(directory: self.data.directory, trainLimit: self.data.trainLimit, evalLimit: self.data.evalLimit)
        }
        let watchdog = reliability.watchdog > 0 ? Watchdog(timeout: reliability.watchdog, rank: world.rank, worldSize: world.size) : nil
        let counter = WorkCounter(world, slots: plan.rungs.count)
        // World rank 0 answers the other groups' draws between its own steps and while it waits.
        let serve = {
            do { try counter.serve() } catch {
                writeStandardError("mlp: error (rank 0): \(error)\n")
                world.abort(exitCode: 1)
            }
        }
        if world.isRoot {
            print("mlp sweep: \(plan.points.count) configurations, \(groups) group\(groups == 1 ? "" : "s") of \(ranksPerRun) rank\(ranksPerRun == 1 ? "" : "s"), "
                  + (plan.rungs.count > 1 ? "successive halving at epochs \(plan.rungs.map(String.init).joined(separator: ", "))" : "up to \(plan.epochs) epochs each")
                  + "; results in \(out)")
            flushStandardOutput()
        }
        return Context(plan: plan, world: world, group: group, folders: folders, data: data, watchdog: watchdog, counter: counter, serve: serve)
    }

    /// Every group draws configurations until the rung's are all handed out; then every group waits
    /// for the rung's end. Returns the signal that stopped any group (every rank agrees), or 0.
    private func trainRung(_ rung: Int, epochs: Int, _ participants: [SweepPoint], _ c: Context) throws -> Int32 {
        var stoppedBy: Int32 = 0
        while stoppedBy == 0 {
            // The group's root draws the next configuration for the whole group, or passes on a
            // signal as its negative.
            let drawn = try c.group.rootsValue(c.group.isRoot ? (StopSignal.pending != 0 ? -Int(StopSignal.pending) : try c.counter.next(slot: rung)) : 0)
            if drawn < 0 { stoppedBy = Int32(-drawn); break }
            guard drawn < participants.count else { break }
            if let signal = try train(participants[drawn], rung: rung, epochs: epochs, plan: c.plan, group: c.group, world: c.world, data: c.data,
                                      watchdog: c.watchdog, folders: c.folders, serve: c.world.isRoot ? c.serve : nil) {
                stoppedBy = signal
            }
        }
        // Every group waits (asleep, so that the groups still training have the cores) for the
        // rung to end; then all agree whether a signal stopped any of them.
        try c.world.barrierSleeping(firstNap: 0) {
            c.watchdog?.beat(.finishing)
            c.serve()
        }
        var stop = [Int64(stoppedBy)]
        try c.world.allreduceMax(&stop)
        return Int32(stop[0])
    }

    /// Rank 0 writes the tables and, if another rung follows (and no signal stopped the sweep),
    /// picks who goes on; every rank hears it. nil: the sweep is over.
    private func nextRung(after rung: Int, _ participants: [SweepPoint], stopped: Bool, _ c: Context) throws -> [SweepPoint]? {
        let plan = c.plan
        var next = try c.world.together { () -> [UInt8] in
            guard c.world.isRoot else { return [] }
            let results = try c.folders.results(plan.points)
            try c.folders.writeTables(results, lists: plan.lists, order: plan.points, halving: halving != nil)
            guard !stopped && rung + 1 < plan.rungs.count else { return [] }
            let here = results.filter { r in participants.contains(r.point) }
            let survivors = Halving.survivors(of: here, rung: rung, order: plan.points)
            print("rung \(rung + 1) (\(plan.rungs[rung]) epochs) done: \(survivors.count) of \(here.count) go on to \(plan.rungs[rung + 1]) epochs")
            flushStandardOutput()
            return Array(survivors.map { String(plan.points.firstIndex(of: $0)!) }.joined(separator: ",").utf8)
        }
        guard !stopped && rung + 1 < plan.rungs.count else { return nil }
        try c.world.broadcast(&next, from: 0)
        return String(decoding: next, as: UTF8.self).split(separator: ",").map { plan.points[Int($0)!] }
    }

    /// Trains one configuration up to `epochs` on `group` and records its result in its folder.
    /// Returns the signal if one stopped it (its checkpoint written, no result recorded).
    private func train(_ point: SweepPoint, rung: Int, epochs: Int, plan: Plan, group: Communicator, world: Communicator,
                       data: MNIST, watchdog: Watchdog?, folders: SweepFolders, serve: (() -> Void)?) throws -> Int32? {
        // The group's root decides from the folder: done already (a rerun), go on from the last
        // checkpoint, or start afresh.
        let decision = try group.together { group.isRoot ? try folders.decide(point, rung: rung, epochs: epochs).rawValue : 0 }
        let start = SweepFolders.Start(rawValue: Int64(try group.rootsValue(Int(decision))))!
        if start == .done { return nil }
        let previous = group.isRoot ? try folders.result(point) : nil
        let folder = try group.together { group.isRoot ? try folders.folder(point) : nil }
        let log = try group.together {
            try folder.map { try LogFile(in: $0, name: SweepFolders.logFile, existing: start == .resume ? .append : .refuse) }
        }
        let board = try group.together {
            group.isRoot ? try tensorboard.map { try OutputDirectory($0, flag: "--tensorboard").subdirectory(point.name) } : nil
        }

        var request = self.request(for: point)
        request.epochs = epochs
        request.checkpointDirectory = (out as NSString).appendingPathComponent(point.name)
        request.resume = start == .resume ? .file((request.checkpointDirectory! as NSString).appendingPathComponent(Trainer.lastCheckpoint)) : .none
        request.tracePath = tracing.trace.map { (request.checkpointDirectory! as NSString).appendingPathComponent(($0 as NSString).lastPathComponent) }
        request.traceWindow = tracing.traceSteps ?? .standard
        let comm = try group.duplicate()
        var outcome: (status: SweepResult.Status, summary: TrainingSummary?, reason: String)
        do {
            let run = try TrainingRun(request, world: comm, watchdog: watchdog, data: data, checkpoints: folder, json: log, tensorBoard: board)
            let summary = try run.run(observer: Reporter(quiet: true, terminal: false, everyStep: serve, json: run.json, csv: nil,
                                                         tensorBoard: run.tensorBoard, resumed: run.resumed != nil))
            if comm.isRoot { try run.json?.writeLine(RunLog.done(summary, profile: nil)) }
            if summary.stopReason == .signal {
                try comm.release()
                return summary.signal
            }
            outcome = (summary.stopReason == .patience ? .patience : .done, summary, "")
        } catch let error as CommunicationError {
            throw error   // MPI itself failed: the job ends, as for mlp train
        } catch let error as FileError {
            throw error   // the disk, not the configuration: the sweep stops as mlp train does; a rerun retries
        } catch let error as OutputError {
            throw error
        } catch let error as TrainingError {
            if case .nonFinite = error { outcome = (.diverged, nil, error.description) } else { outcome = (.failed, nil, error.description) }
        } catch let error as UserFacingError {
            outcome = (.failed, nil, error.description)
        }
        try comm.release()
        // The root records the result; if that fails, the whole group knows and stops.
        try group.together { if group.isRoot { try record(point, outcome, rung: rung, epochs: epochs, previous: previous, request: request,
                                                           group: group, world: world, folders: folders) } }
        return nil
    }

    /// A group's root: the configuration's row, in its folder and as one line on stdout.
    private func record(_ point: SweepPoint, _ outcome: (status: SweepResult.Status, summary: TrainingSummary?, reason: String),
                        rung: Int, epochs: Int, previous: SweepResult?, request: RunRequest, group: Communicator, world: Communicator,
                        folders: SweepFolders) throws {
        let configuration = try request.configuration(resuming: nil, from: nil)
        let s = outcome.summary
        let best = s.flatMap { $0.bestValidationError.isFinite ? $0.bestValidationError : nil }
        var rungErrors = previous?.rungErrors ?? []
        if outcome.status == .done || outcome.status == .patience { rungErrors = Array(rungErrors.prefix(rung)) + [best] }
        let result = SweepResult(
            point: point, settings: settingsColumns(configuration), bestValidationError: best, bestIteration: s?.bestIteration ?? 0,
            testError: s?.testError, epochs: s?.epochs ?? 0, seconds: s?.seconds ?? 0, ranks: group.size, group: world.rank / ranksPerRun, status: outcome.status,
            rung: rung + 1, rungEpochs: epochs, rungErrors: rungErrors, reason: outcome.reason)
        try folders.record(result)
        let figures = best.map { String(format: "validation %.2f %% at iteration %ld, test %@", $0 * 100, result.bestIteration,
                                        result.testError.map { String(format: "%.2f %%", $0 * 100) } ?? "–") } ?? outcome.reason
        print("[group \(world.rank / ranksPerRun)] \(point.description): \(outcome.status.rawValue), \(figures), \(result.epochs) epochs in \(String(format: "%.1f", result.seconds)) s")
        flushStandardOutput()
    }

    /// The table's setting columns, from the configuration the run used.
    private func settingsColumns(_ c: TrainingConfiguration) -> [String: String] {
        ["lr": compact(c.sgd.learningRate), "hidden": c.architecture.hiddenSizes.map(String.init).joined(separator: "x"),
         "l1": compact(c.sgd.l1), "l2": compact(c.sgd.l2), "batch_size": String(c.batchSize), "lr_decay": compact(c.sgd.decay)]
    }

    /// What a rerun must share with the first run for its folders to mean the same: every setting
    /// but the lists (a rerun may add values) and the ranks (a checkpoint resumes on any number).
    private var settings: [String: String] {
        let r = request(for: SweepPoint([:]))
        let c = (try? r.configuration(resuming: nil, from: nil)) ?? TrainingConfiguration()
        let shared = "activation=\(c.architecture.activation.rawValue) data=\(r.dataDirectory) train_limit=\(r.trainLimit.map(String.init) ?? "all") "
            + "eval_limit=\(r.evalLimit.map(String.init) ?? "all") epochs=\(c.epochs) patience=\(c.patience) seed=\(c.seed) shuffle=\(c.shuffle) "
            + "lr_scaling=\(c.sgd.scaling.rawValue) lr_reference_batch=\(c.sgd.referenceBatch) warmup_epochs=\(c.sgd.warmupEpochs) exchange=\(r.exchange.rawValue)"
        return ["train_flags": shared, "halving": halving.map(String.init) ?? "none"]
    }

    /// The order configurations are handed out in: dear ones first (more weights, smaller
    /// batches), so that none of them starts last and keeps the others waiting; ties in grid order.
    private func dearFirst(_ points: [SweepPoint]) -> [SweepPoint] {
        points.enumerated().sorted { a, b in
            let x = cost(a.element), y = cost(b.element)
            return x != y ? x > y : a.offset < b.offset
        }.map(\.element)
    }

    /// Roughly what one configuration costs per epoch: its weights, and more for small batches
    /// (more steps, each with its fixed costs).
    private func cost(_ point: SweepPoint) -> Double {
        let widths = (point.values[.hidden] ?? "500").split(separator: "x").compactMap { Double($0) }
        let layers = [784.0] + widths + [10]
        let weights = zip(layers, layers.dropFirst()).map { $0 * $1 }.reduce(0, +)
        let batch = Double(point.values[.batchSize] ?? "20") ?? 20
        return weights * (1 + 20 / batch)
    }

    private func printSummary(_ results: [SweepResult], plan: Plan, seconds: Double) {
        let ranked = SweepResult.ranked(results, order: plan.points)
        print("")
        print(SweepResult.markdown(ranked, halving: halving != nil), terminator: "")
        let trained = results.map(\.seconds).reduce(0, +)
        print(String(format: "%ld configurations; this run took %.1f s, their trainings %.1f s in all (on %ld rank%@ each); tables and plot in %@",
                     results.count, seconds, trained, ranksPerRun, ranksPerRun == 1 ? "" : "s", out))
        if let best = ranked.first, let error = best.bestValidationError {
            print("Best configuration (by validation error): \(best.point.description)")
            print(String(format: "Optimization complete. Best validation score of %.2f %% obtained at iteration %ld, with test performance %@.",
                         error * 100, best.bestIteration, best.testError.map { String(format: "%.2f %%", $0 * 100) } ?? "not measured"))
        } else {
            print("No configuration reached a finite validation error.")
        }
        flushStandardOutput()
    }
}

extension Communicator {
    /// Rank 0's value, on every rank.
    func rootsValue(_ value: Int) throws -> Int {
        var bytes = withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) }
        try broadcast(&bytes, from: 0)
        return Int(Int64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
    }
}
