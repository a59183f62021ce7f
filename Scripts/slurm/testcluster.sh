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
    for tool in munged slurmctld slurmd sinfo ss; do
        command -v "$tool" >/dev/null || { echo "testcluster: $tool not found; run: bash Scripts/setup.sh --tests" >&2; exit 1; }
    done
    mkdir -p "$dir/state" "$dir/spool" "$dir/log"
    # munge: its own key, socket and files here (the daemon runs as the key's owner, munge).
    dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$dir/munge.key" "$dir"
    chmod 600 "$dir/munge.key"
    mkdir -p "$dir/munge" && chown munge:munge "$dir/munge" && chmod 755 "$dir/munge"   # the socket's directory: munged wants it searchable by all
    su -s /bin/sh munge -c "munged --socket=$dir/munge/socket --key-file=$dir/munge.key --pid-file=$dir/munge/munged.pid \
        --log-file=$dir/munge/munged.log --seed-file=$dir/munge/munged.seed" 
    # Two free ports from 16817 on (a developer's own cluster may hold Slurm's usual ones, or a
    # cluster of an earlier test may still be going down).
    ports=()
    for port in $(seq 16817 16999); do
        ss -Hltn "sport = :$port" | grep -q . || ports+=("$port")
        [ ${#ports[@]} -eq 2 ] && break
    done
    cat > "$SLURM_CONF" <<CONF
ClusterName=mlptest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmdPort=${ports[1]}
AuthType=auth/munge
# cred_expire is also how long a requeued job waits before it may start again (120 s by default; 5 s is the least).
AuthInfo=socket=$dir/munge/socket,cred_expire=5
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
MailProg=/bin/true
KillWait=20
MinJobAge=600
# Pending jobs are looked at every 2 s (60 s by default): a requeued job starts as soon as it may.
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
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
