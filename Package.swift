// swift-tools-version:6.0
// A data-parallel trainer for the Theano tutorial's multilayer perceptron on MNIST.
import Foundation
import PackageDescription

// The core's elementwise kernels (tanh, softmax, the SGD pass) are loops LLVM vectorises; built for
// this machine's CPU they run 2-3× faster than for baseline x86-64. Set MLP_TARGET_CPU to build for
// another CPU (e.g. `haswell`, or `x86-64` for any x86-64) when nodes differ from the build machine.
let targetCPU = ProcessInfo.processInfo.environment["MLP_TARGET_CPU"] ?? "native"

let package = Package(
    name: "swift-mpi-mlp",
    products: [
        .executable(name: "mlp", targets: ["mlp"]),
        .library(name: "MLPCore", targets: ["MLPCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: System libraries (found with pkg-config; Debian packages named for a clear error)
        .systemLibrary(
            name: "COpenMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(
            name: "COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]),

        // MARK: C shim: Open MPI's handles are macros Swift cannot import; one function each, no logic
        .target(name: "CMPIShim", dependencies: ["COpenMPI"]),

        // MARK: Core library: model, data, exchange, training loop, checkpoints
        .target(
            name: "MLPCore",
            dependencies: ["CMPIShim", "COpenBLAS", "CZlib"],
            swiftSettings: [.unsafeFlags(["-target-cpu", targetCPU])]),

        // MARK: The command-line tool: parse, validate, call the core
        .executableTarget(
            name: "mlp",
            dependencies: [
                "MLPCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: Tests
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "MLPCoreTests", dependencies: ["MLPCore", "CZlib", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["MLPCore", "mlp", "TestSupport"]),
    ]
)
