// Float32 storage that is allocated once and reused, and row-major matrix views into it.
// The training step never allocates: every buffer it touches is one of these, made up front.
import Foundation

/// Owned, zero-initialised, 64-byte-aligned storage of plain numbers (Float32 data, Int32 labels).
public final class Storage<Element: BitwiseCopyable> {
    public let base: UnsafeMutablePointer<Element>
    public let count: Int

    public init(count: Int) {
        precondition(count >= 0, "negative storage size")
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Element>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            fatalError("out of memory allocating \(bytes) bytes")
        }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        base = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        self.count = count
    }

    deinit { free(base) }

    public var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: base, count: count) }

    public func zero() { UnsafeMutableRawPointer(base).initializeMemory(as: UInt8.self, repeating: 0, count: count * MemoryLayout<Element>.stride) }

    public var array: [Element] { Array(buffer) }
}

public typealias FloatStorage = Storage<Float>

/// A row-major view of `rows × columns` floats, rows contiguous (leading dimension = columns).
public struct Matrix {
    public let base: UnsafeMutablePointer<Float>
    public let rows: Int
    public let columns: Int

    public init(_ base: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        self.base = base
        self.rows = rows
        self.columns = columns
    }

    public var count: Int { rows * columns }

    /// Rows `start ..< start + count` as a view of their own.
    public func rows(_ start: Int, count: Int) -> Matrix {
        precondition(start >= 0 && count >= 0 && start + count <= rows, "row range outside the matrix")
        return Matrix(base + start * columns, rows: count, columns: columns)
    }

    public func row(_ index: Int) -> UnsafeMutablePointer<Float> { base + index * columns }
}
