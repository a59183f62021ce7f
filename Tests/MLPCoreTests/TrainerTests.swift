// The training loop on one rank (an MPI singleton), on a subset of the real MNIST.
import Foundation
import MLPCore
import TestSupport
import Testing

@Suite(.serialized) struct TrainerTests {
    nonisolated(unsafe) static let data = try! MNIST.load(directory: bundledMNIST, trainLimit: 5000, evalLimit: 2000)

    func configuration(epochs: Int) -> TrainingConfiguration {
        var c = TrainingConfiguration()
        c.epochs = epochs
        c.patience = 100_000
        return c
    }

    final class Recorder: TrainingObserver {
        var records: [ValidationRecord] = []
        func validated(_ record: ValidationRecord) { records.append(record) }
    }

    /// The tutorial's algorithm on 5,000 training images: validation error after each epoch falls,
    /// and after 4 epochs is below 14 % (measured: 23.3 %, 16.6 %, 14.2 %, 13.0 %; chance is 90 %).
    @Test func errorFallsAsTheTutorials() throws {
        let world = try Communicator.world()
        let c = configuration(epochs: 4)
        let trainer = try Trainer(configuration: c, data: Self.data, world: world,
                                  parameters: .initialized(c.architecture, seed: c.seed))
        let recorder = Recorder()
        let summary = try trainer.run(observer: recorder)
        let errors = recorder.records.map(\.validationError)
        #expect(errors.count == 4)
        #expect(zip(errors, errors.dropFirst()).allSatisfy { $0 > $1 }, "\(errors)")
        #expect(errors.last! < 0.14 && errors.first! < 0.30, "\(errors)")
        #expect(summary.iterations == 1000 && summary.epochs == 4 && summary.stopReason == .epochs)
        #expect(summary.bestValidationError == errors.min()! && summary.testError != nil)
        #expect(recorder.records.allSatisfy { $0.trainLoss > 0 && $0.samplesPerSecond > 0 })
    }

    /// Same seed, same bits; a run stopped after 2 epochs and resumed from its checkpoint ends
    /// bit-identical to the run that went straight through 4.
    @Test func resumeIsBitIdentical() throws {
        let world = try Communicator.world()
        let straight = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                   parameters: .initialized(Architecture(), seed: 1234))
        let straightSummary = try straight.run()

        let first = try Trainer(configuration: configuration(epochs: 2), data: Self.data, world: world,
                                parameters: .initialized(Architecture(), seed: 1234))
        _ = try first.run()
        let saved = try Checkpoint.decode(first.checkpoint().encoded(), path: "mem")
        let resumed = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                  parameters: saved.parameters, state: saved.state)
        let resumedSummary = try resumed.run()

        expectSameBits(UnsafeBufferPointer(resumed.parameters.flat), UnsafeBufferPointer(straight.parameters.flat), "resumed against straight")
        #expect(resumedSummary.bestValidationError == straightSummary.bestValidationError)
        #expect(resumedSummary.bestIteration == straightSummary.bestIteration)
        #expect(resumedSummary.testError == straightSummary.testError)
        #expect(resumedSummary.iterations == straightSummary.iterations)

        let again = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                parameters: .initialized(Architecture(), seed: 1234))
        _ = try again.run()
        #expect(again.parameterHash() == straight.parameterHash(), "same seed, same bits")
    }

    /// Stopped after 2 epochs and 76 steps (mid-epoch, at the fold point a signal's stop waits for),
    /// checkpointed and resumed: the same bits as the run that went straight through 4 epochs.
    @Test func resumeMidEpochIsBitIdentical() throws {
        let world = try Communicator.world()
        let straight = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                   parameters: .initialized(Architecture(), seed: 1234))
        _ = try straight.run()
        let first = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                parameters: .initialized(Architecture(), seed: 1234))
        for _ in 0..<(2 * first.schedule.batchesPerEpoch + 76) { #expect(try first.step() == .updated) }
        #expect(first.isFoldPoint(576))
        let saved = try Checkpoint.decode(first.checkpoint().encoded(), path: "mem")
        #expect(saved.state.iteration == 2 * 250 + 76)
        let resumed = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                  parameters: saved.parameters, state: saved.state)
        let summary = try resumed.run()
        #expect(summary.iterations == 1000)
        expectSameBits(UnsafeBufferPointer(resumed.parameters.flat), UnsafeBufferPointer(straight.parameters.flat), "resumed mid-epoch against straight")
    }

    /// --checkpoint-every 2: last.safetensors after the 2nd and 4th validations and at the end of
    /// the run, best.safetensors at every new best. The observer looks before each validation's writes.
    @Test func checkpointEveryWritesEveryNth() throws {
        final class Watcher: TrainingObserver {
            let directory: String
            var seen: [Int?] = []   // last.safetensors' iteration when each validation is reported
            init(_ directory: String) { self.directory = directory }
            func validated(_ record: ValidationRecord) throws {
                seen.append(try? Checkpoint.load(directory + "/last.safetensors").state.iteration)
            }
        }
        let world = try Communicator.world()
        let dir = Scratch()
        let trainer = try Trainer(configuration: configuration(epochs: 5), data: Self.data, world: world,
                                  parameters: .initialized(Architecture(), seed: 1234))
        trainer.checkpoints = try OutputDirectory(dir.path, flag: "--checkpoint-dir")
        trainer.checkpointEvery = 2
        let watcher = Watcher(dir.path)
        _ = try trainer.run(observer: watcher)
        #expect(watcher.seen == [nil, nil, 500, 500, 1000], "\(watcher.seen)")
        #expect(try Checkpoint.load(dir.file("last.safetensors")).state.iteration == 1250, "the end of the run")
        #expect(try Checkpoint.load(dir.file("best.safetensors")).state.iteration == 1250)
    }

    @Test func patienceStopsTheRun() throws {
        let world = try Communicator.world()
        var c = configuration(epochs: 50)
        c.patience = 300              // validate every 150 iterations; stop once iteration ≥ patience
        c.sgd.learningRate = 1e-9     // no real progress after the first validation, so patience never grows
        let trainer = try Trainer(configuration: c, data: Self.data, world: world, parameters: .initialized(c.architecture, seed: 1234))
        let summary = try trainer.run()
        #expect(summary.stopReason == .patience)
        #expect(summary.iterations < 50 * 250)
        #expect(trainer.state.stopping.shouldStop(after: summary.iterations - 1))
    }

    @Test func divergenceIsReportedWithTheIteration() throws {
        let world = try Communicator.world()
        var c = configuration(epochs: 3)
        c.sgd.learningRate = 1e6
        let trainer = try Trainer(configuration: c, data: Self.data, world: world, parameters: .initialized(c.architecture, seed: 1234))
        let error = #expect(throws: TrainingError.self) { try trainer.run() }
        #expect(error?.description.contains("NaN or infinite at iteration") == true)
        #expect(error?.description.contains("smaller learning rate") == true)
    }

    @Test func batchLargerThanTheData() throws {
        let world = try Communicator.world()
        var c = configuration(epochs: 1)
        c.batchSize = 6000
        #expect(throws: ConfigurationError.self) {
            try Trainer(configuration: c, data: Self.data, world: world, parameters: .initialized(c.architecture, seed: 1))
        }
    }
}

