import Foundation
import MLPCore
import TestSupport
import Testing

@Suite struct CheckpointTests {
    static let architecture = Architecture(inputSize: 6, hiddenSizes: [5, 4], outputSize: 3, activation: .sigmoid)

    static func sample() -> Checkpoint {
        var configuration = TrainingConfiguration()
        configuration.architecture = architecture
        configuration.sgd = SGD(learningRate: 0.05, decay: 0.001, l1: 0.0001, l2: 0.00002)
        configuration.sgd.scaling = .linear
        configuration.sgd.referenceBatch = 8
        configuration.sgd.warmupEpochs = 3
        configuration.batchSize = 32
        configuration.seed = 99
        configuration.shuffle = true
        var state = TrainingState(stopping: EarlyStopping(patience: 12_345, validationFrequency: 77,
                                                          bestValidationError: 0.0123456789, bestIteration: 4321, testErrorAtBest: 0.0135))
        state.iteration = 5000
        state.lossSinceValidation = 1.0 / 3.0
        state.stepsSinceValidation = 17
        state.elapsedSeconds = 12.5
        return Checkpoint(configuration: configuration, trainSamples: 50_000, state: state, worldSize: 3,
                          parameters: randomParameters(architecture, seed: 5))
    }

    @Test func roundTripIsExact() throws {
        let original = Self.sample()
        let decoded = try Checkpoint.decode(original.encoded(), path: "x")
        #expect(decoded.configuration == original.configuration)
        #expect(decoded.state == original.state)
        #expect(decoded.worldSize == 3 && decoded.trainSamples == 50_000)
        expectSameBits(UnsafeBufferPointer(decoded.parameters.flat), UnsafeBufferPointer(original.parameters.flat), "decoded against written")
    }

