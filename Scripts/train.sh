#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, and trains the tutorial's MLP on the
# bundled MNIST on every core of this machine (one MPI rank per core, one OpenBLAS thread each).
# Extra arguments go to `mlp train` (e.g. --epochs 5). Checkpoints and the JSON log go to runs/latest/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
swift build -c release
mkdir -p runs/latest
ranks=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec mpirun -np "$ranks" --bind-to none .build/release/mlp train \
    --checkpoint-dir runs/latest --log-json runs/latest/log.jsonl "$@"
