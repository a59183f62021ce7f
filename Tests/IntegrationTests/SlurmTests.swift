// The batch script users copy (Scripts/slurm/train.sbatch) on a real Slurm: munged, slurmctld and
// slurmd from Debian, started on this machine for each test by Scripts/slurm/testcluster.sh and
// stopped again whatever the test's outcome. Jobs launch both ways (srun, mpirun), stop with a
// checkpoint on Slurm's signal, requeue themselves and end with the bits of a run never stopped.
// Runs as root where the daemons are installed (Scripts/setup.sh --tests); skipped elsewhere.
import Foundation
import MLPCore
import TestSupport
import Testing

/// A one-node Slurm of its own, up while the value lives.
final class SlurmCluster {
    static let script = Launcher.repository + "/Scripts/slurm/testcluster.sh"
    static let batchScript = Launcher.repository + "/Scripts/slurm/train.sbatch"

    /// Root, and the daemons and commands are installed.
    static let available: Bool = {
        guard getuid() == 0, let found = try? Launcher.run(["sh", "-c", "command -v munged slurmctld slurmd sbatch scontrol ss"], timeout: 20)
        else { return false }
        return found.status == 0
    }()

    let scratch = Scratch()
    private var up = false
    var directory: String { scratch.file("cluster") }
    var environment: [String: String] { ["SLURM_CONF": directory + "/slurm.conf"] }

    init() throws {
        let result = try Launcher.run(["bash", Self.script, "up", scratch.directory("cluster")], timeout: 90)
        up = true   // even a failed start may have left daemons to stop
        guard result.status == 0 else { throw ConfigurationError("testcluster up failed: \(result.output)") }
    }

    deinit {
        if up { _ = try? Launcher.run(["bash", Self.script, "down", directory], timeout: 90) }
    }

    /// A Slurm command against this cluster.
    func run(_ command: [String], environment extra: [String: String] = [:], directory: String? = nil) throws -> RunResult {
        try Launcher.run(command, timeout: 60, environment: environment.merging(extra) { $1 }, directory: directory)
    }

    /// Submits the batch script with `sbatchFlags`, training with `trainFlags` in `runDirectory`,
    /// its output in `output`; returns the job id.
    func submit(_ sbatchFlags: [String], runDirectory: String, output: String, launcher: String = "srun",
                environment extra: [String: String] = [:], trainFlags: [String]) throws -> String {
        let settings = ["MLP_RUN_DIR": runDirectory, "MLP_BINARY": Launcher.binary, "MLP_LAUNCHER": launcher].merging(extra) { $1 }
        let result = try run(["sbatch", "--parsable", "--output=" + output] + sbatchFlags + [Self.batchScript] + trainFlags, environment: settings)
        guard result.status == 0, let id = result.stdout.split(separator: "\n").first.map({ String($0.split(separator: ";")[0]) })
        else { throw ConfigurationError("sbatch failed: \(result.output)") }
        return id
    }

