// The README's commands, run as a newcomer would paste them, so that the documentation cannot rot.
// Commands run in a scratch directory that links to the repository's build, data and scripts.
// Long runs get flags appended that shorten them (listed in `shortened`); the few commands that
// other tests or CI run are listed in `runElsewhere` with where.
import Foundation
import TestSupport
import Testing

enum Readme {
    /// The commands of every block fenced ```sh (or `fence`), continuation lines joined, comments
    /// and blank lines dropped. (The Slurm section's block, ```sh slurm, needs a cluster: the Slurm
    /// tests run it.)
    static func commands(_ text: String, fence: String = "```sh") -> [String] {
        var commands: [String] = [], inBlock = false, pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") { inBlock = line == fence; continue }
            guard inBlock else { continue }
            var code = String(line)
            if let hash = code.range(of: "  # ") { code = String(code[..<hash.lowerBound]) }
            code = code.trimmingCharacters(in: .whitespaces)
            if code.isEmpty || code.hasPrefix("#") { continue }
            if code.hasSuffix("\\") { pending += code.dropLast() + " "; continue }
            commands.append(pending + code)
            pending = ""
        }
        return commands
    }

    /// The ```python blocks.
    static func pythonBlocks(_ text: String) -> [String] {
        text.components(separatedBy: "```python\n").dropFirst().compactMap { $0.components(separatedBy: "\n```").first }
    }

    /// Shell words of a command (no quoting in the README's commands).
    static func words(_ command: String) -> [String] { command.split(separator: " ").map(String.init) }
}

extension Integration {
    @Suite struct ReadmeCommands {
        static let readme = try! String(contentsOfFile: Launcher.repository + "/README.md", encoding: .utf8)

        /// Commands exercised somewhere else, and where.
        static let runElsewhere: [(prefix: String, by: String)] = [
            ("bash Scripts/test.sh", ".ci/run runs it"),
            ("swift build -c release", "Scripts/test.sh and Scripts/train.sh build this way"),
            ("mpirun --hostfile hostfile", "Network.readmeMultiNodeCommandWorks runs it on namespace hosts"),
            ("bash Scripts/testnet.sh", "the Network tests bring the cluster up, run this mpirun command on it and take it down"),
        ]

        /// Commands that need root and network namespaces: run only where the Network tests run.
        static let needNamespaces = ["Scripts/bench/network.sh"]

        /// Long commands and the flags appended to shorten them here (later flags win).
        static let shortened: [(contains: String, append: String)] = [
            ("Scripts/train.sh", " --epochs 1 --train-limit 1000 --eval-limit 500"),
            ("--checkpoint-dir runs/tutorial", " --epochs 1 --train-limit 1000 --eval-limit 500"),
            ("Scripts/bench/scaling.sh", " --seconds 0.2 --strong 20 --weak 16 --out runs/scaling-readme"),
            ("Scripts/bench/peers.sh", " --seconds 0.3 --repeats 1"),
            ("Scripts/bench/whole-runs.sh", " --rounds 1 --epochs 1 --train-limit 2000"),
            ("--checkpoint-dir runs/requeue", " --train-limit 1000 --eval-limit 500"),
            ("Scripts/bench/soak.sh", " --seconds 5"),
            ("mlp bench", " --seconds 0.2 --repeats 1 --batch-sizes 20"),
            ("Scripts/bench/network.sh", " --seconds 0.2 --batches 20 --out runs/network-readme"),
            ("--out runs/sweep", " --epochs 2 --train-limit 1000 --eval-limit 300"),
            ("Scripts/bench/sweep.sh", " --rounds 1 --lists --lr=0.1,0.01 -- --epochs 1 --train-limit 400 --eval-limit 200"),
        ]

        @Test func everyCommandRunsAsWritten() throws {
            let s = Scratch().linkRepository()
            let commands = Readme.commands(Self.readme)
            #expect(commands.count >= 15, "found \(commands.count) commands")
            for command in commands {
                if let elsewhere = Self.runElsewhere.first(where: { command.hasPrefix($0.prefix) }) {
                    #expect(!elsewhere.by.isEmpty)
                    continue
                }
                if Self.needNamespaces.contains(where: command.contains) && !TestNet.available { continue }
                let suffix = Self.shortened.first { command.contains($0.contains) }?.append ?? ""
                let shell = command.replacingOccurrences(of: " | head -3", with: suffix + " | head -3")
                let line = suffix.isEmpty || shell != command ? shell : command + suffix
                let result = try Launcher.run(["sh", "-c", line], timeout: 300, directory: s.path)
                #expect(result.status == 0, "README command failed: \(line)\n\(result.output)")
            }
            let python = try #require(Readme.pythonBlocks(Self.readme).first)
            let script = try String(contentsOfFile: Launcher.repository + "/Scripts/checkpoint-eval.py", encoding: .utf8)
            let ours = try Launcher.run(["python3", "-c", python], directory: s.path)
            let eval = try Launcher.run([".build/release/mlp", "eval", "--checkpoint", "runs/quickstart/best.safetensors"], directory: s.path)
            let count = ours.stdout.split(separator: "(").last?.split(separator: " ").first.map(String.init) ?? "?"
            #expect(ours.status == 0 && eval.stdout.contains("(\(count) of 10000 misclassified)"), "python: \(ours.output) mlp: \(eval.stdout)")
            for line in ["x @ tensors[f\"hidden.{i}.weight\"]", "safe_open("] {
                #expect(script.contains(line), "Scripts/checkpoint-eval.py and the README's snippet have drifted apart")
            }
        }
    }
}
