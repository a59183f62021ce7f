#!/usr/bin/env bash
# Speed against peers, measured side by side: for each repeat it runs, one after another, mlp (one
# rank, then two) and the numpy reference trainer of the same algorithm (Scripts/bench/numpy-mlp.py, one
# process; with --mpi4py also two ranks over mpi4py; with --torch also PyTorch on one thread), then
# prints seconds per 50,000-sample epoch (best of the repeats, with the spread) and each peer's time
# as a multiple of mlp's. Every process uses one BLAS thread. The peers' Python packages go into a
# virtual environment in .build-venv (numpy from the system if present, else from PyPI).
#
#   Scripts/bench/peers.sh [--repeats 3] [--seconds 2] [--mpi4py] [--torch]
set -euo pipefail
cd "$(dirname "$0")/../.."

repeats=3; seconds=2; mpi4py=0; torch=0
while (($#)); do
    case "$1" in
        --repeats) repeats="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --mpi4py) mpi4py=1; shift ;;
        --torch) torch=1; shift ;;
        *) echo "peers.sh: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done

[ -x .build/release/mlp ] || swift build -c release
venv=.build-venv
[ -x $venv/bin/python ] || python3 -m venv --system-site-packages $venv
packages=(numpy)
((mpi4py)) && packages+=(mpi4py)
((torch)) && packages+=(torch)
$venv/bin/python -m pip install --quiet --disable-pip-version-check "${packages[@]}"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them
bench=(.build/release/mlp bench --batch-sizes 20,256 --seconds "$seconds" --repeats 1)
for r in $(seq 1 "$repeats"); do
    echo "repeat $r of $repeats"
    "${bench[@]}" --append-csv "$out/mlp1.csv" > /dev/null
    $venv/bin/python Scripts/bench/numpy-mlp.py --seconds "$seconds" | sed 's/^/numpy1 /' >> "$out/peers.txt"
    mpirun -np 2 --bind-to none "${bench[@]}" --append-csv "$out/mlp2.csv" > /dev/null
    if ((mpi4py)); then
        mpirun -np 2 --bind-to none -x OPENBLAS_NUM_THREADS=1 $venv/bin/python Scripts/bench/numpy-mlp.py --mpi --seconds "$seconds" | sed 's/^/mpi4py2 /' >> "$out/peers.txt"
    fi
    if ((torch)); then
        $venv/bin/python Scripts/bench/numpy-mlp.py --framework torch --seconds "$seconds" | sed 's/^/torch1 /' >> "$out/peers.txt"
    fi
done

python3 - "$out" <<'SUMMARY'
import csv, sys, collections
out = sys.argv[1]
times = collections.defaultdict(list)          # (who, ranks, batch) -> seconds per epoch
for ranks in (1, 2):
    for who in ("mlp",):
        for row in csv.DictReader(open(f"{out}/{who}{ranks}.csv")):
            b = int(row["batch"])
            times[(who, ranks, b)].append(float(row["seconds_per_epoch"]))
            if row["bare_gemm_ms"]:
                times[("sgemm", ranks, b)].append(float(row["bare_gemm_ms"]) / 1e3 * (50000 // b))
for line in open(f"{out}/peers.txt"):
    who, batch, spe, _ = line.split()
    who, ranks = who[:-1], int(who[-1])
    times[(who, ranks, int(batch.split("=")[1]))].append(float(spe.split("=")[1]))
def cell(key, base=None):
    v = times.get(key)
    if not v: return "–"
    best, worst = min(v), max(v)
    text = f"{best:.3f} (±{100 * (worst - best) / best:.0f}%)"
    if base: text += f", {best / base:.2f}×"
    return text
peers = [p for p in ("numpy", "mpi4py", "torch") if any(k[0] == p for k in times)]
print()
print("Seconds per 50,000-sample epoch, best of the repeats (spread); peers also as a multiple of mlp's time.")
print()
print("| workload | mlp | only the sgemm calls of that step | " + " | ".join({"numpy": "numpy", "mpi4py": "numpy + mpi4py", "torch": "PyTorch"}[p] for p in peers) + " |")
print("|---|---:|---:|" + "---:|" * len(peers))
for ranks in (1, 2):
    for b in (20, 256):
        base = min(times[("mlp", ranks, b)]) if times.get(("mlp", ranks, b)) else None
        label = f"batch {b}, {'1 process' if ranks == 1 else '2 ranks'}"
        print(f"| {label} | {cell(('mlp', ranks, b))} | {cell(('sgemm', ranks, b), base)} | "
              + " | ".join(cell((p, ranks, b), base) for p in peers) + " |")
SUMMARY
