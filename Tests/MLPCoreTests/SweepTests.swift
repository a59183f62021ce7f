// The sweep's pure parts: lists, the grid's order and names, halving's rungs and survivors, tables.
import Foundation
import MLPCore
import Testing

@Suite struct SweepGridTests {
    @Test func listsAreCanonicalAndCheckedForRepeats() throws {
        #expect(try SweepGrid.values(.lr, "0.1, 1e-2,0.001") == ["0.1", "0.01", "0.001"])
        #expect(try SweepGrid.values(.l2, "0,1e-4") == ["0", "0.0001"])
        #expect(try SweepGrid.values(.hidden, "100,500x300") == ["100", "500x300"])
        #expect(SweepParameter.hidden.trainArgument("500x300") == "500,300")
        #expect(throws: SweepGrid.ListError.self) { try SweepGrid.values(.lr, "0.1,1e-1") }
        #expect(throws: SweepGrid.ListError.self) { try SweepGrid.values(.lr, "") }
        #expect(throws: SweepGrid.ListError.self) { try SweepGrid.values(.batchSize, "20,2.5") }
        #expect(throws: SweepGrid.ListError.self) { try SweepGrid.values(.hidden, "100x") }
    }

    @Test func gridOrderNamesAndFlags() throws {
        let points = try SweepGrid.points([(.lr, ["0.1", "0.01"]), (.hidden, ["100", "500"]), (.l2, ["0", "0.0001"])])
        #expect(points.count == 8)
        #expect(points.map(\.name).prefix(3) == ["lr=0.1_hidden=100_l2=0", "lr=0.1_hidden=100_l2=0.0001", "lr=0.1_hidden=500_l2=0"])
        #expect(points[7].trainArguments == ["--lr", "0.01", "--hidden", "500", "--l2", "0.0001"])
        #expect(Set(points).count == 8)
    }

    func result(_ lr: String, _ errors: [Double?], status: SweepResult.Status = .done) -> SweepResult {
        SweepResult(point: SweepPoint([.lr: lr]), settings: ["lr": lr], bestValidationError: errors.last ?? nil, bestIteration: 1,
                    testError: nil, epochs: errors.count, seconds: 0, ranks: 1, group: 0, status: status, rung: errors.count, rungEpochs: errors.count,
                    rungErrors: errors, reason: "")
    }

    @Test func halvingRungsAndSurvivors() {
        #expect(Halving.rungs(every: nil, epochs: 50) == [50])
        #expect(Halving.rungs(every: 5, epochs: 20) == [5, 10, 20])
        #expect(Halving.rungs(every: 5, epochs: 30) == [5, 10, 20, 30])
        let order = ["a", "b", "c", "d", "e"].map { SweepPoint([.lr: $0]) }
        // Ranked by the error at rung 0 (not the latest), ties in grid order, the top half rounded up;
        // a survivor whose patience ran out at that rung does not go on.
        let rows = [result("a", [0.3]), result("b", [0.1, 0.05]), result("c", [0.2], status: .patience), result("d", [0.1]), result("e", [nil], status: .diverged)]
        #expect(Halving.survivors(of: rows, rung: 0, order: order).map { $0.values[.lr]! } == ["b", "d"])
    }

    @Test func tablesAreSortedByValidationErrorAndQuoted() {
        let order = ["a", "b", "c"].map { SweepPoint([.lr: $0]) }
        var failed = result("c", [nil], status: .failed)
        failed.reason = "disk full, \"really\""
        let ranked = SweepResult.ranked([failed, result("a", [0.2]), result("b", [0.1])], order: order)
        #expect(ranked.map { $0.point.values[.lr]! } == ["b", "a", "c"])
        let csv = SweepResult.csv(ranked, halving: false).split(separator: "\n")
        #expect(csv[0] == "lr,hidden,l1,l2,batch_size,lr_decay,best_validation_error,best_iteration,test_error,epochs,seconds,ranks,status,reason")
        #expect(csv[3].hasSuffix(",failed,\"disk full, \"\"really\"\"\""))
        #expect(SweepResult.markdown(ranked, halving: true).contains("| 10.00 % |"))
    }
}
