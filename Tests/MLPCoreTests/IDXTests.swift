import Foundation
import MLPCore
import TestSupport
import Testing

@Suite struct IDXTests {
    @Test(arguments: [false, true])
    func readsGoodFiles(gzip: Bool) throws {
        let dir = Scratch()
        let images = dir.file("img" + (gzip ? ".gz" : "")), labels = dir.file("lab" + (gzip ? ".gz" : ""))
        writeMNISTFixture(images: images, labels: labels, count: 3, gzip: gzip)
        let set = try LabeledImages.load(images: images, labels: labels)
        #expect(set.all.count == 3)
        #expect(set.all.images.base[1] == Float(7) / 255)
        #expect(set.all.labels[2] == 2)
    }

    /// Every way an IDX file can be wrong, with the words its one-line message must contain.
    static let badFiles: [(name: String, bytes: [UInt8], gzip: Bool, expected: [String])] = [
        ("empty", [], false, ["empty"]),
        ("wrong magic: a label file", idxBytes(magic: 0x0801, dimensions: [2], data: [1, 2]), false, ["magic 0x00000801", "expected 0x00000803", "labels file"]),
        ("wrong magic: not IDX", Array("hello world, not an idx file".utf8), false, ["magic", "IDX file"]),
        ("truncated data", idxBytes(magic: 0x0803, dimensions: [2, 28, 28], data: [UInt8](repeating: 0, count: 1000)), false, ["truncated", "1584", "1016"]),
        ("truncated header", [0, 0, 8, 3, 0, 0], false, ["truncated"]),
        ("trailing bytes", idxBytes(magic: 0x0803, dimensions: [1, 28, 28], data: [UInt8](repeating: 0, count: 785)), false, ["longer than its header"]),
        ("wrong dimensions", idxBytes(magic: 0x0803, dimensions: [1, 32, 32], data: [UInt8](repeating: 0, count: 1024)), false, ["dimensions 1×32×32", "28×28"]),
        ("not gzip", Array("plain text pretending".utf8), true, ["not gzip", "0x70 0x6c"]),
        ("corrupt gzip", [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 0xFF, 0xFF, 0xFF, 0x00, 0x13], true, ["corrupt gzip"]),
    ]

    @Test(arguments: 0..<badFiles.count)
    func rejectsBadImageFiles(_ index: Int) {
        let bad = Self.badFiles[index]
        let dir = Scratch()
        let path = dir.file("images" + (bad.gzip ? ".gz" : ""))
        write(bad.bytes, to: path)
        do {
            _ = try IDX.readImages(path)
            Issue.record("\(bad.name): no error")
        } catch let error as DataError {
            for word in bad.expected + [path] {
                #expect(error.description.contains(word), "\(bad.name): \"\(error.description)\" lacks \"\(word)\"")
            }
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("\(bad.name): unexpected error \(error)")
        }
    }

    @Test func truncatedGzipStream() throws {
        let dir = Scratch()
        let good = dir.file("good.gz"), cut = dir.file("cut.gz")
        writeMNISTFixture(images: good, labels: dir.file("l.gz"), count: 50, gzip: true)
        let bytes = [UInt8](FileManager.default.contents(atPath: good)!)
        write(Array(bytes.prefix(bytes.count / 2)), to: cut)
        #expect(throws: DataError.self) { try IDX.readImages(cut) }
    }