    /// The job's fields from `scontrol show job -o` (JobState, Restarts, ExitCode, ...).
    func job(_ id: String) throws -> [String: String] {
        let line = try run(["scontrol", "show", "job", "-o", id]).stdout
        return line.split(separator: " ").reduce(into: [:]) { fields, word in
            let pair = word.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
    }

    static let endStates: Set<String> = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"]

    /// Waits until the job has ended; returns its last fields.
    @discardableResult
    func waitForEnd(_ id: String, timeout: Double, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: String] {
        var fields: [String: String] = [:]
        try TestSupport.waitFor("job \(id) to end", timeout: timeout, every: 0.2, sourceLocation: sourceLocation) {
            fields = try job(id)
            return Self.endStates.contains(fields["JobState"] ?? "")
        }
        return fields
    }

    /// Waits until the job is in `state` (and, with `restarts`, has been requeued that often).
    func waitFor(_ id: String, state: String, restarts: Int? = nil, timeout: Double, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try TestSupport.waitFor("job \(id) to be \(state)\(restarts.map { " after \($0) requeue(s)" } ?? "")", timeout: timeout, every: 0.1,
                                sourceLocation: sourceLocation) {
            let fields = try job(id)
            return fields["JobState"] == state && restarts.map { fields["Restarts"] == String($0) } ?? true
        }
    }
}

extension Integration {
    @Suite(.enabled(if: SlurmCluster.available, "needs root and Slurm's daemons (bash Scripts/setup.sh --tests installs them) to start a test cluster"))
    struct Slurm {
        /// 5 epochs of 100 steps: a job of a few seconds.
        let quick = ["--data", Launcher.data, "--train-limit", "2000", "--eval-limit", "1000", "--epochs", "5", "--seed", "7"]
        /// 40 epochs of 250 steps: long enough to be stopped after its first validation.
        let longer = ["--data", Launcher.data, "--train-limit", "5000", "--eval-limit", "1000", "--epochs", "40", "--seed", "7"]
        /// 300 epochs of one step, each followed by a validation and test pass over 10,000 images:
        /// almost all of the job's time is validation, so a signal lands in one.
        let validating = ["--data", Launcher.data, "--train-limit", "20", "--epochs", "300", "--seed", "7"]

        /// `flags` straight through under mpirun, never stopped: the bits a job must end with.
        func reference(_ flags: [String], ranks: Int = 2, in directory: String) throws -> Checkpoint {
            let result = try Launcher.mlp(["train"] + flags + ["--checkpoint-dir", directory, "--quiet"], ranks: ranks, timeout: 300)
            #expect(result.status == 0, "the reference run: \(result.output)")
            return try Checkpoint.load(directory + "/best.safetensors")
        }

        func expectSameBest(_ runDirectory: String, as reference: Checkpoint, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let best = try Checkpoint.load(runDirectory + "/best.safetensors")
            expectSameBits(UnsafeBufferPointer(best.parameters.flat), UnsafeBufferPointer(reference.parameters.flat), label, sourceLocation: sourceLocation)
        }

        func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        /// The log's start and done records: one per run of the job.
        func runs(_ log: String) -> (starts: [[String: Any]], dones: [[String: Any]]) {
            let events = logEvents(log)
            return (events.filter { $0["event"] as? String == "start" }, events.filter { $0["event"] as? String == "done" })
        }

        /// Each run after the first resumed exactly where the one before stopped, and the last
        /// finished its epochs: nothing trained was lost, nothing trained twice.
        func expectContinuous(_ log: String, runs count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
            let (starts, dones) = runs(log)
            #expect(starts.count == count && dones.count == count, "\(count) runs in \(log): \(starts.count) starts, \(dones.count) dones", sourceLocation: sourceLocation)
            for run in 1..<min(starts.count, dones.count) {
                #expect(starts[run]["resumed"] as? Bool == true, "run \(run + 1) resumed", sourceLocation: sourceLocation)
                #expect(starts[run]["iteration"] as? Int == dones[run - 1]["iterations"] as? Int,
                        "run \(run + 1) starts at the iteration run \(run) stopped at", sourceLocation: sourceLocation)
                #expect(dones[run - 1]["stop_reason"] as? String == "signal", sourceLocation: sourceLocation)
            }
            #expect(dones.last?["stop_reason"] as? String == "epochs", "the last run finished its epochs", sourceLocation: sourceLocation)
            let iterations = logEvents(log).filter { $0["event"] as? String == "validation" }.compactMap { $0["iteration"] as? Int }
            #expect(iterations == iterations.sorted() && Set(iterations).count == iterations.count,
                    "validations in order, none twice: \(iterations)", sourceLocation: sourceLocation)
        }

