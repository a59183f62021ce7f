#!/usr/bin/env bash
# Soak test: trains on 2 ranks for a bounded time with a validation and a checkpoint write several
# times a second (5,000 training images, so an epoch is short), samples each rank's resident memory
# and open file descriptors as it goes, then stops the run with SIGUSR1 (a checkpointed stop) and
# reports the figures at the start and the end: memory should stay flat and descriptors constant.
#
#   Scripts/bench/soak.sh [--seconds 300] [--out DIR]          (default DIR: runs/soak)
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=300; out=runs/soak
while (($#)); do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "soak.sh: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done
[ -x .build/release/mlp ] || swift build -c release
rm -rf "$out"; mkdir -p "$out"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them
mpirun -np 2 --bind-to none .build/release/mlp train --train-limit 5000 --eval-limit 1000 --epochs 1000000 \
    --patience 1000000000 --checkpoint-dir "$out" --log-json "$out/log.jsonl" --quiet > "$out/stdout.txt" 2> "$out/stderr.txt" &
launcher=$!

sample() {   # "rank pid rss_kib fds" for each rank
    for pid in $(pgrep -P "$launcher" -f "mlp train" || true); do
        rank=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        echo "$rank $pid $rss $fds"
    done | sort -n
}

warmup=$(( seconds < 20 ? seconds / 4 : 10 ))
sleep "$warmup"
start=$(sample)
echo "$start" > "$out/start.txt"
sleep $(( seconds - warmup ))
end=$(sample)
echo "$end" > "$out/end.txt"
kill -USR1 "$launcher"
status=0; wait "$launcher" || status=$?

validations=$(grep -c '"event":"validation"' "$out/log.jsonl" || true)
echo "soak: ${seconds} s on 2 ranks, ${validations} validations, each followed by a checkpoint write; stopped by SIGUSR1 (status $status)"
echo "rank  RSS at ${warmup} s  RSS at end  growth   open fds start/end"
join <(echo "$start") <(echo "$end") | awk '{ printf "%4s  %8.1f MiB  %8.1f MiB  %+6.2f%%   %s/%s\n", $1, $3 / 1024, $6 / 1024, 100 * ($6 - $3) / $3, $4, $7 }'
grep "^mlp:" "$out/stderr.txt" | tail -1
.build/release/mlp inspect "$out/last.safetensors" | tail -1
