// Float32 storage that is allocated once and reused, and row-major matrix views into it.
// The training step never allocates: every buffer it touches is one of these, made up front.
import Foundation

/// Zero-initialised, 64-byte-aligned storage of plain numbers (Float32 data, Int32 labels).
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

/// A row-major view of `rows × columns` floats whose rows start `stride` floats apart
/// (the leading dimension; equal to `columns` unless the view is a column slice).
public struct Matrix {
    public let base: UnsafeMutablePointer<Float>
    public let rows: Int
    public let columns: Int
    public let stride: Int

    public init(_ base: UnsafeMutablePointer<Float>, rows: Int, columns: Int, stride: Int? = nil) {
        precondition((stride ?? columns) >= columns, "a row cannot be longer than the stride")
        self.base = base
        self.rows = rows
        self.columns = columns
        self.stride = stride ?? columns
    }

    /// Number of elements; for contiguous views also the length of the memory they cover.
    public var count: Int { rows * columns }
    public var isContiguous: Bool { stride == columns || rows <= 1 }

    /// Rows `start ..< start + count` as a view of their own.
    public func rows(_ start: Int, count: Int) -> Matrix {
        precondition(start >= 0 && count >= 0 && start + count <= rows, "row range outside the matrix")
        return Matrix(base + start * stride, rows: count, columns: columns, stride: stride)
    }

    /// Columns `start ..< start + count` of every row (a strided view).
    public func columns(_ start: Int, count: Int) -> Matrix {
        precondition(start >= 0 && count >= 0 && start + count <= columns, "column range outside the matrix")
        return Matrix(base + start, rows: rows, columns: count, stride: stride)
    }

    public func row(_ index: Int) -> UnsafeMutablePointer<Float> { base + index * stride }
}