        /// A 2-task job, launched by srun and by mpirun: the bits of `mpirun -np 2` with the same flags.
        @Test func batchJobsMatchMpirun() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let expected = try reference(quick, in: s.directory("reference"))
            for launcher in ["srun", "mpirun"] {
                let output = s.file("\(launcher).out")
                let id = try cluster.submit(["--ntasks=2"], runDirectory: s.file(launcher), output: output, launcher: launcher, trainFlags: quick)
                let end = try cluster.waitForEnd(id, timeout: 120)
                let printed = read(output)
                #expect(end["JobState"] == "COMPLETED" && end["Restarts"] == "0", "\(launcher): \(end) \(printed)")
                #expect(printed.contains("2 tasks on 1 node(s)") && printed.contains("launched by \(launcher)"), "\(printed)")
                #expect(printed.contains("2 ranks (2 on this node)"), "MPI's own count of ranks on this node, under \(launcher): \(printed)")
                try expectSameBest(s.file(launcher), as: expected, "a batch job launched by \(launcher) against mpirun -np 2")
            }
        }

        /// `scancel --signal=USR1 --batch` mid-run, while rank 0 validates: a checkpoint, a requeue,
        /// a second run that resumes, and the bits of a job never stopped; the log shows the two
        /// runs back to back.
        @Test func signalledJobRequeuesAndEndsWithTheSameBits() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let run = s.file("run"), output = s.file("job.out")
            let id = try cluster.submit(["--ntasks=2"], runDirectory: run, output: output, trainFlags: validating)
            waitForValidations(run + "/log.jsonl", 1, timeout: 120)
            #expect(try cluster.run(["scancel", "--signal=USR1", "--batch", id]).status == 0)
            let expected = try reference(validating, in: s.directory("reference"))   // while the job waits to run again
            let end = try cluster.waitForEnd(id, timeout: 240)
            let printed = read(output)
            #expect(end["JobState"] == "COMPLETED" && end["Restarts"] == "1", "\(end) \(printed)")
            #expect(printed.contains("requeueing (run 2 continues from") && printed.contains("[job \(id), run 2]: done"), "\(printed)")
            #expect(printed.contains("resumed     \(run)/last.safetensors at iteration"), "\(printed)")
            expectContinuous(run + "/log.jsonl", runs: 2)
            try expectSameBest(run, as: expected, "a job requeued mid-run against one never stopped")
        }

        /// The signal as the job starts, before any step (or before the ranks start at all, when
        /// srun drops it and the script sends it again): the requeued job starts from what there
        /// is, and still ends with the same bits. The job runs long enough for the second sending.
        @Test func signalAtTheStartRequeuesToo() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let run = s.file("run"), output = s.file("job.out")
            let id = try cluster.submit(["--ntasks=2"], runDirectory: run, output: output, trainFlags: validating)
            waitFor("job \(id)'s script to start", timeout: 60) { read(output).contains("launched by srun") }
            #expect(try cluster.run(["scancel", "--signal=USR1", "--batch", id]).status == 0)
            let end = try cluster.waitForEnd(id, timeout: 180)
            let printed = read(output)
            #expect(end["JobState"] == "COMPLETED" && end["Restarts"] == "1", "\(end) \(printed)")
            let (_, dones) = runs(run + "/log.jsonl")
            #expect(dones.last?["stop_reason"] as? String == "epochs", "\(printed)")
            try expectSameBest(run, as: try reference(validating, in: s.directory("reference")), "a job signalled as it started against one never stopped")
        }

        /// Requeued with one task where it had two: it continues on one rank, with the same bits.
        @Test func requeuedJobContinuesOnFewerTasks() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let run = s.file("run"), output = s.file("job.out")
            let id = try cluster.submit(["--ntasks=2"], runDirectory: run, output: output, trainFlags: longer)
            waitForValidations(run + "/log.jsonl", 1, timeout: 120)
            #expect(try cluster.run(["scancel", "--signal=USR1", "--batch", id]).status == 0)
            try cluster.waitFor(id, state: "PENDING", restarts: 1, timeout: 120)
            let update = try cluster.run(["scontrol", "update", "JobId=\(id)", "NumTasks=1", "NumCPUs=1"])
            #expect(update.status == 0, "\(update.output)")
            let end = try cluster.waitForEnd(id, timeout: 240)
            let printed = read(output)
            #expect(end["JobState"] == "COMPLETED" && end["Restarts"] == "1", "\(end) \(printed)")
            #expect(printed.contains("[job \(id), run 2]: 1 task on 1 node(s)"), "\(printed)")
            let (starts, _) = runs(run + "/log.jsonl")
            #expect(starts.map { $0["world_size"] as? Int } == [2, 1], "\(starts)")
            expectContinuous(run + "/log.jsonl", runs: 2)
            try expectSameBest(run, as: try reference(longer, in: s.directory("reference")), "2 tasks, then 1, against mpirun -np 2 never stopped")
        }

        /// The time limit itself: one minute, the signal 15 s ahead, training that needs longer than
        /// a run can last (about 55 s of steps here; the signal comes at most 45 s in). The job stops with a checkpoint before each
        /// limit, requeues, and finishes with nothing lost: every run resumes at the iteration the
        /// one before stopped at, and the last finishes its epochs. (That a resumed run ends with
        /// the bits of one never stopped, the tests above show; a reference run here would double
        /// the test's minutes.)
        @Test func timeLimitedJobFinishesAfterRequeues() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let run = s.file("run"), output = s.file("job.out")
            let long = ["--data", Launcher.data, "--eval-limit", "2000", "--epochs", "160", "--patience", "100000000", "--seed", "7"]
            let id = try cluster.submit(["--ntasks=2", "--time=1", "--signal=B:USR1@15"], runDirectory: run, output: output, trainFlags: long)
            let end = try cluster.waitForEnd(id, timeout: 900)
            let printed = read(output)
            let restarts = Int(end["Restarts"] ?? "") ?? 0
            #expect(end["JobState"] == "COMPLETED" && restarts >= 1, "\(end) \(printed)")
            #expect(printed.contains("SIGUSR1 (the time limit is near)"), "\(printed)")
            #expect(!printed.contains("DUE TO TIME LIMIT"), "a run reached the limit itself: \(printed)")
            expectContinuous(run + "/log.jsonl", runs: restarts + 1)
            #expect(try Checkpoint.load(run + "/last.safetensors").state.iteration == 160 * 2500)
            let starts = runs(run + "/log.jsonl").starts.map { "\($0["iteration"] ?? "?")" }
            print("slurm time limit: job \(id) \(end["JobState"] ?? "?") after \(restarts) requeue(s); its runs started at iterations \(starts.joined(separator: ", "))")
        }

        /// Bad data: the job fails once, with the one-line error in its output, and is not requeued.
        @Test func failedJobIsNotRequeued() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let bad = s.directory("bad")
            try Data("junk\n".utf8).write(to: URL(fileURLWithPath: bad + "/train-images-idx3-ubyte"))
            let output = s.file("job.out")
            let id = try cluster.submit(["--ntasks=2"], runDirectory: s.file("run"), output: output, trainFlags: ["--data", bad])
            let end = try cluster.waitForEnd(id, timeout: 120)
            let printed = read(output)
            #expect(end["JobState"] == "FAILED" && end["Restarts"] == "0" && end["ExitCode"] == "1:0", "\(end) \(printed)")
            let errors = printed.split(separator: "\n").filter { $0.hasPrefix("mlp: error") }
            #expect(errors.count == 1 && errors[0].contains(bad + "/train-images-idx3-ubyte") && errors[0].contains("Is this an IDX file?"), "\(printed)")
            #expect(printed.contains("failed (status 1): not requeued"), "\(printed)")
        }

        /// An array job: each task its own flags and run directory; the signalled task requeues
        /// itself alone (JOB_TASK, not the whole array) and both end with their own bits.
        @Test func arrayTaskRequeuesItself() throws {
            let cluster = try SlurmCluster(), s = cluster.scratch
            let seeds = ["0": "11", "1": "12"]
            let id = try cluster.submit(["--array=0-1", "--ntasks=1", "--job-name=grid"], runDirectory: s.file("runs"), output: s.file("%A_%a.out"),
                                        environment: ["MLP_ARRAY_FLAGS_0": "--seed \(seeds["0"]!)", "MLP_ARRAY_FLAGS_1": "--seed \(seeds["1"]!)"],
                                        trainFlags: Array(longer.dropLast(2)))
            waitForValidations(s.file("runs/1/log.jsonl"), 1, timeout: 120)
            #expect(try cluster.run(["scancel", "--signal=USR1", "--batch", "\(id)_1"]).status == 0)
            for task in ["0", "1"] {
                let end = try cluster.waitForEnd("\(id)_\(task)", timeout: 240)
                #expect(end["JobState"] == "COMPLETED" && end["Restarts"] == (task == "1" ? "1" : "0"), "task \(task): \(end) \(read(s.file("\(id)_\(task).out")))")
                let flags = Array(longer.dropLast(2)) + ["--seed", seeds[task]!]
                try expectSameBest(s.file("runs/\(task)"), as: try reference(flags, ranks: 1, in: s.directory("reference\(task)")), "array task \(task)")
            }
        }

        /// The README's "On a Slurm cluster" commands as written, in a directory that looks like
        /// the repository (the script's default binary and data): submitted, watched, stopped and
        /// requeued, then cancelled with a checkpoint. The test waits before each command for what
        /// the reader would wait for.
        @Test func readmeCommandsWork() throws {
            let cluster = try SlurmCluster()
            let s = Scratch().linkRepository()
            let readme = try String(contentsOfFile: Launcher.repository + "/README.md", encoding: .utf8)
            let commands = Readme.commands(readme, fence: "```sh slurm")
            let expected = ["mkdir -p runs/slurm", "job=$(sbatch --parsable Scripts/slurm/train.sbatch", "squeue -j $job",
                            "tail -n 2 runs/slurm/mlp-$job.out", "scancel --signal=USR1 --batch $job", "scancel $job"]
            try #require(commands.count == expected.count && zip(commands, expected).allSatisfy { $0.hasPrefix($1) },
                         "the README's Slurm commands changed; this test waits for what each one needs: \(commands)")
            var job = ""
            let output = { (try? String(contentsOfFile: s.file("runs/slurm/mlp-\(job).out"), encoding: .utf8)) ?? "" }
            for command in commands {
                var line = command.replacingOccurrences(of: "$job", with: job)
                if line.hasPrefix("job=$(") { line = String(line.dropFirst(6).dropLast()) }
                if line.hasPrefix("tail") { waitFor("an epoch in job \(job)'s output", timeout: 120) { output().contains("epoch 1,") } }
                if line == "scancel \(job)" {
                    try cluster.waitFor(job, state: "RUNNING", restarts: 1, timeout: 120)
                    waitFor("job \(job)'s second run to resume", timeout: 120) { output().contains("resumed ") }
                }
                let result = try cluster.run(["sh", "-c", line], directory: s.path)
                #expect(result.status == 0, "README command failed: \(line)\n\(result.output)")
                if command.hasPrefix("job=$(") { job = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
                if line.hasPrefix("squeue") { #expect(result.stdout.contains(" \(job) "), "\(result.stdout)") }
            }
            let end = try cluster.waitForEnd(job, timeout: 120)
            #expect(end["JobState"] == "CANCELLED" && end["Restarts"] == "1", "\(end) \(output())")
            #expect(output().contains("[job \(job), run 2]: cancelled"), "\(output())")
            let (starts, dones) = runs(s.file("runs/slurm/mlp/log.jsonl"))
            #expect(starts.count == 2 && dones.count == 2 && dones.allSatisfy { $0["stop_reason"] as? String == "signal" }, "\(dones)")
            let last = try Checkpoint.load(s.file("runs/slurm/mlp/last.safetensors"))
            #expect(last.state.iteration == dones.last?["iterations"] as? Int, "the cancelled run's checkpoint is its last iteration")
        }
    }
}
