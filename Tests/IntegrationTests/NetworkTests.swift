// Across nodes for real: test hosts are network namespaces joined by a bridge (Scripts/testnet.sh),
// the ranks talk TCP, mpirun reaches the hosts through an rsh agent. Runs where namespaces can be
// made (root, iproute2); skipped with a message elsewhere.
import Foundation
import MLPCore
import TestSupport
import Testing

enum TestNet {
    static let script = Launcher.repository + "/Scripts/testnet.sh"

    /// Root, and `ip netns` works.
    static let available: Bool = {
        guard getuid() == 0, let result = try? Launcher.run(["sh", "-c", "command -v ip && command -v tc && command -v unshare && ip netns list"], timeout: 20)
        else { return false }
        return result.status == 0
    }()

    static func up(_ hosts: Int, slots: Int = 1, shaping: [String] = [], in dir: String) throws {
        let result = try Launcher.run(["bash", script, "up", String(hosts), "--slots", String(slots), "--dir", dir] + shaping, timeout: 60)
        guard result.status == 0 else { throw ConfigurationError("testnet up failed: \(result.output)") }
    }

    static func down() { _ = try? Launcher.run(["bash", script, "down"], timeout: 60) }

    /// What the namespace cluster needs beyond the README's multi-node command: the rsh agent,
    /// root's permission passed on to the hosts, more ranks than the machine's cores, and the
    /// README's keepalive settings, so that mpirun notices a lost host in seconds.
    static func extraFlags(dir: String) -> [String] {
        ["--mca", "plm_rsh_agent", dir + "/agent.sh", "-x", "OMPI_ALLOW_RUN_AS_ROOT", "-x", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "--oversubscribe",
         "--mca", "oob_tcp_keepalive_time", "5", "--mca", "oob_tcp_keepalive_intvl", "2", "--mca", "oob_tcp_keepalive_probes", "3"]
    }

    /// mpirun started on the first host, as the README's multi-node command plus `extraFlags`.
    static func mpirun(_ ranks: Int, dir: String) -> [String] {
        ["bash", script, "run", "mlpnet-h1", "mpirun", "--hostfile", dir + "/hostfile", "-np", String(ranks),
         "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=1",
         "--mca", "btl", "tcp,self,vader", "--mca", "btl_tcp_if_include", "eth0", "--mca", "oob_tcp_if_include", "eth0"]
            + extraFlags(dir: dir)
    }
}

extension Integration {
    @Suite(.enabled(if: TestNet.available, "needs root and network namespaces (ip netns); run as root to test across hosts"))
    struct Network {
        let quick = ["train", "--train-limit", "400", "--eval-limit", "200", "--epochs", "2", "--check-replicas", "10"]

        func parameters(_ result: RunResult, _ dir: String, _ name: String) throws -> Checkpoint {
            #expect(result.status == 0, "\(name): \(result.output)")
            return try Checkpoint.load(dir + "/last.safetensors")
        }

        /// 2 and 3 hosts with one rank each, and 2 hosts with 2 ranks each: one rank's bits.
        @Test func hostsMatchOneRank() throws {
            defer { TestNet.down() }
            let s = Scratch()
            let one = try parameters(try Launcher.mlp(quick + ["--checkpoint-dir", s.directory("one")]), s.file("one"), "one rank")
            for (hosts, slots, exchange) in [(2, 1, "auto"), (2, 1, "columns"), (3, 1, "auto"), (2, 2, "auto"), (2, 2, "sharded")] {
                let name = "\(hosts) hosts × \(slots) \(exchange)"
                try TestNet.up(hosts, slots: slots, in: s.directory("net"))
                let dir = s.directory("h\(hosts)x\(slots)\(exchange)")
                let result = try Launcher.run(TestNet.mpirun(hosts * slots, dir: s.file("net")) + [Launcher.binary] + quick
                                              + ["--exchange", exchange, "--checkpoint-dir", dir], timeout: 120)
                #expect(result.stdout.contains("\(hosts * slots) ranks (\(slots) on this node)"), "\(name): \(result.stdout)")
                #expect(result.stdout.contains(" through MPI, "), "ranks on several hosts exchange through MPI: \(name): \(result.stdout)")
                let many = try parameters(result, dir, name)
                expectSameBits(UnsafeBufferPointer(many.parameters.flat), UnsafeBufferPointer(one.parameters.flat), "\(name) against one rank")
            }
        }

