#!/usr/bin/env bash
# Time to a target test error against the global batch size, with the linear learning-rate scaling
# rule and warm-up (Goyal et al. 2017). For each global batch B it trains the tutorial's model on
# P ranks with `--lr-scaling linear --warmup-epochs W` (rate 0.01 · B / 20 after the warm-up),
# follows the JSON log, and stops the run with SIGTERM (it writes its checkpoint and exits) at the
# first new best whose test error is at or below the target. Then it prints a markdown table: epochs
# and training seconds to the target, the speedup over the first batch size, and the best test
# error seen. A run that never gets there stops at --max-epochs.
#
#   Scripts/bench/time-to-accuracy.sh [--batch-sizes 20,80,320,1280] [--ranks 2] [--target 0.0165]
#                               [--warmup-epochs 5] [--max-epochs 1000] [--out DIR]
#                               [-- extra mlp train flags, e.g. --shuffle]
# Outputs in DIR (default runs/time-to-accuracy): B<batch>.jsonl logs and table.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

batches="20,80,320,1280"; ranks=2; target=0.0165; warmup=5; max_epochs=1000; out=runs/time-to-accuracy; extra=()
while (($#)); do
    case "$1" in
        --batch-sizes) batches="$2"; shift 2 ;;
        --ranks) ranks="$2"; shift 2 ;;
        --target) target="$2"; shift 2 ;;
        --warmup-epochs) warmup="$2"; shift 2 ;;
        --max-epochs) max_epochs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) echo "time-to-accuracy.sh: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done

[ -x .build/release/mlp ] || swift build -c release
mkdir -p "$out"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them
launch=(mpirun -np "$ranks" --bind-to none)
[ "$ranks" -gt "$(nproc)" ] && launch+=(--oversubscribe)

# The log's first new best at or below the target: "epoch seconds test_error", or nothing.
reached() {
    python3 - "$1" "$target" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "validation" and r.get("test_error") is not None and r["test_error"] <= float(sys.argv[2]):
        print(r["epoch"], r["seconds"], r["test_error"]); break
EOF
}

rows=()
for batch in ${batches//,/ }; do
    log="$out/B$batch.jsonl"
    rm -f "$log"
    echo "== global batch $batch on $ranks rank(s): lr 0.01 × $batch/20, $warmup-epoch warm-up" >&2
    "${launch[@]}" .build/release/mlp train --batch-size "$batch" --lr-scaling linear --warmup-epochs "$warmup" \
        --epochs "$max_epochs" --log-json "$log" --quiet "${extra[@]}" &
    job=$!
    hit=""
    while kill -0 "$job" 2>/dev/null; do
        sleep 5   # the time comes from the log; polling more often would only take CPU from the run
        [ -s "$log" ] && hit=$(reached "$log") && [ -n "$hit" ] && { kill -TERM "$job" 2>/dev/null || true; break; }
    done
    status=0; wait "$job" || status=$?
    [ -z "$hit" ] && hit=$(reached "$log")
    best=$(python3 -c 'import json,sys; print(min((r["test_error"] for r in map(json.loads, open(sys.argv[1])) if r.get("test_error") is not None), default="nan"))' "$log")
    if [ -n "$hit" ]; then
        read -r epoch seconds _ <<<"$hit"
        rows+=("$batch $epoch $seconds $best")
    elif [ "$status" -eq 0 ]; then
        rows+=("$batch - - $best")
    else
        echo "time-to-accuracy: the run at batch $batch failed (status $status); see above" >&2; exit 1
    fi
done

{
    echo "| global batch | peak lr | epochs to $(python3 -c "print(f'{100*$target:g} %')") | seconds to it | speedup | best test error |"
    echo "|---:|---:|---:|---:|---:|---:|"
    first=""
    for row in "${rows[@]}"; do
        read -r batch epoch seconds best <<<"$row"
        python3 - "$batch" "$epoch" "$seconds" "$best" "${first:-$seconds}" <<'EOF'
import sys
batch, epoch, seconds, best, first = sys.argv[1:]
lr = 0.01 * int(batch) / 20
if epoch == "-":
    print(f"| {batch} | {lr:g} | not reached | – | – | {100*float(best):.2f} % |")
else:
    speedup = f"{float(first)/float(seconds):.2f}×" if first not in ("-", "") else "–"
    print(f"| {batch} | {lr:g} | {epoch} | {float(seconds):.1f} | {speedup} | {100*float(best):.2f} % |")
EOF
        if [ -z "$first" ]; then first="$seconds"; fi
    done
} | tee "$out/table.md"
