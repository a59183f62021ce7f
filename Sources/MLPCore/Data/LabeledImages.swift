// Images as rows of Float32 pixels in [0, 1] with their labels: the storage one split owns, and
// views of some of its rows.
import Foundation

/// Images (n, 784) and their labels (n), viewed from storage that the dataset owns.
public struct Samples {
    public let images: Matrix                       // (n, 784) pixels in [0, 1]
    public let labels: UnsafeMutablePointer<Int32>  // (n) digits 0-9
    /// The same images without their zeros, for scoring, when that pays (`compressedForScoring`).
    public let sparseImages: PairedRows?
    public var count: Int { images.rows }

    public init(images: Matrix, labels: UnsafeMutablePointer<Int32>, sparseImages: PairedRows? = nil) {
        precondition(sparseImages.map { $0.rows == images.rows && $0.columns == images.columns } ?? true,
                     "sparse form of other images")
        self.images = images
        self.labels = labels
        self.sparseImages = sparseImages
    }

    /// Samples `start ..< start + count` (dense only: slices are batches and splits).
    public func slice(_ start: Int, count: Int) -> Samples {
        Samples(images: images.rows(start, count: count), labels: labels + start)
    }

    /// These samples plus their sparse form when `architecture`'s first layer is scored faster
    /// from it (MNIST: 19 % non-zero pixels).
    public func compressedForScoring(_ architecture: Architecture) -> Samples {
        let sparse = SparseRows(images)
        return sparse.beatsDense(outputs: architecture.layerSizes[1])
            ? Samples(images: images, labels: labels, sparseImages: PairedRows(sparse)) : self
    }
}

/// Owns the pixels and labels of one IDX image/label pair.
public final class LabeledImages {
    public let pixels: FloatStorage
    public let labelStorage: Storage<Int32>
    public let all: Samples

    public init(count: Int, pixelsPerImage: Int = 784) {
        pixels = FloatStorage(count: count * pixelsPerImage)
        labelStorage = Storage<Int32>(count: count)
        all = Samples(images: Matrix(pixels.base, rows: count, columns: pixelsPerImage), labels: labelStorage.base)
    }

    /// Reads an image file and its label file and checks that they agree.
    public static func load(images imagesPath: String, labels labelsPath: String) throws -> LabeledImages {
        let images = try IDX.readImages(imagesPath)
        let labels = try IDX.readLabels(labelsPath)
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DataError.countMismatch(images: imagesPath, imageCount: images.dimensions[0],
                                          labels: labelsPath, labelCount: labels.dimensions[0])
        }
        let set = LabeledImages(count: images.dimensions[0])
        images.bytes.withUnsafeBufferPointer { bytes in
            for i in 0..<bytes.count { set.pixels.base[i] = Float(bytes[i]) / 255 }
        }
        for (i, label) in labels.bytes.enumerated() { set.labelStorage.base[i] = Int32(label) }
        return set
    }
}