@Suite struct RunLogTests {
    @Test func jsonLinesAndCSV() throws {
        let record = ValidationRecord(epoch: 1, iteration: 2500, batchesPerEpoch: 2500, trainLoss: 0.5, validationError: 0.0962,
                                      bestValidationError: 0.0962, testError: 0.1009, improved: true, seconds: 1.5, samplesPerSecond: 50_000)
        let line = RunLog.validation(record).encoded
        #expect(line == #"{"event":"validation","epoch":1,"iteration":2500,"train_loss":0.5,"validation_error":0.0962,"best_validation_error":0.0962,"test_error":0.1009,"seconds":1.5,"samples_per_second":50000.0}"#)
        let dir = Scratch()
        let log = try LogFile(path: dir.file("log.jsonl"), flag: "--log-json")
        #expect(log.wasEmpty)
        try log.writeLine(.object([("event", .string("start"))]))
        try log.writeLine(RunLog.validation(record))
        var second = record
        second.testError = nil
        try log.writeLine(RunLog.validation(second))
        let read = try RunLog.readValidations(dir.file("log.jsonl"))
        #expect(read.count == 2 && read[0].validationError == 0.0962 && read[1].testError == nil)
        #expect(RunLog.csv(read).split(separator: "\n").count == 3)
        #expect(JSONValue.number(.nan).encoded == "null")
        #expect(throws: FileError.self) { try LogFile(path: "/proc/nonexistent/log.jsonl", flag: "--log-json") }
        #expect(throws: ConfigurationError.self) { try LogFile(path: dir.file("log.jsonl"), flag: "--log-json") }   // an earlier run's
        #expect(try LogFile(path: dir.file("log.jsonl"), flag: "--log-json", existing: .append).wasEmpty == false)
    }

    /// A full disk: the write fails with a line naming the flag, the file and the cause.
    @Test func logWriteFailureIsAnError() throws {
        let full = try LogFile(path: "/dev/full", flag: "--log-json")
        let error = #expect(throws: OutputError.self) { try full.write("{}\n") }
        #expect(error?.description == "--log-json /dev/full: writing the log failed (No space left on device). Free some space or choose another file; the checkpoints are intact.")
    }

    /// A resumed run's start record drops the validations logged after its checkpoint.
    @Test func resumedLogsReadAsOneRun() throws {
        let dir = Scratch()
        let log = try LogFile(path: dir.file("log.jsonl"), flag: "--log-json")
        func validation(_ iteration: Int) -> JSONValue {
            RunLog.validation(ValidationRecord(epoch: iteration / 10, iteration: iteration, batchesPerEpoch: 10, trainLoss: 1,
                                               validationError: 0.5, bestValidationError: 0.5, testError: nil, improved: false,
                                               seconds: 1, samplesPerSecond: 1))
        }
        for line in [JSONValue.object([("event", .string("start")), ("iteration", .integer(0))]), validation(10), validation(20), validation(30),
                     .object([("event", .string("start")), ("iteration", .integer(20))]), validation(30), validation(40)] {
            try log.writeLine(line)
        }
        #expect(try RunLog.readValidations(dir.file("log.jsonl")).map(\.iteration) == [10, 20, 30, 40])
    }
}
