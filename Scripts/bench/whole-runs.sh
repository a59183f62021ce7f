#!/usr/bin/env bash
# Times whole training runs, the way a user gets them: each configuration is one `mlp train` (or
# `mpirun -np P mlp train`) of --epochs epochs, the configurations alternate within each of
# --rounds rounds, and the table gives each one's median, slowest and fastest round (training
# seconds from the run's `done` record) and its speedup over the first configuration.
# Usage: Scripts/bench/whole-runs.sh [--rounds N] [--epochs N] [--binary PATH] [--train-limit N] [--busy] CONFIG...
#   CONFIG is "P" or "P:flags", e.g.  1  2  "2:--exchange columns"  "1:--batch-size 256"
#   Defaults: 3 rounds, 15 epochs, .build/release/mlp, configurations 1 and 2. A CONFIG may name
#   another binary as "P@PATH" or "P@PATH:flags" (e.g. an older build, to compare before and after).
#   --busy runs one busy process (`yes > /dev/null`) beside every run: a job under load.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=3 epochs=15 binary=.build/release/mlp limit="" busy=0 busy_pid=""
configs=()
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --epochs) epochs=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --train-limit) limit="--train-limit $2"; shift 2 ;;
        --busy) busy=1; shift ;;
        --*) echo "whole-runs.sh: unknown option $1 (see the comment at the top of this script)" >&2; exit 2 ;;
        *) configs+=("$1"); shift ;;
    esac
done
[ ${#configs[@]} -eq 0 ] && configs=(1 2)
[ -x "$binary" ] || swift build -c release
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
scratch=$(mktemp -d)
trap '[ -n "$busy_pid" ] && kill "$busy_pid"; rm -rf "$scratch"' EXIT

echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, Linux $(uname -r); $epochs epochs, $rounds rounds$([ $busy = 1 ] && echo ', one busy process beside each run')"
for round in $(seq 1 "$rounds"); do
    for i in "${!configs[@]}"; do
        spec=${configs[$i]}
        head=${spec%%:*}; flags=""; [ "$spec" != "$head" ] && flags=${spec#*:}
        ranks=${head%%@*}; exe=$binary; [ "$head" != "$ranks" ] && exe=${head#*@}
        log="$scratch/$i-$round.jsonl"
        launch=()
        [ "$ranks" -gt 1 ] && launch=(mpirun -np "$ranks" --bind-to none --oversubscribe)
        if [ $busy = 1 ]; then yes > /dev/null & busy_pid=$!; fi
        # shellcheck disable=SC2086
        "${launch[@]}" "$exe" train --epochs "$epochs" --quiet --log-json "$log" $limit $flags > /dev/null
        if [ -n "$busy_pid" ]; then kill "$busy_pid"; wait "$busy_pid" 2>/dev/null || true; busy_pid=""; fi
        seconds=$(grep '"event":"done"' "$log" | sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/')
        echo "$i $round $seconds" >> "$scratch/times"
        printf 'round %s  %-40s %6.2f s\n' "$round" "$spec" "$seconds"
    done
done

python3 - "$scratch/times" "${configs[@]}" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1])]
configs = sys.argv[2:]
times = {i: [float(s) for (c, r, s) in rows if int(c) == i] for i in range(len(configs))}
base = statistics.median(times[0])
print()
print("| configuration | median s | slowest s | fastest s | speedup (median) | speedup (slowest) |")
print("|---|---:|---:|---:|---:|---:|")
for i, spec in enumerate(configs):
    t = times[i]
    print(f"| {spec} | {statistics.median(t):.2f} | {max(t):.2f} | {min(t):.2f} | {base / statistics.median(t):.2f}× | {base / max(t):.2f}× |")
PY
