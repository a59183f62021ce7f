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
        let world = try MPICommunicator.world()
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
        let world = try MPICommunicator.world()
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

    /// Stopped after 2 epochs and 77 steps (mid-epoch, as a signal may stop a run), checkpointed
    /// and resumed: the same bits as the run that went straight through 4 epochs.
    @Test func resumeMidEpochIsBitIdentical() throws {
        let world = try MPICommunicator.world()
        let straight = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                   parameters: .initialized(Architecture(), seed: 1234))
        _ = try straight.run()
        let first = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                parameters: .initialized(Architecture(), seed: 1234))
        for _ in 0..<(2 * first.schedule.batchesPerEpoch + 77) { #expect(try first.step() == .updated) }
        let saved = try Checkpoint.decode(first.checkpoint().encoded(), path: "mem")
        #expect(saved.state.iteration == 2 * 250 + 77)
        let resumed = try Trainer(configuration: configuration(epochs: 4), data: Self.data, world: world,
                                  parameters: saved.parameters, state: saved.state)
        let summary = try resumed.run()
        #expect(summary.iterations == 1000)
        expectSameBits(UnsafeBufferPointer(resumed.parameters.flat), UnsafeBufferPointer(straight.parameters.flat), "resumed mid-epoch against straight")
    }

    @Test func patienceStopsTheRun() throws {
        let world = try MPICommunicator.world()
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
        let world = try MPICommunicator.world()
        var c = configuration(epochs: 3)
        c.sgd.learningRate = 1e6
        let trainer = try Trainer(configuration: c, data: Self.data, world: world, parameters: .initialized(c.architecture, seed: 1234))
        let error = #expect(throws: TrainingError.self) { try trainer.run() }
        #expect(error?.description.contains("NaN or infinite at iteration") == true)
        #expect(error?.description.contains("smaller learning rate") == true)
    }

    @Test func batchLargerThanTheData() throws {
        let world = try MPICommunicator.world()
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
        let dir = TemporaryDirectory()
        let log = try LogFile(path: dir.file("log.jsonl"), flag: "--log-json")
        log.writeLine(.object([("event", .string("start"))]))
        log.writeLine(RunLog.validation(record))
        var second = record
        second.testError = nil
        log.writeLine(RunLog.validation(second))
        let read = try RunLog.readValidations(dir.file("log.jsonl"))
        #expect(read.count == 2 && read[0].validationError == 0.0962 && read[1].testError == nil)
        #expect(RunLog.csv(read).split(separator: "\n").count == 3)
        #expect(JSONValue.number(.nan).encoded == "null")
        #expect(throws: ConfigurationError.self) { try LogFile(path: "/nonexistent/dir/log.jsonl", flag: "--log-json") }
    }
}
