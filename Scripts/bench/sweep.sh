#!/usr/bin/env bash
# A sweep against the same configurations run one after another, on this machine's cores: for each
# round it times (wall clock, mpirun's start included) `mlp sweep` with one rank per configuration
# (--ranks-per-run 1: as many configurations at once as ranks), `mlp sweep` with all ranks on each
# configuration (--ranks-per-run = ranks), and a shell loop of `mpirun -np RANKS mlp train` over the
# same configurations; then prints the best of the rounds, the spread, and each way's time as a
# multiple of the first. The lists (--lists) and the flags every configuration shares (after --)
# are the README's Sweeps example unless given; everything goes to runs/sweep-bench/.
#
#   Scripts/bench/sweep.sh [--rounds 2] [--ranks 2] [--lists "--lr 0.1,0.01 --hidden 100,500"] [-- mlp train flags]
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=2; ranks=2
lists=(--lr 0.1,0.03,0.01 --hidden 50,100,300,1000 --l2 0,1e-4)
shared=(--epochs 10 --train-limit 10000 --eval-limit 2000)
while (($#)); do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --ranks) ranks="$2"; shift 2 ;;
        --lists) read -r -a lists <<< "$2"; shift 2 ;;
        --) shift; shared=("$@"); break ;;
        *) echo "sweep.sh: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done

[ -x .build/release/mlp ] || swift build -c release
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them
mpirun=(mpirun -np "$ranks" --oversubscribe --bind-to none)
out=runs/sweep-bench
rm -rf "$out"
mkdir -p "$out"

now() { date +%s.%N; }
declare -A times
for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds" >&2
    start=$(now)
    "${mpirun[@]}" .build/release/mlp sweep "${lists[@]}" "${shared[@]}" --ranks-per-run 1 --out "$out/r$round-sweep1" > "$out/r$round-sweep1.txt"
    times[sweep1]+="$(awk -v a="$(now)" -v b="$start" "BEGIN { print a - b }") "
    start=$(now)
    "${mpirun[@]}" .build/release/mlp sweep "${lists[@]}" "${shared[@]}" --ranks-per-run "$ranks" --out "$out/r$round-sweepN" > "$out/r$round-sweepN.txt"
    times[sweepN]+="$(awk -v a="$(now)" -v b="$start" "BEGIN { print a - b }") "
    # The same configurations one after another, each data-parallel on every rank: the sweep's own
    # per-configuration flags (results.jsonl names them), through mlp train.
    start=$(now)
    python3 - "$out/r$round-sweep1/results.jsonl" > "$out/configurations.txt" <<'PY'
import json, sys
flags = {"lr": "--lr", "hidden": "--hidden", "l1": "--l1", "l2": "--l2", "batch_size": "--batch-size", "lr_decay": "--lr-decay"}
for line in open(sys.argv[1]):
    values = json.loads(line)["point"]["values"]
    print(" ".join(f"{flags[k]} {v.replace('x', ',')}" for k, v in values.items()))
PY
    i=0
    while read -r configuration; do
        i=$((i + 1))
        # shellcheck disable=SC2086
        "${mpirun[@]}" .build/release/mlp train "${shared[@]}" $configuration --quiet --checkpoint-dir "$out/r$round-loop/$i" > /dev/null < /dev/null   # mpirun would read the list
    done < "$out/configurations.txt"
    times[loop]+="$(awk -v a="$(now)" -v b="$start" "BEGIN { print a - b }") "
done

count=$(wc -l < "$out/configurations.txt")
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo
echo "$count configurations on $ranks ranks, $cpu, Linux $(uname -r); wall seconds, best of $rounds (spread):"
echo
echo "| way | seconds | against the sweep |"
echo "|---|---:|---:|"
best() { tr ' ' '\n' <<< "$1" | grep . | sort -g | head -1; }
worst() { tr ' ' '\n' <<< "$1" | grep . | sort -g | tail -1; }
reference=$(best "${times[sweep1]}")
for way in sweep1 sweepN loop; do
    b=$(best "${times[$way]}"); w=$(worst "${times[$way]}")
    case $way in
        sweep1) name="mlp sweep --ranks-per-run 1 ($ranks configurations at once)" ;;
        sweepN) name="mlp sweep --ranks-per-run $ranks (one at a time, data-parallel)" ;;
        loop) name="mpirun -np $ranks mlp train, one configuration after another" ;;
    esac
    awk -v n="$name" -v b="$b" -v w="$w" -v r="$reference" 'BEGIN { printf "| %s | %.1f (%.0f%%) | %.2f× |\n", n, b, 100 * (w - b) / b, b / r }'
done
echo
echo "the sweep's table: $out/r1-sweep1/results.md, plot: $out/r1-sweep1/results.svg"
