#!/usr/bin/env bash
# Scaling across modelled networks. Builds two test hosts (Scripts/testnet.sh), shapes their links
# like 10 GbE (10 Gbit/s, 50 µs) and like 1 GbE (1 Gbit/s, 100 µs) in turn, and for each runs
# `mlp bench` on one rank (host 1 alone) and on two ranks (one per host) with every exchange mode.
# `mlp scaling` then prints, per network, the measured step against the latency-bandwidth model
# fitted to that network's own allreduce, which shows where each exchange wins. Where the kernel has
# no netem the delay cannot be added; the links are then shaped by rate alone, and the report says so.
#
#   sudo bash Scripts/bench/network.sh [--seconds 2] [--batches 20,256] [--out runs/network]
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=2; batches=20,256; out=runs/network
while (($#)); do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --batches) batches="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        *) echo "network.sh: unknown argument $1 (see the comment at the top of this script)" >&2; exit 2 ;;
    esac
done
[ -x .build/release/mlp ] || swift build -c release
mkdir -p "$out"
net="$out/net"
trap 'bash Scripts/testnet.sh down >/dev/null' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mlp=(.build/release/mlp bench --seconds "$seconds" --batch-sizes "$batches")

for profile in "10GbE 10000 0.05" "1GbE 1000 0.1"; do
    read -r name rate delay <<< "$profile"
    rm -f "$out/$name.csv"
    note=""
    if ! bash Scripts/testnet.sh up 2 --rate "$rate" --delay "$delay" --dir "$net" > /dev/null 2>&1; then
        bash Scripts/testnet.sh up 2 --rate "$rate" --dir "$net" > /dev/null
        note=" (rate only: this kernel has no netem, so the ${delay} ms delay could not be added)"
    fi
    echo "== $name: ${rate} Mbit/s, ${delay} ms$note"
    bash Scripts/testnet.sh run mlpnet-h1 "${mlp[@]}" --append-csv "$out/$name.csv" > /dev/null
    for exchange in factors sharded columns auto; do
        bash Scripts/testnet.sh run mlpnet-h1 mpirun --hostfile "$net/hostfile" -np 2 --bind-to none \
            -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM --mca plm_rsh_agent "$net/agent.sh" \
            --mca btl tcp,self,vader --mca btl_tcp_if_include eth0 --mca oob_tcp_if_include eth0 \
            "${mlp[@]}" --exchange "$exchange" --append-csv "$out/$name.csv" > /dev/null
    done
    .build/release/mlp scaling "$out/$name.csv" -o "$out/$name.svg" | tee "$out/$name.md"
done
