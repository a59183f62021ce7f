// The safetensors container (https://huggingface.co/docs/safetensors): an 8-byte little-endian
// header length N, N bytes of JSON naming each tensor's dtype, shape and byte range, then the raw
// little-endian data. Float32 ("F32") only. The reader trusts nothing: every length, offset and
// shape is checked before a byte of data is touched.
import Foundation

public struct TensorEntry: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let begin: Int   // byte offsets into the data section
    public let end: Int
}

public struct SafeTensorsFile: Equatable {
    public let metadata: [String: String]
    public let tensors: [TensorEntry]   // in data order
    public let dataOffset: Int          // where the data section starts in the file's bytes

    /// The largest header accepted (the reference implementation's limit).
    public static let maximumHeaderLength = 100_000_000

    /// Serialises tensors given as (name, shape, floats) in order, with string metadata.
    public static func encode(metadata: [String: String],
                              tensors: [(name: String, shape: [Int], data: UnsafeBufferPointer<Float>)]) -> [UInt8] {
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            precondition(tensor.shape.reduce(1, *) == tensor.data.count, "shape of \(tensor.name) does not match its data")
            let end = offset + 4 * tensor.data.count
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(jsonString(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        while header.count % 8 != 0 { header.append(0x20) }  // pad with spaces so the data is 8-byte aligned

        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: header)
        for tensor in tensors {
            #if _endian(little)
            bytes.append(contentsOf: UnsafeRawBufferPointer(tensor.data))   // already little-endian: one copy
            #else
            for value in tensor.data {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
            }
            #endif
        }
        return bytes
    }

    /// Parses and checks the header of `bytes`; `path` only names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> SafeTensorsFile {
        try decode(bytes, fileSize: bytes.count, path: path)
    }

    /// The header's length from the file's first 8 bytes, checked against the file's size.
    public static func headerLength(_ first: [UInt8], fileSize: Int, path: String) throws -> Int {
        guard fileSize >= 8, first.count >= 8 else { throw CheckpointError.truncated(path, size: fileSize) }
        let declared = first[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard declared <= UInt64(maximumHeaderLength), Int(declared) <= fileSize - 8, declared >= 2 else {
            throw CheckpointError.badHeaderLength(path, length: declared, fileSize: fileSize)
        }
        return Int(declared)
    }

    /// The same from `bytes`, the file's first bytes (at least its 8 and its header) of `fileSize`:
    /// the tensor table is checked against the file's size before its body is read.
    public static func decode(_ bytes: [UInt8], fileSize: Int, path: String) throws -> SafeTensorsFile {
        let declared = try headerLength(bytes, fileSize: fileSize, path: path)
        guard bytes.count >= 8 + declared else { throw CheckpointError.truncated(path, size: bytes.count) }
        let headerLength = declared
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength]))
        } catch {
            throw CheckpointError.headerNotJSON(path, reason: "the \(headerLength) header bytes do not parse")
        }
        guard let header = json as? [String: Any] else {
            throw CheckpointError.headerNotJSON(path, reason: "the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        if let raw = header["__metadata__"] {
            guard let dictionary = raw as? [String: Any] else {
                throw CheckpointError.badTensor(path, name: "__metadata__", reason: "must be an object of strings")
            }
            for (key, value) in dictionary {
                guard let string = value as? String else {
                    throw CheckpointError.badTensor(path, name: "__metadata__", reason: "value of \(key) is not a string")
                }
                metadata[key] = string
            }
        }
        let dataSize = fileSize - 8 - headerLength
        var tensors: [TensorEntry] = []
        for (name, value) in header where name != "__metadata__" {
            tensors.append(try entry(name, value, dataSize: dataSize, path: path))
        }
        tensors.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        // The tensors must tile the data section exactly: no overlap, no gap, nothing after.
        var expected = 0
        for tensor in tensors {
            if tensor.begin < expected {
                throw CheckpointError.overlappingTensors(path, first: tensors.last { $0.end > tensor.begin && $0 != tensor }?.name ?? "?", second: tensor.name)
            }
            if tensor.begin > expected {
                throw CheckpointError.badTensor(path, name: tensor.name, reason: "leaves a gap at data bytes \(expected)..<\(tensor.begin)")
            }
            expected = tensor.end
        }
        guard expected == dataSize else {
            throw CheckpointError.dataSizeMismatch(path, tensorsEnd: expected, dataSize: dataSize)
        }
        return SafeTensorsFile(metadata: metadata, tensors: tensors, dataOffset: 8 + headerLength)
    }

    private static func entry(_ name: String, _ value: Any, dataSize: Int, path: String) throws -> TensorEntry {
        guard let fields = value as? [String: Any] else {
            throw CheckpointError.badTensor(path, name: name, reason: "its entry is not an object")
        }
        guard let dtype = fields["dtype"] as? String else {
            throw CheckpointError.badTensor(path, name: name, reason: "no dtype")
        }
        guard dtype == "F32" else { throw CheckpointError.wrongDType(path, name: name, dtype: dtype) }
        guard let shapeValues = fields["shape"] as? [Any],
              let shape = integers(shapeValues), shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }) else {
            throw CheckpointError.badTensor(path, name: name, reason: "shape is not a list of sizes")
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], let offsets = integers(offsetValues),
              offsets.count == 2 else {
            throw CheckpointError.badTensor(path, name: name, reason: "data_offsets is not [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw CheckpointError.offsetsOutOfBounds(path, name: name, begin: begin, end: end, dataSize: dataSize)
        }
        let (elements, overflow) = shape.reduce((1, false)) { partial, d in
            let (p, o) = partial.0.multipliedReportingOverflow(by: d)
            return (p, partial.1 || o)
        }
        guard !overflow, elements <= Int.max / 4, end - begin == 4 * elements else {
            throw CheckpointError.badTensor(path, name: name, reason: "shape \(shape) needs \(overflow ? -1 : 4 * elements) bytes, data_offsets give \(end - begin)")
        }
        return TensorEntry(name: name, shape: shape, begin: begin, end: end)
    }

    /// Whole numbers from a JSON array (JSONSerialization gives NSNumber), or nil.
    private static func integers(_ values: [Any]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard let number = value as? NSNumber, let exact = Int(exactly: number.doubleValue) else { return nil }
            result.append(exact)
        }
        return result
    }

    /// A JSON string literal.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
