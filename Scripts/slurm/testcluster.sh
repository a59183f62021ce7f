#!/usr/bin/env bash
# A real Slurm on this machine, for the tests and for trying the batch script: munged, slurmctld and
# slurmd from Debian's packages, started by hand with a minimal configuration (no cgroups, no
# accounting) whose state, spool, pid, log and socket files all live in one directory, and stopped
# again. Needs root. Commands see this cluster with SLURM_CONF=DIR/slurm.conf.
#
#   bash Scripts/slurm/testcluster.sh up DIR [--cpus N]    start it; wait until the node is idle
#   bash Scripts/slurm/testcluster.sh down DIR             cancel its jobs and stop every daemon
set -euo pipefail

command=${1:-}; dir=${2:-}
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: testcluster.sh up|down DIR [--cpus N]" >&2; exit 2; }
shift 2
cpus=$(nproc)
while [ $# -gt 0 ]; do
    case $1 in
        --cpus) cpus=$2; shift 2 ;;
        *) echo "testcluster: unknown argument $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
node=$(hostname -s)
export SLURM_CONF="$dir/slurm.conf"

stop() {   # pid file, name
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$1"
}

case $command in
up)
    [ "$(id -u)" -eq 0 ] || { echo "testcluster: needs root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || { echo "testcluster: $tool not found; run: bash Scripts/setup.sh --tests" >&2; exit 1; }
    done
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    # munge: its own socket and files here, the packaged key (the daemon runs as the key's owner).
    cp /etc/munge/munge.key "$dir/munge.key"
    chown munge:munge "$dir/munge.key" "$dir"
    chmod 600 "$dir/munge.key"
    mkdir -p "$dir/munge" && chown munge:munge "$dir/munge" && chmod 755 "$dir/munge"   # the socket's directory: munged wants it searchable by all
    su -s /bin/sh munge -c "munged --socket=$dir/munge/socket --key-file=$dir/munge.key --pid-file=$dir/munge/munged.pid \
        --log-file=$dir/munge/munged.log --seed-file=$dir/munge/munged.seed" 
    cat > "$SLURM_CONF" <<CONF
ClusterName=mlptest
SlurmctldHost=$node
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ReturnToService=2
JobRequeue=1
KillWait=20
MinJobAge=600
SchedulerParameters=defer_batch
NodeName=$node CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    slurmctld -c
    slurmd
    for _ in $(seq 1 300); do
        [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && { echo "testcluster: node $node idle ($cpus CPUs); export SLURM_CONF=$SLURM_CONF"; exit 0; }
        sleep 0.1
    done
    echo "testcluster: the node did not become idle within 30 s; see $dir/log" >&2
    exit 1
    ;;
down)
    scancel --full --quiet --partition=debug 2>/dev/null || true
    stop "$dir/slurmd.pid"
    stop "$dir/slurmctld.pid"
    stop "$dir/munge/munged.pid"
    ;;
*) echo "usage: testcluster.sh up|down DIR [--cpus N]" >&2; exit 2 ;;
esac
