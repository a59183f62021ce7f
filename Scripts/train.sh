#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, and trains the tutorial's MLP on the
# bundled MNIST on every core of this machine: mpirun places one rank per core as it counts them
# (physical cores, so a laptop with SMT works too). Extra arguments go to `mlp train` (e.g.
# --epochs 5). Checkpoints and the JSON log go to runs/latest/; running it again continues the
# run there (--resume auto), on any number of cores.
#
# Stopping: Ctrl-C or SIGTERM to this script stops every rank at the same step with a checkpoint,
# however many times it is sent. (mpirun itself waits a second before passing SIGTERM or SIGINT on,
# passes SIGINT as SIGTERM, and kills the ranks at once when a second one arrives in that second, so
# the stop checkpoint is lost; this script sends mpirun SIGUSR1 instead, which it passes at once and
# waits for, and ignores the signals after the first.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
# Build unless the binary is newer than every source (a no-op build still takes seconds).
if [ ! -x .build/release/mlp ] || [ -n "$(find -L Package.swift Sources -newer .build/release/mlp -print -quit)" ]; then
    swift build -c release
fi
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them

# Its own session, so that a terminal's Ctrl-C reaches this script alone.
setsid mpirun --bind-to none .build/release/mlp train \
    --checkpoint-dir runs/latest --log-json runs/latest/log.jsonl --resume auto "$@" < /dev/null &
job=$!
stopping=""
stop() {
    if [ -z "$stopping" ]; then
        stopping=$1
        echo "mlp: $1: every rank stops at its next step and writes runs/latest/last.safetensors (passed to mpirun as SIGUSR1)" >&2
        kill -USR1 "$job" 2>/dev/null || true
    else
        echo "mlp: $1 again: still stopping; the stop checkpoint is on its way (kill -9 $job abandons it; runs/latest/last.safetensors then holds the last validation)" >&2
    fi
}
trap 'stop SIGINT' INT
trap 'stop SIGTERM' TERM
set +e
while kill -0 "$job" 2>/dev/null; do wait "$job"; done   # a trapped signal ends a wait early
wait "$job"; status=$?   # the job's own status (bash keeps it)
# Stopped by our SIGUSR1: report the signal this script got, as 128 + its number.
if [ "$status" -eq 138 ] && [ "$stopping" = SIGINT ]; then exit 130; fi
if [ "$status" -eq 138 ] && [ "$stopping" = SIGTERM ]; then exit 143; fi
exit "$status"
