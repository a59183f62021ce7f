#!/usr/bin/env bash
# Scaling benchmark of the data-parallel trainer. For each rank count it runs `mlp bench` under
# mpirun for strong scaling (fixed global batch) and weak scaling (fixed batch per rank), with the
# default exchange and, on 2 ranks or more, the model-parallel `--exchange columns` too, then
# `mlp scaling` turns the rows into markdown tables, a latency-bandwidth model with predicted
# efficiency at 8, 64 and 512 ranks, and SVG plots of speedup against ranks.
#
#   Scripts/bench/scaling.sh [--ranks "1 2"] [--strong "20,256,1024"] [--weak "32,128"]
#                            [--hostfile FILE] [--seconds S] [--out DIR] [--latency-us 50 --gbps 10]
#                            [-- extra mpirun arguments, e.g. --mca btl_tcp_if_include eth0]
# Outputs in DIR (default runs/scaling): strong.csv, strong.md, strong.svg, weak.csv, weak.md, weak.svg.
set -euo pipefail
cd "$(dirname "$0")/../.."

ranks="1 2"; strong="20,256,1024"; weak="32,128"; hostfile=""; seconds=2; out=runs/scaling
latency=50; gbps=10; mpirun_extra=()
while (($#)); do
    case "$1" in
        --ranks) ranks="$2"; shift 2 ;;
        --strong) strong="$2"; shift 2 ;;
        --weak) weak="$2"; shift 2 ;;
        --hostfile) hostfile="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --latency-us) latency="$2"; shift 2 ;;
        --gbps) gbps="$2"; shift 2 ;;
        --) shift; mpirun_extra=("$@"); break ;;
        *) echo "scaling.sh: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done

[ -x .build/release/mlp ] || swift build -c release
mkdir -p "$out"
rm -f "$out/strong.csv" "$out/weak.csv"
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # mpirun refuses root without them
cores=$(nproc)
for p in $ranks; do
    launch=(mpirun -np "$p" --bind-to none)
    [ -n "$hostfile" ] && launch+=(--hostfile "$hostfile")
    [ -z "$hostfile" ] && [ "$p" -gt "$cores" ] && launch+=(--oversubscribe)
    launch+=("${mpirun_extra[@]}")
    echo "== $p rank(s)"
    "${launch[@]}" .build/release/mlp bench --seconds "$seconds" --batch-sizes "$strong" --append-csv "$out/strong.csv"
    "${launch[@]}" .build/release/mlp bench --seconds "$seconds" --batch-sizes "$weak" --weak --append-csv "$out/weak.csv"
    # The model-parallel option gets rows of its own, beside the data-parallel default's.
    if [ "$p" -gt 1 ]; then
        "${launch[@]}" .build/release/mlp bench --seconds "$seconds" --batch-sizes "$strong" --exchange columns --append-csv "$out/strong.csv"
        "${launch[@]}" .build/release/mlp bench --seconds "$seconds" --batch-sizes "$weak" --weak --exchange columns --append-csv "$out/weak.csv"
    fi
done
.build/release/mlp scaling "$out/strong.csv" -o "$out/strong.svg" --latency-us "$latency" --bandwidth-gbps "$gbps" | tee "$out/strong.md"
.build/release/mlp scaling "$out/weak.csv" --weak -o "$out/weak.svg" --latency-us "$latency" --bandwidth-gbps "$gbps" | tee "$out/weak.md"
