import MLPCore
import Testing

@Suite struct EarlyStoppingTests {
    /// A sequence worked by hand with the tutorial's rules (patience 10000, frequency 2500):
    /// iter 2499: 0.10 → best, 0.10 < inf·0.995 → patience = max(10000, 4998) = 10000
    /// iter 4999: 0.09 → best, 0.09 < 0.0995 → patience = max(10000, 9998) = 10000
    /// iter 7499: 0.0898 → best but 0.0898 ≥ 0.09·0.995 = 0.08955 → patience unchanged
    /// iter 9999: 0.0890 → best, 0.0890 < 0.0898·0.995 = 0.089351 → patience = 19998
    /// iter 12499: 0.0900 → not better; 14999: 0.0895 → not better (best is 0.0890)
    /// iter 17499: 0.0885 → best, 0.0885 < 0.0890·0.995 = 0.088555 → patience = max(19998, 34998) = 34998
    @Test func tutorialPatienceSequence() {
        var s = EarlyStopping(patience: 10_000, batchesPerEpoch: 2500)
        #expect(s.validationFrequency == 2500)
        let steps: [(Int, Double, Bool, Int)] = [
            (2499, 0.10, true, 10_000), (4999, 0.09, true, 10_000), (7499, 0.0898, true, 10_000),
            (9999, 0.0890, true, 19_998), (12_499, 0.0900, false, 19_998), (14_999, 0.0895, false, 19_998),
            (17_499, 0.0885, true, 34_998),
        ]
        for (iteration, error, improves, patience) in steps {
            #expect(s.isValidationPoint(iteration))
            #expect(!s.isValidationPoint(iteration - 1))
            #expect(s.recordValidation(error, at: iteration) == improves, "iter \(iteration)")
            #expect(s.patience == patience, "iter \(iteration)")
        }
        #expect(s.bestValidationError == 0.0885 && s.bestIteration == 17_499)
        #expect(!s.shouldStop(after: 34_997))
        #expect(s.shouldStop(after: 34_998))
    }

    @Test func stopsWhenPatienceRunsOutBetweenValidations() {
        var s = EarlyStopping(patience: 10_000, batchesPerEpoch: 2500)
        _ = s.recordValidation(0.5, at: 2499)
        for iteration in stride(from: 4999, through: 9999, by: 2500) { _ = s.recordValidation(0.6, at: iteration) }
        #expect(!s.shouldStop(after: 9999))
        #expect(s.shouldStop(after: 10_000))   // the tutorial stops on `patience <= iter`, not only at validations
    }

    @Test func validationFrequencyIsTheSmallerOfEpochAndHalfPatience() {
        #expect(EarlyStopping(patience: 10_000, batchesPerEpoch: 195).validationFrequency == 195)
        #expect(EarlyStopping(patience: 300, batchesPerEpoch: 2500).validationFrequency == 150)
        #expect(EarlyStopping(patience: 1, batchesPerEpoch: 2500).validationFrequency == 1)
    }

    @Test func testErrorRecordedWithBest() {
        var s = EarlyStopping(patience: 100, batchesPerEpoch: 10)
        #expect(s.testErrorAtBest == nil)
        _ = s.recordValidation(0.2, at: 9)
        s.recordTest(0.25)
        #expect(s.testErrorAtBest == 0.25)
    }
}
