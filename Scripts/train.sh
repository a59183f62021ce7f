#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, and trains the tutorial's MLP on the
# bundled MNIST on every core of this machine: mpirun places one rank per core as it counts them
# (physical cores, so a laptop with SMT works too). Extra arguments go to `mlp train` (e.g.
# --epochs 5). Checkpoints and the JSON log go to runs/latest/; running it again continues the
# run there (--resume auto), on any number of cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
# Build unless the binary is newer than every source (a no-op build still takes seconds).
if [ ! -x .build/release/mlp ] || [ -n "$(find -L Package.swift Sources -newer .build/release/mlp -print -quit)" ]; then
    swift build -c release
fi
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them
exec mpirun --bind-to none .build/release/mlp train \
    --checkpoint-dir runs/latest --log-json runs/latest/log.jsonl --resume auto "$@"
