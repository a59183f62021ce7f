// The learning-curve charts: a logarithmic error axis when the errors span more than a factor of 3,
// and the best validation error marked with its value.
import MLPCore
import Testing

@Suite struct PlotTests {
    func records(_ errors: [Double]) -> [ValidationRecord] {
        errors.enumerated().map { i, e in
            ValidationRecord(epoch: i + 1, iteration: (i + 1) * 100, batchesPerEpoch: 100, trainLoss: 1 / Double(i + 1),
                             validationError: e, bestValidationError: e, testError: e + 0.001, improved: true, seconds: 1, samplesPerSecond: 1)
        }
    }

    @Test func errorAxisIsLogarithmicWhenTheErrorsSpanWidely() {
        let wide = Chart.learningCurves(records([0.096, 0.05, 0.03, 0.02, 0.0168, 0.017]), title: "run")
        #expect(wide[1].logY && !wide[0].logY)
        let svg = Chart.svg(wide)
        #expect(svg.contains("best 1.68 %"), "the best validation point is marked with its value")
        #expect(svg.contains(">2<") && svg.contains(">5<") && svg.contains(">9<"), "log ticks: every digit within one decade")
        let narrow = Chart.learningCurves(records([0.021, 0.019, 0.0175, 0.0168]), title: "run")
        #expect(!narrow[1].logY)
        #expect(Chart.svg(narrow).contains("best 1.68 %"))
    }

    @Test func logTicksCoverTheRange() {
        #expect(Chart.logTicks(1.6, 10) == [2, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(Chart.logTicks(0.5, 120) == [0.5, 1, 2, 5, 10, 20, 50, 100])
    }

    /// Degenerate and huge ranges end at once with a few ticks (two epochs one ulp apart used to
    /// loop for ever, allocating until it crashed).
    @Test func ticksOfDegenerateRanges() {
        for (lower, upper) in [(1e17, 1e17 + 16), (0, 1e307), (-1e308, 1e308), (1, 1 + 1e-15), (5, 5)] {
            let ticks = Chart.ticks(lower, upper)
            let finite = ticks.allSatisfy { $0.isFinite }
            #expect(!ticks.isEmpty && ticks.count <= 101 && finite, "\(lower)...\(upper): \(ticks.count) ticks")
        }
        #expect(Chart.ticks(0, 10) == [0, 2, 4, 6, 8, 10])
        #expect(Chart.logTicks(1e-300, 1e307).count <= 2)
        let zeroToOne = Chart.logTicks(0, 1)
        #expect(zeroToOne.allSatisfy { $0.isFinite })
    }
}