    @Test func layoutFollowsTheSafetensorsSpecification() throws {
        let sample = Self.sample()
        let bytes = sample.encoded()
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect((8 + headerLength) % 8 == 0, "data section 8-byte aligned")
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])) as! [String: Any]
        let weight = header["hidden.0.weight"] as! [String: Any]
        #expect(weight["dtype"] as? String == "F32")
        #expect(weight["shape"] as? [Int] == [6, 5])
        #expect(weight["data_offsets"] as? [Int] == [0, 120])
        #expect((header["__metadata__"] as! [String: String])["format_version"] == "2")
        // Data is the flat parameter buffer, little-endian.
        let first = UInt32(bytes[8 + headerLength]) | UInt32(bytes[9 + headerLength]) << 8 | UInt32(bytes[10 + headerLength]) << 16 | UInt32(bytes[11 + headerLength]) << 24
        #expect(first == sample.parameters.weight(0).base[0].bitPattern)
    }

    /// Rebuilds a checkpoint with its header text edited (re-padded), keeping the data.
    static func editedHeader(_ bytes: [UInt8], _ edit: (String) -> String) -> [UInt8] {
        let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        var header = Array(edit(String(decoding: bytes[8..<8 + n], as: UTF8.self).trimmingCharacters(in: .whitespaces)).utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out += $0 }
        return out + header + bytes[(8 + n)...]
    }

    static func replacing(_ a: String, _ b: String) -> @Sendable ([UInt8]) -> [UInt8] {
        { bytes in editedHeader(bytes) { header in
            guard let range = header.range(of: a) else { fatalError("fixture: \(a) not in header") }
            return header.replacingCharacters(in: range, with: b)
        } }
    }

    /// The same edit, with the metadata checksum made to match again: what a deliberate editor
    /// would do, so that the value checks themselves are reached.
    static func resigned(_ a: String, _ b: String) -> @Sendable ([UInt8]) -> [UInt8] {
        { bytes in editedHeader(replacing(a, b)(bytes)) { header in
            var object = try! JSONSerialization.jsonObject(with: Data(header.utf8)) as! [String: Any]
            var metadata = object["__metadata__"] as! [String: String]
            metadata["metadata_crc32"] = Checkpoint.metadataCRC(metadata)
            object["__metadata__"] = metadata
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        } }
    }

    /// Every bad checkpoint the issue names, with the words its one-line message must contain.
    static let corruptions: [(name: String, corrupt: @Sendable ([UInt8]) -> [UInt8], expected: [String])] = [
        ("truncated to 5 bytes", { Array($0.prefix(5)) }, ["truncated"]),
        ("truncated in the data", { Array($0.dropLast(10)) }, ["truncated or damaged"]),
        ("huge header length", { b in var b = b; b[5] = 1; return b }, ["header length", "does not fit"]),
        ("header length past the end", { b in var b = b; b[0] = 0xF0; b[1] = 0xFF; b[2] = 0x0F; return b }, ["header length"]),
        ("header not JSON", { b in var b = b; b[8] = UInt8(ascii: "x"); return b }, ["not valid JSON"]),
        ("header is a JSON array", { b in editedHeader(b) { _ in "[1, 2]" } }, ["not a JSON object"]),
        ("offsets out of bounds", replacing("[0,120]", "[0,999999]"), ["outside the", "data section"]),
        ("overlapping tensors", replacing("\"data_offsets\":[284,296]", "\"data_offsets\":[272,284]"), ["overlap"]),
        ("wrong dtype", replacing("\"dtype\":\"F32\"", "\"dtype\":\"F16\""), ["dtype F16", "F32"]),
        ("shape disagrees with the architecture", replacing("\"shape\":[6,5]", "\"shape\":[5,6]"), ["hidden.0.weight", "[5, 6]", "[6, 5]"]),
        ("shape disagrees with the byte count", replacing("\"shape\":[6,5]", "\"shape\":[6,6]"), ["shape [6, 6]", "needs 144 bytes"]),
        ("missing tensor", replacing("\"output.bias\"", "\"output.extra\""), ["no tensor output.bias"]),
        ("checksum mismatch", { b in var b = b; b[b.count - 1] ^= 0x40; return b }, ["checksum", "does not match"]),
        ("metadata edited, its checksum not", replacing("\"iteration\":\"5000\"", "\"iteration\":\"9000\""), ["metadata checksum", "header was changed"]),
        ("missing metadata key", resigned("\"seed\":\"99\",", ""), ["metadata key seed is missing"]),
        ("bad metadata value", resigned("\"batch_size\":\"32\"", "\"batch_size\":\"lots\""), ["batch_size", "lots"]),
        ("negative learning rate", resigned("\"learning_rate\":\"0.05\"", "\"learning_rate\":\"-1\""), ["metadata learning_rate = \"-1\" must be a finite number > 0"]),
        ("negative patience", resigned("\"patience\":\"12345\"", "\"patience\":\"-1\""), ["metadata patience = \"-1\" must be at least 1"]),
        ("NaN best validation error", resigned("\"best_validation_error\":\"0.0123456789\"", "\"best_validation_error\":\"nan\""), ["best_validation_error", "a fraction in 0...1"]),
        ("NaN l2 (was reported as a learning-rate problem)", resigned("\"l2\":\"2e-05\"", "\"l2\":\"nan\""), ["metadata l2 = \"nan\" must be a finite number >= 0"]),
        ("an iteration past any run", resigned("\"iteration\":\"5000\"", "\"iteration\":\"99999999999999\""), ["metadata iteration = \"99999999999999\" must be at least 0 (and at most"]),
        ("zero batch", resigned("\"batch_size\":\"32\"", "\"batch_size\":\"0\""), ["metadata batch_size = \"0\" must be at least 1"]),
        // Counts near Int.max (re-signed): refused by key before any arithmetic could overflow.
        ("epochs 2^63-1", resigned("\"epochs\":\"1000\"", "\"epochs\":\"9223372036854775807\""), ["metadata epochs = \"9223372036854775807\" must be at least 1 (and at most"]),
        ("warm-up 2^63-1", resigned("\"warmup_epochs\":\"3\"", "\"warmup_epochs\":\"9223372036854775807\""), ["metadata warmup_epochs"]),
        ("iteration 2^63-1", resigned("\"iteration\":\"5000\"", "\"iteration\":\"9223372036854775807\""), ["metadata iteration"]),
        ("steps since validation 2^63-1", resigned("\"steps_since_validation\":\"17\"", "\"steps_since_validation\":\"9223372036854775807\""), ["metadata steps_since_validation"]),
        ("world size -7", resigned("\"world_size\":\"3\"", "\"world_size\":\"-7\""), ["metadata world_size = \"-7\" must be at least 1"]),
        ("validation every 10^12 iterations", resigned("\"validation_frequency\":\"77\"", "\"validation_frequency\":\"1000000000000\""), ["metadata validation_frequency"]),
        ("newer format version", replacing("\"format_version\":\"2\"", "\"format_version\":\"3\""), ["version 3", "newer"]),
        ("not our format", replacing("\"format\":\"swift-mpi-mlp\"", "\"format\":\"pytorch\""), ["format", "pytorch"]),
    ]

    @Test(arguments: 0..<corruptions.count)
    func rejectsCorruptCheckpoints(_ index: Int) {
        let c = Self.corruptions[index]
        do {
            _ = try Checkpoint.decode(c.corrupt(Self.sample().encoded()), path: "run/last.safetensors")
            Issue.record("\(c.name): accepted")
        } catch let error as CheckpointError {
            for word in c.expected + ["run/last.safetensors"] {
                #expect(error.description.contains(word), "\(c.name): \"\(error.description)\" lacks \"\(word)\"")
            }
            #expect(!error.description.contains("\n"))
        } catch {
            Issue.record("\(c.name): unexpected \(error)")
        }
    }

    @Test func nonFiniteParametersAreRefused() {
        let checkpoint = Self.sample()
        checkpoint.parameters.storage.base[3] = .nan
        #expect(throws: CheckpointError.nonFinite("p")) { try Checkpoint.decode(checkpoint.encoded(), path: "p") }
    }

    /// Random damage anywhere: the reader must answer with a CheckpointError (or accept bytes it
    /// can verify), never crash or read out of bounds. Seeded, so a failure reproduces.
    @Test func randomizedCorruptionNeverCrashes() {
        let good = Self.sample().encoded()
        var random = FixtureRandom(state: 2024)
        var rejected = 0
        for trial in 0..<3000 {
            var bytes = good
            switch trial % 5 {
            case 0: for _ in 0..<1 + Int(random.next() * 4) { bytes[Int(random.next() * Double(bytes.count))] = UInt8(random.next() * 256) }
            case 1: bytes = Array(bytes.prefix(Int(random.next() * Double(bytes.count))))
            case 2: bytes[8 + Int(random.next() * 400)] = UInt8(random.next() * 256)   // inside the JSON header
            case 3: for i in 0..<8 { bytes[i] = UInt8(random.next() * 256) }
            default:
                let at = 8 + Int(random.next() * 600)
                bytes.insert(contentsOf: (0..<Int(random.next() * 8)).map { _ in UInt8(random.next() * 256) }, at: at)
            }
            do {
                _ = try Checkpoint.decode(bytes, path: "fuzz")
            } catch is CheckpointError {
                rejected += 1
            } catch {
                Issue.record("trial \(trial): unexpected \(error)")
            }
        }
        #expect(rejected > 2500, "most random damage must be detected (\(rejected) of 3000)")
    }

    @Test func writesAreAtomicAndStayInTheDirectory() throws {
        let dir = Scratch()
        let writer = try OutputDirectory(dir.path, flag: "--checkpoint-dir")
        try writer.lock(by: "trainer")
        let first = Self.sample().encoded()
        try writer.write(first, to: "last.safetensors")
        let second = Array(first.reversed())
        let path = try writer.write(second, to: "last.safetensors")
        #expect([UInt8](FileManager.default.contents(atPath: path)!) == second)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == [OutputDirectory.lockFile, "last.safetensors"],
                "no temporary files left behind")

        // One trainer per directory: a second is refused, naming the first's process.
        let again = try OutputDirectory(dir.path, flag: "--checkpoint-dir")
        #expect(throws: FileError.inUse(dir.path, flag: "--checkpoint-dir", by: "trainer", holder: "process \(getpid())")) { try again.lock(by: "trainer") }
        // A writer killed mid-write left its temporary file; the next one to take the directory
        // removes it, and nothing that is not this program's.
        let other = Scratch()
        write([1, 2], to: other.file(".mlp-tmp.999999999.0.last.safetensors"))
        write([1, 2], to: other.file(".mlp-tmp.\(getpid()).1.best.safetensors"))   // a live writer's: kept
        write([1, 2], to: other.file(".notes.tmp.4000000"))                        // not this program's: kept
        try OutputDirectory(other.path, flag: "--checkpoint-dir").lock(by: "trainer")
        #expect(!FileManager.default.fileExists(atPath: other.file(".mlp-tmp.999999999.0.last.safetensors")))
        #expect(FileManager.default.fileExists(atPath: other.file(".mlp-tmp.\(getpid()).1.best.safetensors")))
        #expect(FileManager.default.fileExists(atPath: other.file(".notes.tmp.4000000")))

        _ = try OutputDirectory(dir.file("made/on/demand"), flag: "--checkpoint-dir")   // mkdir -p
        var isDirectory: ObjCBool = false
        #expect(FileManager.default.fileExists(atPath: dir.file("made/on/demand"), isDirectory: &isDirectory) && isDirectory.boolValue)
        write([1], to: dir.file("file"))
        #expect(throws: FileError.notADirectory(dir.file("file"), flag: "--checkpoint-dir")) { try OutputDirectory(dir.file("file/sub"), flag: "--checkpoint-dir") }
        let notWritable = #expect(throws: FileError.self) { try OutputDirectory("/proc", flag: "--checkpoint-dir") }
        #expect(notWritable?.description.contains("not writable") == true)
        #expect(notWritable?.exitCode == 2)
    }

    /// Symbolic links planted where this program writes: the lock file, a configuration folder.
    /// Every write stays in the directory and every target is untouched.
    @Test func plantedLinksAreNeverFollowed() throws {
        let dir = Scratch()
        let victim = dir.file("victim")
        write(Array("precious\n".utf8), to: victim)
        try FileManager.default.createDirectory(atPath: dir.file("run"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.file("run/.mlp.lock"), withDestinationPath: victim)
        let run = try OutputDirectory(dir.file("run"), flag: "--checkpoint-dir")
        #expect(throws: FileError.symbolicLink(dir.file("run/.mlp.lock"), flag: "--checkpoint-dir")) { try run.lock(by: "trainer") }
        // A link with a checkpoint's name is replaced by the checkpoint, its target left alone.
        try FileManager.default.createSymbolicLink(atPath: dir.file("run/last.safetensors"), withDestinationPath: victim)
        try run.write([1, 2, 3], to: "last.safetensors")
        #expect(run.holdsFile("last.safetensors"))
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.file("run/lr=0.1"), withDestinationPath: dir.file("elsewhere"))
        #expect(throws: FileError.symbolicLink(dir.file("run/lr=0.1"), flag: "--checkpoint-dir")) { try run.subdirectory("lr=0.1") }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.file("elsewhere")).isEmpty)
    }

    @Test func readErrorsNameTheFile() {
        #expect(throws: CheckpointError.missingFile("/nonexistent.safetensors")) { try Checkpoint.load("/nonexistent.safetensors") }
        #expect(throws: CheckpointError.unreadable("/tmp", reason: "it is a directory, not a file")) { try Checkpoint.load("/tmp") }
    }
}
