// The run's curves for TensorBoard (`--tensorboard DIR`): one event file per run of the trainer in
// DIR, written directly. An event file is TFRecord framing (length, masked CRC-32C of the length,
// the record, masked CRC-32C of the record) around `Event` protocol buffers; a validation is one
// Event whose `Summary` holds one `simple_value` per curve, at step = the iteration. A resumed run
// writes a new file in the same directory, and TensorBoard reads the files in name order (their
// names start with the time), so the curves go on where they stopped.
import Foundation

public final class TensorBoardWriter {
    public let directory: OutputDirectory
    public let file: LogFile
    /// Every event file's name starts so (TensorBoard looks for it).
    public static let filePrefix = "events.out.tfevents."

    /// Opens a new event file in `directory`.
    public init(in directory: OutputDirectory) throws {
        self.directory = directory
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
        let stem = Self.filePrefix + "\(Int(Date().timeIntervalSince1970)).\(hostName.isEmpty ? "host" : hostName).\(getpid())"
        var name = stem + ".mlp", n = 1
        while directory.holdsFile(name) { n += 1; name = stem + ".\(n).mlp" }   // two runs in one second
        file = try LogFile(in: directory, name: name, existing: .refuse)
        try file.write(bytes: Self.record(Self.event(wallTime: Date().timeIntervalSince1970, step: 0, fileVersion: "brain.Event:2")))
    }

    /// The scalars of one validation, at step `iteration`.
    public func write(_ record: ValidationRecord, learningRate: Double) throws {
        var values: [(String, Float)] = [
            ("train/loss", Float(record.trainLoss)),
            ("validation/error", Float(record.validationError)),
            ("validation/best_error", Float(record.bestValidationError)),
            ("train/learning_rate", Float(learningRate)),
            ("train/samples_per_second", Float(record.samplesPerSecond)),
        ]
        if let test = record.testError { values.append(("test/error", Float(test))) }
        let summary = values.flatMap { tag, value in Self.field(1, bytes: Self.field(1, string: tag) + Self.field(2, float: value)) }
        try file.write(bytes: Self.record(Self.event(wallTime: Date().timeIntervalSince1970, step: record.iteration, summary: summary)))
    }

    // MARK: Protocol buffers, the few fields used

    /// Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
    static func event(wallTime: Double, step: Int, fileVersion: String? = nil, summary: [UInt8]? = nil) -> [UInt8] {
        var bytes = [UInt8(1 << 3 | 1)] + withUnsafeBytes(of: wallTime.bitPattern.littleEndian, Array.init)
        bytes += [UInt8(2 << 3)] + varint(UInt64(bitPattern: Int64(step)))
        if let fileVersion { bytes += field(3, string: fileVersion) }
        if let summary { bytes += field(5, bytes: summary) }
        return bytes
    }

    static func field(_ number: UInt8, bytes: [UInt8]) -> [UInt8] { [number << 3 | 2] + varint(UInt64(bytes.count)) + bytes }
    static func field(_ number: UInt8, string: String) -> [UInt8] { field(number, bytes: Array(string.utf8)) }
    static func field(_ number: UInt8, float: Float) -> [UInt8] { [number << 3 | 5] + withUnsafeBytes(of: float.bitPattern.littleEndian, Array.init) }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value, bytes: [UInt8] = []
        repeat {
            bytes.append(UInt8(value & 0x7F) | (value >= 0x80 ? 0x80 : 0))
            value >>= 7
        } while value != 0
        return bytes
    }

    // MARK: TFRecord framing

    static func record(_ data: [UInt8]) -> [UInt8] {
        let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
        return length + withUnsafeBytes(of: maskedCRC(length).littleEndian, Array.init)
            + data + withUnsafeBytes(of: maskedCRC(data).littleEndian, Array.init)
    }

    static func maskedCRC(_ bytes: [UInt8]) -> UInt32 {
        let crc = CRC32C.checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord frames its records.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