        /// The README's multi-node command, unchanged but for the rank count and the hostfile's path
        /// (and the agent flags the namespaces need).
        @Test func readmeMultiNodeCommandWorks() throws {
            defer { TestNet.down() }
            let s = Scratch().linkRepository()
            try TestNet.up(2, slots: 1, in: s.directory("net"))
            let readme = try String(contentsOfFile: Launcher.repository + "/README.md", encoding: .utf8)
            let command = try #require(Readme.commands(readme).first { $0.contains("--hostfile hostfile") })
            var words = Readme.words(command)
            let np = try #require(words.firstIndex(of: "-np"))
            words[np + 1] = "2"
            words[try #require(words.firstIndex(of: "hostfile"))] = s.file("net/hostfile")
            words.insert(contentsOf: TestNet.extraFlags(dir: s.file("net")), at: 1)
            _ = s.directory("runs/cluster")   // the README's `mkdir -p runs/cluster`, run by ReadmeCommands
            let result = try Launcher.run(["bash", TestNet.script, "run", "mlpnet-h1"] + words + ["--epochs", "1", "--train-limit", "400", "--eval-limit", "200"],
                                          timeout: 120, directory: s.path)
            #expect(result.status == 0, "\(words.joined(separator: " ")): \(result.output)")
            #expect(result.stdout.contains("2 ranks (1 on this node)"), "\(result.stdout)")
            #expect(FileManager.default.fileExists(atPath: s.file("runs/cluster/last.safetensors")))
        }

        /// A link taken down mid-run: the watchdog ends the job in bounded time with a message; the
        /// last checkpoint on rank 0 is intact and resumes once the link is back.
        @Test func linkDownEndsTheJobAndTheCheckpointResumes() throws {
            defer { TestNet.down() }
            let s = Scratch()
            try TestNet.up(2, in: s.directory("net"))
            let log = s.file("log.jsonl"), dir = s.directory("c")
            let started = Date()
            let (process, scratch) = try Launcher.start(TestNet.mpirun(2, dir: s.file("net")) + [Launcher.binary, "train", "--train-limit", "4000",
                "--eval-limit", "200", "--epochs", "50", "--watchdog", "8", "--checkpoint-dir", dir, "--log-json", log])
            waitForValidations(log, 2, timeout: 90)
            let down = try Launcher.run(["bash", TestNet.script, "link", "mlpnet-h2", "down"])
            #expect(down.status == 0, "\(down.output)")
            let cut = Date()
            let result = Launcher.finish(process, scratch, started: started, timeout: 120)
            let waited = Date().timeIntervalSince(cut)
            #expect(!result.timedOut && waited < 40, "the job ended \(waited) s after the link went down")
            #expect(result.status != 0)
            #expect(result.stderr.contains("no progress for") && result.stderr.contains("another rank or the network to it is gone"), "\(result.stderr)")
            let saved = try Checkpoint.load(dir + "/last.safetensors")
            #expect(saved.state.iteration >= 400)
            _ = try Launcher.run(["bash", TestNet.script, "link", "mlpnet-h2", "up"])
            let resumed = try Launcher.run(TestNet.mpirun(2, dir: s.file("net")) + [Launcher.binary, "train", "--train-limit", "4000",
                "--eval-limit", "200", "--epochs", String(saved.state.iteration / 200 + 1), "--resume", dir + "/last.safetensors"], timeout: 120)
            #expect(resumed.status == 0, "\(resumed.output)")
        }

        /// 3 % packet loss on every link: the same parameters, bit for bit, as without loss.
        @Test func packetLossChangesNothingButTime() throws {
            defer { TestNet.down() }
            let s = Scratch()
            var results: [Checkpoint] = []
            for shaping in [[], ["--loss", "3"]] {
                try TestNet.up(2, shaping: shaping, in: s.directory("net"))
                let dir = s.directory("run\(results.count)")
                let result = try Launcher.run(TestNet.mpirun(2, dir: s.file("net")) + [Launcher.binary] + quick + ["--checkpoint-dir", dir], timeout: 180)
                results.append(try parameters(result, dir, shaping.isEmpty ? "no loss" : "3 % loss"))
            }
            expectSameBits(UnsafeBufferPointer(results[0].parameters.flat), UnsafeBufferPointer(results[1].parameters.flat), "no loss against 3 % loss")
        }

        /// Only rank 0's host holds the checkpoint directory: the other host sees it empty (a tmpfs
        /// over it), and resuming and checkpointing still work.
        @Test func checkpointsLiveOnRankZerosHostOnly() throws {
            defer { TestNet.down() }
            let s = Scratch()
            try TestNet.up(2, in: s.directory("net"))
            let first = s.directory("private/first"), second = s.directory("private/second")
            _ = try Launcher.mlp(quick + ["--checkpoint-dir", first])
            var command = TestNet.mpirun(2, dir: s.file("net"))
            command.insert(contentsOf: ["env", "MLPNET_HIDE=\(s.file("private"))"], at: 4)
            let result = try Launcher.run(command + [Launcher.binary] + quick + ["--epochs", "3", "--resume", first + "/last.safetensors",
                                                                                 "--checkpoint-dir", second], timeout: 120)
            #expect(result.status == 0, "\(result.output)")
            #expect(try Checkpoint.load(second + "/last.safetensors").state.iteration == 60)
        }

        /// A sweep across hosts: 2 hosts × 1 rank in groups of 1 (the host without the counter
        /// draws over TCP), and 2 hosts × 2 ranks in groups of 2 (each group within a host). Every
        /// configuration equals `mlp train` alone on as many ranks, bit for bit.
        @Test func sweepAcrossHosts() throws {
            defer { TestNet.down() }
            let s = Scratch()
            let flags = ["--train-limit", "400", "--eval-limit", "200", "--epochs", "2"]
            for (slots, ranksPerRun) in [(1, 1), (2, 2)] {
                let name = "2 hosts × \(slots), groups of \(ranksPerRun)"
                try TestNet.up(2, slots: slots, in: s.directory("net"))
                let out = s.file("sweep\(slots)")
                let sweep = try Launcher.run(TestNet.mpirun(2 * slots, dir: s.file("net")) + [Launcher.binary, "sweep", "--lr", "0.1,0.03,0.01",
                                             "--hidden", "20", "--ranks-per-run", String(ranksPerRun), "--out", out] + flags, timeout: 120)
                #expect(sweep.status == 0, "\(name): \(sweep.output)")
                TestNet.down()
                let rows = try String(contentsOfFile: out + "/results.jsonl", encoding: .utf8).split(separator: "\n")
                    .map { try JSONDecoder().decode(SweepResult.self, from: Data($0.utf8)) }
                #expect(rows.count == 3 && rows.allSatisfy { $0.status == .done && $0.ranks == ranksPerRun }, "\(name)")
                for row in rows {
                    let alone = s.file("alone\(slots)-" + row.point.name)
                    let trained = try Launcher.mlp(["train"] + flags + row.point.trainArguments + ["--checkpoint-dir", alone],
                                                   ranks: ranksPerRun == 1 ? nil : ranksPerRun, timeout: 60)
                    #expect(trained.status == 0, "\(name): \(trained.output)")
                    let a = try Checkpoint.load(out + "/" + row.point.name + "/best.safetensors"), b = try Checkpoint.load(alone + "/best.safetensors")
                    #expect(a.state.stopping.bestValidationError == b.state.stopping.bestValidationError, "\(name) \(row.point.name)")
                    // On one host or two, in a group or alone: one rank's sums, the same bits.
                    expectSameBits(UnsafeBufferPointer(a.parameters.flat), UnsafeBufferPointer(b.parameters.flat), "\(name) \(row.point.name)")
                }
            }
        }
    }
}
