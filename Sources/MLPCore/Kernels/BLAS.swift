// The one file that talks to OpenBLAS: matrix products on row-major views, always on one thread.
// A rank is a core's worth of work: parallelism comes from ranks (and from the evaluator's own
// threads), never from OpenBLAS's pool, whose thread count changes the bits of a product (1 and 2
// threads gave different parameters after 2 epochs) and would make a run depend on its machine's
// OPENBLAS_NUM_THREADS.
import COpenBLAS
import Foundation

public enum BLAS {
    /// Set once per process, before the first product, whatever OPENBLAS_NUM_THREADS says.
    private static let oneThread: Void = openblas_set_num_threads(1)

    /// C = alpha · op(A) · op(B) + beta · C, with op(X) = Xᵀ when the flag says so.
    /// Shapes are checked: a mismatch is a programming error, not user input.
    @inline(__always)
    public static func gemm(
        _ a: Matrix, _ b: Matrix, into c: Matrix,
        transposeA transA: Bool = false, transposeB transB: Bool = false,
        alpha: Float = 1, beta: Float = 0
    ) {
        let m = transA ? a.columns : a.rows
        let k = transA ? a.rows : a.columns
        let kB = transB ? b.columns : b.rows
        let n = transB ? b.rows : b.columns
        precondition(k == kB && c.rows == m && c.columns == n,
                     "gemm shapes: op(A) \(m)×\(k), op(B) \(kB)×\(n), C \(c.rows)×\(c.columns)")
        if m == 0 || n == 0 { return }
        _ = oneThread
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k),
                    alpha, a.base, blasint(a.stride), b.base, blasint(b.stride),
                    beta, c.base, blasint(c.stride))
    }

    /// y = alpha · Aᵀ · 1 + beta · y: the column sums of A, scaled and added to y (bias gradients).
    public static func addColumnSums(of a: Matrix, into y: UnsafeMutablePointer<Float>,
                                     alpha: Float, beta: Float, ones: UnsafePointer<Float>) {
        _ = oneThread
        if a.rows == 0 {
            if beta != 1 { cblas_sscal(blasint(a.columns), beta, y, 1) }
            return
        }
        cblas_sgemv(CblasRowMajor, CblasTrans, blasint(a.rows), blasint(a.columns),
                    alpha, a.base, blasint(a.stride), ones, 1, beta, y, 1)
    }

    /// OpenBLAS's thread count for this process: 1 once any product has run.
    public static var threads: Int { _ = oneThread; return Int(openblas_get_num_threads()) }

    /// Threads for scoring a split while the node's other ranks sleep: the cores this process may
    /// run on (mpirun's binding shrinks them).
    public static func scoringThreads() -> Int { allowedCores() }

    /// CPUs in this process's affinity mask (mpirun's binding shrinks it), from Linux's
    /// /proc/self/status "Cpus_allowed" hex mask; all online CPUs if that cannot be read.
    public static func allowedCores() -> Int {
        let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return online }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
        let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return count > 0 ? count : online
    }

    /// "OpenBLAS 0.3.21": the first two words of OpenBLAS's build configuration.
    public static var version: String {
        guard let config = openblas_get_config() else { return "OpenBLAS (version unknown)" }
        return String(cString: config).split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// The CPU kernel family OpenBLAS picked at run time (e.g. "Haswell", "Cooperlake").
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
