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

    /// Reads any unsigned-byte IDX file whose magic number is `magic`. Nothing is believed before
    /// it is checked: the header is read first, its sizes are checked against the machine's memory,
    /// and then exactly that many bytes are read (inflated, for gzip), plus one to tell "longer".
    public static func read(_ path: String, magic expectedMagic: UInt32) throws -> IDXArray {
        let source = try Source(path)
        let rank = Int(expectedMagic & 0xFF)
        let headerBytes = 4 + 4 * rank
        let header = try source.read(headerBytes)
        guard !header.isEmpty else { throw DataError.empty(path) }
        guard header.count >= 4 else { throw DataError.truncated(path, expectedBytes: 4, foundBytes: header.count) }
        let magic = bigEndianUInt32(header, at: 0)
        guard magic == expectedMagic else { throw DataError.badMagic(path, found: magic, expected: expectedMagic) }
        guard header.count >= headerBytes else {
            throw DataError.truncated(path, expectedBytes: headerBytes, foundBytes: header.count)
        }
        let dimensions = (0..<rank).map { Int(bigEndianUInt32(header, at: 4 + 4 * $0)) }
        let (dataBytes, overflow) = dimensions.reduce((1, false)) { partial, d in
            let (product, o) = partial.0.multipliedReportingOverflow(by: d)
            return (product, partial.1 || o)
        }
        // The bytes and their Float32 copy (5 bytes each) must fit in memory with room to spare.
        let memory = InputFile.physicalMemory
        guard !overflow, memory == 0 || dataBytes <= memory / 10 else {
            throw DataError.tooLarge(path, dimensions: dimensions, memory: memory)
        }
        let data = try source.read(dataBytes + 1)
        let expected = headerBytes + dataBytes
        if data.count < dataBytes {
            try source.finish()   // a gzip stream cut short says so; a whole one is a short IDX file
            throw DataError.truncated(path, expectedBytes: expected, foundBytes: headerBytes + data.count)
        }
        if data.count > dataBytes { throw DataError.trailingBytes(path, expectedBytes: expected) }
        try source.finish()
        return IDXArray(dimensions: dimensions, bytes: data)
    }

    /// A regular file's bytes, raw or inflated (when it starts as gzip does; a name ending in .gz
    /// must), read in bounded pieces.
    final class Source {
        private let path: String
        private var descriptor: Int32
        private var gzip: gzFile?

        init(_ path: String) throws {
            self.path = path
            switch InputFile.open(path) {
            case .failure(.missing): throw DataError.missingFile(path)
            case .failure(.notAFile(let what)): throw DataError.notAFile(path, what: what)
            case .failure(.unreadable(let reason)): throw DataError.unreadable(path, reason: reason)
            case .success(let file): descriptor = file.descriptor
            }
            var head = [UInt8](repeating: 0, count: 2)
            let n = pread(descriptor, &head, 2, 0)
            if n <= 0 { close(descriptor); throw DataError.empty(path) }
            let isGzip = n == 2 && head[0] == 0x1F && head[1] == 0x8B
            if path.hasSuffix(".gz") && !isGzip {
                close(descriptor)
                throw DataError.notGzip(path, firstBytes: head.prefix(n).map { String(format: "0x%02x", $0) }.joined(separator: " "))
            }
            if isGzip {
                guard let file = gzdopen(descriptor, "rb") else {
                    close(descriptor)
                    throw DataError.unreadable(path, reason: "gzdopen failed")
                }
                gzip = file
                descriptor = -1   // gzclose closes it
            }
        }

        deinit {
            if let gzip { gzclose_r(gzip) } else if descriptor >= 0 { close(descriptor) }
        }

        /// Up to `count` bytes (fewer at the end of the data).
        func read(_ count: Int) throws -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                let want = min(count - filled, 1 << 30)
                let n: Int = bytes.withUnsafeMutableBytes { buffer in
                    if let gzip { return Int(gzread(gzip, buffer.baseAddress! + filled, UInt32(want))) }
                    return Glibc.read(descriptor, buffer.baseAddress! + filled, want)
                }
                if n < 0 && gzip == nil && errno == EINTR { continue }
                if n < 0 { throw failure() }
                if n == 0 { break }
                filled += n
            }
            bytes.removeLast(count - filled)
            return bytes
        }

        /// After the last read: a gzip stream's missing or damaged trailer shows only now.
        func finish() throws {
            guard let gzip else { return }
            var code: Int32 = 0
            let message = gzerror(gzip, &code).map { String(cString: $0) } ?? ""
            if code != Z_OK && code != Z_STREAM_END {
                throw DataError.corruptGzip(path, reason: message.isEmpty ? "zlib error \(code)" : message)
            }
        }

        private func failure() -> DataError {
            guard let gzip else { return .unreadable(path, reason: String(cString: strerror(errno))) }
            var code: Int32 = 0
            let message = gzerror(gzip, &code).map { String(cString: $0) } ?? "zlib error \(code)"
            return .corruptGzip(path, reason: message)
        }
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }
}
