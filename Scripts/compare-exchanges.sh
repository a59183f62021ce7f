#!/usr/bin/env bash
# Which exchange is fastest on this machine: `mlp bench` on one rank, then on --ranks ranks with
# every --exchange way and both places for the parameters (one shared copy per node, or private
# copies as across nodes), in alternating rounds (the machine runs in a fast or a slow mode for
# minutes at a time), then a table of the best round of each with its spread and its speedup over
# one rank. The data-parallel ways are dense, factors and sharded; split and columns are model-parallel.
#
#   Scripts/compare-exchanges.sh [--ranks 2] [--rounds 3] [--seconds 1] [--batches 20,256,1024] [--out runs/exchanges]
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=2; rounds=3; seconds=1; batches=20,256,1024; out=runs/exchanges
while (($#)); do
    case "$1" in
        --ranks) ranks="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --batches) batches="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "compare-exchanges: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done
[ -x .build/release/mlp ] || swift build -c release
mkdir -p "$out"
rm -f "$out"/*.csv
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
launch=(mpirun -np "$ranks" --bind-to none)
[ "$ranks" -gt "$(nproc)" ] && launch+=(--oversubscribe)
bench=(.build/release/mlp bench --seconds "$seconds" --batch-sizes "$batches" --repeats 1)

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds"
    "${bench[@]}" --csv "$out/1-rank.csv" > "$out/1-rank.txt"
    for exchange in dense factors sharded split columns; do
        for memory in shared private; do
            [ "$exchange" = columns ] && [ "$memory" = shared ] && continue
            "${launch[@]}" "${bench[@]}" --exchange "$exchange" --parameter-memory "$memory" --csv "$out/$exchange-$memory.csv" > /dev/null
        done
    done
done

echo
kernel=$(sed -n 's/.*OpenBLAS on one thread per rank (\(.*\))$/\1/p' "$out/1-rank.txt")
echo "$(lscpu | sed -n 's/^Model name: *//p') (OpenBLAS: $kernel), Linux $(uname -r)"
echo "samples/s, best of $rounds rounds (spread across rounds), and speedup over one rank's best:"
python3 - "$out" "$batches" "$ranks" <<'EOF'
import csv, glob, os, sys
out, batches, ranks = sys.argv[1], [int(b) for b in sys.argv[2].split(",")], sys.argv[3]
def rows(path):
    best = {}
    for r in csv.DictReader(open(path)):
        best.setdefault(int(r["batch"]), []).append(float(r["samples_per_second"]))
    return best
one = rows(f"{out}/1-rank.csv")
print()
print("| ranks | exchange | parameters | " + " | ".join(f"batch {b}" for b in batches) + " |")
print("|---:|---|---|" + "---:|" * len(batches))
def cells(best):
    return " | ".join(f"{max(best[b]):.0f} ({100 * (max(best[b]) - min(best[b])) / max(best[b]):.0f}%), {max(best[b]) / max(one[b]):.2f}×" for b in batches)
print(f"| 1 | factors (fused update) | private | {cells(one)} |")
for exchange in ["dense", "factors", "sharded", "split", "columns"]:
    for memory in ["shared", "private"]:
        path = f"{out}/{exchange}-{memory}.csv"
        if os.path.exists(path):
            label = exchange + {"split": " (model-parallel first layer)", "columns": " (model-parallel hidden units)"}.get(exchange, "")
            print(f"| {ranks} | {label} | {memory} | {cells(rows(path))} |")
EOF
