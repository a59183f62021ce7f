// `mlp inspect`: a checkpoint's header, metadata and tensor table, then its verification.
import ArgumentParser
import Foundation
import MLPCore

/// `text` with every control character shown as an escape (\u{1B} as "\\u{1B}").
func printable(_ text: String) -> String {
    String(text.unicodeScalars.flatMap { $0.properties.generalCategory == .control ? Array("\\u{\(String($0.value, radix: 16, uppercase: true))}".unicodeScalars) : [$0] }
        .map(Character.init))
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a checkpoint's header, metadata and tensor table, and verify it.")

    @Argument(help: ArgumentHelp("A .safetensors file.", valueName: "file"))
    var file: String

    func run() throws {
        let bytes = try Checkpoint.readBytes(file)
        let container = try SafeTensorsFile.decode(bytes, path: file)
        print("\(file): safetensors, \(bytes.count) bytes, header \(container.dataOffset - 8) bytes, data \(bytes.count - container.dataOffset) bytes")
        print("metadata:")
        // Keys and values as text, never as terminal control: a crafted header cannot draw lines.
        let shown = container.metadata.map { (printable($0.key), printable($0.value)) }.sorted { $0.0 < $1.0 }
        let width = shown.map(\.0.count).max() ?? 0
        for (key, value) in shown {
            print("  " + key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        print("tensors:")
        print("  " + "name".padding(toLength: 16, withPad: " ", startingAt: 0) + "dtype  " + "shape".padding(toLength: 14, withPad: " ", startingAt: 0) + "data bytes")
        for t in container.tensors {
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            print("  " + t.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "F32    " + shape.padding(toLength: 14, withPad: " ", startingAt: 0) + "\(t.begin)..<\(t.end)")
        }
        fflush(nil)
        // A failure is reported like every command's: `mlp: error: ...` on stderr, status 1.
        let checkpoint = try Checkpoint.decode(bytes, path: file)
        let metadata = container.metadata["metadata_crc32"] == nil ? "metadata not checked (format 1 files carry no metadata checksum)" : "metadata checksum matches"
        print("verified: \(checkpoint.configuration.architecture.summary), \(checkpoint.parameters.layout.count) parameters, data checksum \(printable(container.metadata["data_crc32"] ?? "?")) matches, \(metadata)")
    }
}
