// Shared test helpers: tiny networks with random parameters, an independent double-precision
// reference of the tutorial's cost, and fixture files written by the tests themselves.
import CZlib
import Foundation
import MLPCore

/// Deterministic pseudo-random floats for fixtures (not the trainer's generator).
struct FixtureRandom {
    var state: UInt64
    mutating func next() -> Double {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53)
    }
    mutating func uniform(_ low: Double, _ high: Double) -> Float { Float(low + (high - low) * next()) }
}

/// A small network with every parameter random (the output layer too, so every gradient is alive).
func randomParameters(_ architecture: Architecture, seed: UInt64) -> ParameterSet {
    var random = FixtureRandom(state: seed)
    let p = ParameterSet(ParameterLayout(architecture))
    for i in 0..<p.layout.count { p.storage.base[i] = random.uniform(-0.8, 0.8) }
    return p
}

/// A batch of `rows` random inputs in [0, 1] and labels.
func randomBatch(rows: Int, inputs: Int, classes: Int, seed: UInt64) -> LabeledImages {
    var random = FixtureRandom(state: seed)
    let set = LabeledImages(count: rows, pixelsPerImage: inputs)
    for i in 0..<rows * inputs { set.pixels.base[i] = random.uniform(0, 1) }
    for i in 0..<rows { set.labelStorage.base[i] = Int32(random.next() * Double(classes)) }
    return set
}

/// The tutorial's cost in Double, written without any of the library's kernels:
/// mean over rows of −log softmax(f(...f(x W₀ + b₀)...) W_L + b_L)[y] + λ₁ Σ|W| + λ₂ Σ W².
func referenceCost(_ architecture: Architecture, _ flat: [Double], _ batch: Samples, l1: Double, l2: Double) -> Double {
    let layout = ParameterLayout(architecture)
    var total = 0.0
    for r in 0..<batch.count {
        var a = (0..<architecture.inputSize).map { Double(batch.images.row(r)[$0]) }
        for (l, slot) in layout.layers.enumerated() {
            var z = [Double](repeating: 0, count: slot.outputs)
            for j in 0..<slot.outputs {
                var sum = flat[slot.biasOffset + j]
                for i in 0..<slot.inputs { sum += a[i] * flat[slot.weightOffset + i * slot.outputs + j] }
                z[j] = sum
            }
            if l < layout.layers.count - 1 {
                switch architecture.activation {
                case .tanh: z = z.map { Foundation.tanh($0) }
                case .sigmoid: z = z.map { 1 / (1 + Foundation.exp(-$0)) }
                case .relu: z = z.map { max($0, 0) }
                }
            }
            a = z
        }
        let m = a.max()!
        let logSum = Foundation.log(a.map { Foundation.exp($0 - m) }.reduce(0, +)) + m
        total += logSum - a[Int(batch.labels[r])]
    }
    var penalty = 0.0
    for slot in layout.layers {
        for i in slot.weightOffset..<slot.biasOffset { penalty += l1 * abs(flat[i]) + l2 * flat[i] * flat[i] }
    }
    return total / Double(batch.count) + penalty
}

/// Central finite differences of `referenceCost` for every parameter.
func finiteDifferenceGradient(_ architecture: Architecture, _ p: ParameterSet, _ batch: Samples,
                              l1: Double, l2: Double, step h: Double = 1e-4) -> [Double] {
    var flat = p.flat.map(Double.init)
    return (0..<flat.count).map { i in
        let saved = flat[i]
        flat[i] = saved + h
        let up = referenceCost(architecture, flat, batch, l1: l1, l2: l2)
        flat[i] = saved - h
        let down = referenceCost(architecture, flat, batch, l1: l1, l2: l2)
        flat[i] = saved
        return (up - down) / (2 * h)
    }
}

/// An IDX file's bytes: magic, big-endian dimensions, data.
func idxBytes(magic: UInt32, dimensions: [Int], data: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = []
    for value in [magic] + dimensions.map(UInt32.init) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
    return bytes + data
}

func write(_ bytes: [UInt8], to path: String) {
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

/// Writes `bytes` gzip-compressed (through zlib, as real MNIST files are).
func writeGzip(_ bytes: [UInt8], to path: String) {
    let file = gzopen(path, "wb")!
    _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    gzclose(file)
}

/// Tiny IDX image (n×28×28) and label files with a recognisable pattern.
func writeMNISTFixture(images imagesPath: String, labels labelsPath: String, count: Int, gzip: Bool) {
    let pixels = (0..<count * 784).map { UInt8(truncatingIfNeeded: $0 * 7) }
    let labels = (0..<count).map { UInt8($0 % 10) }
    let imageBytes = idxBytes(magic: 0x0803, dimensions: [count, 28, 28], data: pixels)
    let labelBytes = idxBytes(magic: 0x0801, dimensions: [count], data: labels)
    if gzip {
        writeGzip(imageBytes, to: imagesPath)
        writeGzip(labelBytes, to: labelsPath)
    } else {
        write(imageBytes, to: imagesPath)
        write(labelBytes, to: labelsPath)
    }
}

/// The repository's bundled MNIST.
let bundledMNIST: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("data/mnist").path
}()

/// Relative difference with a floor, for comparing floats with a stated tolerance.
func relativeDifference(_ a: Double, _ b: Double, floor: Double = 1e-6) -> Double {
    abs(a - b) / max(abs(a), abs(b), floor)
}