    @Test func countMismatchAndBadLabels() {
        let dir = Scratch()
        writeMNISTFixture(images: dir.file("i"), labels: dir.file("l"), count: 3, gzip: false)
        write(idxBytes(magic: 0x0801, dimensions: [2], data: [1, 2]), to: dir.file("l2"))
        #expect(throws: DataError.countMismatch(images: dir.file("i"), imageCount: 3, labels: dir.file("l2"), labelCount: 2)) {
            try LabeledImages.load(images: dir.file("i"), labels: dir.file("l2"))
        }
        write(idxBytes(magic: 0x0801, dimensions: [3], data: [1, 12, 2]), to: dir.file("l3"))
        #expect(throws: DataError.badLabel(dir.file("l3"), index: 1, value: 12)) { try IDX.readLabels(dir.file("l3")) }
    }

    /// A gzip bomb: a header that promises one image, then 200 MB of zeros. Reading stops one byte
    /// past the promise (the integration test Hostile.gzipBombStaysSmall measures the memory).
    @Test func inflatesNoMoreThanTheHeaderPromises() {
        let dir = Scratch()
        let path = dir.file("bomb.gz")
        writeGzip(idxBytes(magic: 0x0803, dimensions: [1, 28, 28], data: [UInt8](repeating: 0, count: 200_000_000)), to: path)
        #expect(throws: DataError.trailingBytes(path, expectedBytes: 16 + 784)) { try IDX.readImages(path) }
        // A header whose sizes could not fit in memory is refused before anything is allocated.
        let huge = dir.file("huge")
        write(idxBytes(magic: 0x0803, dimensions: [4_000_000_000, 28, 28], data: []), to: huge)
        let error = #expect(throws: DataError.self) { try IDX.readImages(huge) }
        #expect(error?.description.contains("header promises 4000000000×28×28 bytes, more than this machine's") == true, "\(error.map { "\($0)" } ?? "")")
    }

    /// A directory or a loop of symbolic links where a file should be: named as what it is.
    @Test func notAFile() throws {
        let dir = Scratch()
        try FileManager.default.createDirectory(atPath: dir.file("d.gz"), withIntermediateDirectories: true)
        #expect(throws: DataError.notAFile(dir.file("d.gz"), what: "a directory")) { try IDX.readImages(dir.file("d.gz")) }
        try FileManager.default.createSymbolicLink(atPath: dir.file("a"), withDestinationPath: dir.file("b"))
        try FileManager.default.createSymbolicLink(atPath: dir.file("b"), withDestinationPath: dir.file("a"))
        #expect(throws: DataError.notAFile(dir.file("a"), what: "a loop of symbolic links")) { try IDX.readImages(dir.file("a")) }
    }

    @Test func missingFilesAndDirectories() {
        let error = #expect(throws: DataError.self) { try IDX.readImages("/nonexistent/x.gz") }
        #expect(error?.description.contains("not found") == true)
        #expect(error?.exitCode == 2)
        let dirError = #expect(throws: DataError.self) { try MNIST.load(directory: "/nonexistent-dir") }
        #expect(dirError?.description.contains("--data") == true)
    }
}

@Suite struct MNISTTests {
    @Test func tutorialSplit() throws {
        let mnist = try MNIST.load(directory: bundledMNIST)
        #expect(mnist.train.count == 50_000 && mnist.validation.count == 10_000 && mnist.test.count == 10_000)
        // Validation is the last 10,000 training images, straight after the training split.
        #expect(mnist.validation.images.base == mnist.train.images.base + 50_000 * 784)
        let pixels = UnsafeBufferPointer(start: mnist.train.images.base, count: 50_000 * 784)
        #expect(pixels.allSatisfy { $0 >= 0 && $0 <= 1 } && pixels.contains(1))
        #expect(mnist.train.labels[0] == 5 && mnist.test.labels[0] == 7)  // MNIST's first training digit is a 5, first test digit a 7
        let limited = try MNIST.load(directory: bundledMNIST, trainLimit: 100, evalLimit: 10)
        #expect(limited.train.count == 100 && limited.validation.count == 10 && limited.test.count == 10)
    }

    @Test func rawFilesWorkToo() throws {
        let dir = Scratch()
        writeMNISTFixture(images: dir.file(MNIST.trainImages), labels: dir.file(MNIST.trainLabels), count: 10_010, gzip: false)
        writeMNISTFixture(images: dir.file(MNIST.testImages), labels: dir.file(MNIST.testLabels), count: 5, gzip: false)
        let mnist = try MNIST.load(directory: dir.path)
        #expect(mnist.train.count == 10 && mnist.validation.count == 10_000 && mnist.test.count == 5)
    }

    @Test func emptyTestSetIsRefused() {
        let dir = Scratch()
        writeMNISTFixture(images: dir.file(MNIST.trainImages), labels: dir.file(MNIST.trainLabels), count: 10_010, gzip: false)
        writeMNISTFixture(images: dir.file(MNIST.testImages), labels: dir.file(MNIST.testLabels), count: 0, gzip: false)
        let error = #expect(throws: DataError.self) { try MNIST.load(directory: dir.path) }
        #expect(error?.description.contains("0 images, need at least 1 (the test set)") == true, "\(String(describing: error))")
    }

    @Test func tooFewTrainingImages() {
        let dir = Scratch()
        writeMNISTFixture(images: dir.file(MNIST.trainImages), labels: dir.file(MNIST.trainLabels), count: 100, gzip: false)
        writeMNISTFixture(images: dir.file(MNIST.testImages), labels: dir.file(MNIST.testLabels), count: 5, gzip: false)
        let error = #expect(throws: DataError.self) { try MNIST.load(directory: dir.path) }
        #expect(error?.description.contains("need at least 10001") == true)
    }
}
