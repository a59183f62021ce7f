#!/usr/bin/env bash
# Installs what mlp needs on Debian 12, skipping what is already there: Open MPI, OpenBLAS, zlib and
# pkg-config (apt); with --tests also iproute2 and nftables (the network-namespace test hosts),
# time (a test's peak memory), Slurm's daemons and munge (the tests' own Slurm cluster) and Python's
# safetensors, numpy and tensorboard (pip: the tests read checkpoints and event files with them).
# Needs root or sudo only when something is missing.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libopenblas-dev zlib1g-dev pkg-config)
# The tests also build test hosts out of network namespaces (iproute2, nftables) and start a Slurm
# cluster of their own (slurmctld, slurmd, their commands and plugins, munge).
[ "${1:-}" = "--tests" ] && packages+=(iproute2 nftables python3-pip time slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo=sudo
    fi
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift not found; install Swift 6 (https://swift.org/install) and put it on PATH" >&2; exit 1; }

if [ "${1:-}" = "--tests" ] && ! python3 -c "import safetensors, numpy, tensorboard" 2>/dev/null; then
    echo "setup: installing Python packages safetensors, numpy and tensorboard"
    python3 -m pip install --quiet safetensors numpy tensorboard 2>/dev/null ||
        python3 -m pip install --quiet --break-system-packages safetensors numpy tensorboard
fi
