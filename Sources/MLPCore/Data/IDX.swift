// The IDX file format of MNIST (http://yann.lecun.com/exdb/mnist/), raw or gzip-compressed.
// Unsigned-byte arrays only; every header field and the exact file length are checked.
import CZlib
import Foundation

public struct IDXArray: Equatable, Sendable {
    public let dimensions: [Int]
    public let bytes: [UInt8]  // the data after the header, row-major
}

public enum IDX {
    public static let imagesMagic: UInt32 = 0x0000_0803  // ubyte, 3 dimensions
    public static let labelsMagic: UInt32 = 0x0000_0801  // ubyte, 1 dimension

    /// Reads an image file: (count, 28, 28) unsigned bytes.
    public static func readImages(_ path: String) throws -> IDXArray {
        let array = try read(path, magic: imagesMagic)
        guard array.dimensions.count == 3, array.dimensions[1] == 28, array.dimensions[2] == 28 else {
            throw DataError.badDimensions(path, found: array.dimensions, expected: "N×28×28 (28×28-pixel images)")
        }
        return array
    }

    /// Reads a label file: (count) unsigned bytes, each a digit 0-9.
    public static func readLabels(_ path: String) throws -> IDXArray {
        let array = try read(path, magic: labelsMagic)
        if let index = array.bytes.firstIndex(where: { $0 > 9 }) {
            throw DataError.badLabel(path, index: index, value: array.bytes[index])
        }
        return array
    }

    /// Reads any unsigned-byte IDX file whose magic number is `magic`.
    public static func read(_ path: String, magic expectedMagic: UInt32) throws -> IDXArray {
        let content = try readDecompressed(path)
        guard !content.isEmpty else { throw DataError.empty(path) }
        guard content.count >= 4 else { throw DataError.truncated(path, expectedBytes: 4, foundBytes: content.count) }
        let magic = bigEndianUInt32(content, at: 0)
        guard magic == expectedMagic else { throw DataError.badMagic(path, found: magic, expected: expectedMagic) }

        let rank = Int(expectedMagic & 0xFF)
        let headerBytes = 4 + 4 * rank
        guard content.count >= headerBytes else {
            throw DataError.truncated(path, expectedBytes: headerBytes, foundBytes: content.count)
        }
        let dimensions = (0..<rank).map { Int(bigEndianUInt32(content, at: 4 + 4 * $0)) }
        let (dataBytes, overflow) = dimensions.reduce((1, false)) { partial, d in
            let (product, o) = partial.0.multipliedReportingOverflow(by: d)
            return (product, partial.1 || o)
        }
        guard !overflow else { throw DataError.badDimensions(path, found: dimensions, expected: "a size that fits in memory") }
        let expected = headerBytes + dataBytes
        if content.count < expected { throw DataError.truncated(path, expectedBytes: expected, foundBytes: content.count) }
        if content.count > expected { throw DataError.trailingBytes(path, expectedBytes: expected) }
        return IDXArray(dimensions: dimensions, bytes: Array(content[headerBytes...]))
    }

    /// The file's bytes, inflated when the name ends in .gz (which then must be gzip data).
    static func readDecompressed(_ path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw DataError.missingFile(path)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError.unreadable(path, reason: "permission denied or not a regular file")
        }
        let head = (try? handle.read(upToCount: 2)) ?? Data()
        try? handle.close()
        if head.isEmpty { throw DataError.empty(path) }
        let isGzip = head.count == 2 && head[head.startIndex] == 0x1F && head[head.startIndex + 1] == 0x8B
        if path.hasSuffix(".gz") && !isGzip {
            throw DataError.notGzip(path, firstBytes: head.map { String(format: "0x%02x", $0) }.joined(separator: " "))
        }
        if !isGzip {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw DataError.unreadable(path, reason: "read failed")
            }
            return [UInt8](data)
        }
        return try inflate(path)
    }

    private static func inflate(_ path: String) throws -> [UInt8] {
        guard let file = gzopen(path, "rb") else { throw DataError.unreadable(path, reason: "gzopen failed") }
        defer { gzclose_r(file) }
        var content: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "zlib error \(code)"
                throw DataError.corruptGzip(path, reason: message)
            }
            if n == 0 { break }
            content.append(contentsOf: chunk[0..<Int(n)])
        }
        // gzread reports a missing or damaged trailer only through gzerror once it reaches the end.
        var code: Int32 = 0
        let message = gzerror(file, &code).map { String(cString: $0) } ?? ""
        if code != Z_OK && code != Z_STREAM_END {
            throw DataError.corruptGzip(path, reason: message.isEmpty ? "zlib error \(code)" : message)
        }
        return content
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }
}
