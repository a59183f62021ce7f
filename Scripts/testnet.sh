#!/usr/bin/env bash
# A cluster of test hosts on one machine, for multi-node runs and tests. Each host is a Linux network
# namespace (mlpnet-h1 ... mlpnet-hN) with one interface, eth0, on the private subnet 10.213.0.0/24;
# a bridge in a namespace of its own (mlpnet-br) joins them, so nothing is added to the machine's
# own network and traffic goes only between these hosts. Links can be shaped: with tc netem where the
# kernel has it (delay, rate, loss); without netem, rate with tc tbf and loss with nftables, and a
# delay is refused. TCP gives up on a silent peer after about 10 s here (net.ipv4.tcp_retries2=5 in
# each host), so a link taken down ends a job in seconds rather than a quarter of an hour.
# `up` also writes, in DIR (default runs/testnet): `hostfile` (one line per host) and `agent.sh`,
# mpirun's rsh agent, which runs a command inside a host's namespace under that host's name.
#
#   Scripts/testnet.sh up N [--slots S] [--delay MS] [--rate MBIT] [--loss PCT] [--dir DIR]
#   Scripts/testnet.sh shape [--delay MS] [--rate MBIT] [--loss PCT]   # reshape every link
#   Scripts/testnet.sh link HOST down|up                               # e.g. link mlpnet-h2 down
#   Scripts/testnet.sh run HOST COMMAND...                             # run COMMAND as HOST (e.g. mpirun)
#   Scripts/testnet.sh down                                            # remove everything
#
# Needs root, iproute2 (ip, tc), unshare, and nft for --loss without netem. `up` first removes a
# cluster left from before.
set -euo pipefail

prefix=mlpnet
subnet=10.213.0
bridge_ns=$prefix-br

die() { echo "testnet: $*" >&2; exit 1; }
require() {
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces); run as root or with sudo"
    for tool in ip tc unshare; do command -v "$tool" >/dev/null || die "needs '$tool' (Debian: apt-get install iproute2 util-linux)"; done
    ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here (no network namespace support?)"
}
hosts() { ip netns list | awk '{print $1}' | grep "^$prefix-h[0-9]*$" | sort -V || true; }

down() {
    for ns in $(hosts) $bridge_ns; do
        ip netns list | awk '{print $1}' | grep -qx "$ns" && ip netns del "$ns"
    done
    return 0
}

shape() {
    local delay="" rate="" loss=""
    while (($#)); do
        case "$1" in
            --delay) delay="$2"; shift 2 ;;
            --rate) rate="$2"; shift 2 ;;
            --loss) loss="$2"; shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    local netem=()
    [ -n "$delay" ] && netem+=(delay "${delay}ms")
    [ -n "$rate" ] && netem+=(rate "${rate}mbit")
    [ -n "$loss" ] && netem+=(loss "${loss}%")
    local how=""
    for ns in $(hosts); do
        ip -n "$ns" link set eth0 up
        ip netns exec "$ns" tc qdisc del dev eth0 root 2>/dev/null || true
        ip netns exec "$ns" nft delete table inet mlpnet 2>/dev/null || true
        ((${#netem[@]})) || continue
        if ip netns exec "$ns" tc qdisc replace dev eth0 root netem "${netem[@]}" 2>/dev/null; then
            how="tc netem"
            continue
        fi
        # No netem in this kernel: rate by a token bucket, loss by a random drop rule.
        [ -z "$delay" ] || die "cannot add a delay: this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM); shape --rate and --loss only"
        how="tc tbf and nftables (no netem in this kernel)"
        if [ -n "$rate" ]; then
            local burst=$(( rate * 1000000 / 8 / 250 ))   # a 4 ms bucket, at least 64 kB
            ((burst >= 65536)) || burst=65536
            ip netns exec "$ns" tc qdisc replace dev eth0 root tbf rate "${rate}mbit" burst "$burst" latency 100ms
        fi
        if [ -n "$loss" ]; then
            command -v nft >/dev/null || die "--loss without netem needs nft (Debian: apt-get install nftables)"
            ip netns exec "$ns" nft add table inet mlpnet
            ip netns exec "$ns" nft add chain inet mlpnet out '{ type filter hook output priority 0; policy accept; }'
            ip netns exec "$ns" nft add rule inet mlpnet out oifname eth0 numgen random mod 100 '<' "$loss" drop
        fi
    done
    [ -z "$how" ] || echo "testnet: links shaped (${netem[*]}) with $how"
}

up() {
    local n="${1:-}"; shift || true
    [[ "$n" =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 200)) || die "usage: testnet.sh up N (1-200 hosts) [options]"
    local slots=1 dir=runs/testnet shaping=()
    while (($#)); do
        case "$1" in
            --slots) slots="$2"; shift 2 ;;
            --dir) dir="$2"; shift 2 ;;
            --delay|--rate|--loss) shaping+=("$1" "$2"); shift 2 ;;
            *) die "unknown option $1" ;;
        esac
    done
    down
    ip netns add $bridge_ns
    ip -n $bridge_ns link add br0 type bridge
    ip -n $bridge_ns link set br0 up
    mkdir -p "$dir"
    : > "$dir/hostfile"
    for i in $(seq 1 "$n"); do
        local ns=$prefix-h$i
        ip netns add "$ns"
        ip -n $bridge_ns link add "port$i" type veth peer name eth0 netns "$ns"
        ip -n $bridge_ns link set "port$i" master br0 up
        ip -n "$ns" addr add "$subnet.$i/24" dev eth0
        ip -n "$ns" link set lo up
        ip -n "$ns" link set eth0 up
        ip netns exec "$ns" sysctl -qw net.ipv4.tcp_retries2=5
        echo "$ns slots=$slots" >> "$dir/hostfile"
    done
    shape "${shaping[@]}"
    cat > "$dir/agent.sh" <<'AGENT'
#!/bin/sh
# mpirun's rsh agent for the namespace cluster: `agent.sh HOST COMMAND...` runs COMMAND, as ssh
# would, inside HOST's network namespace, with HOST as the hostname (so Open MPI sees distinct nodes).
# With MLPNET_HIDE=DIR set, DIR looks empty on that host (a tmpfs over it): files only the first
# host should see, such as rank 0's checkpoints.
while [ "${1#-}" != "$1" ]; do shift; done
host="$1"; shift
if [ -n "${MLPNET_HIDE:-}" ]; then
    exec ip netns exec "$host" unshare --uts --mount sh -c 'mount -t tmpfs hidden "$MLPNET_HIDE" && hostname "$0" && exec sh -c "$*"' "$host" "$@"
fi
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0" && exec sh -c "$*"' "$host" "$@"
AGENT
    chmod +x "$dir/agent.sh"
    echo "testnet: $n host(s) up on $subnet.0/24 ($(printf '%s ' $(hosts))); hostfile and agent in $dir"
}

run() {
    local host="${1:-}"; shift || true
    ip netns list | awk '{print $1}' | grep -qx "$host" || die "no host $host (is the cluster up?)"
    exec ip netns exec "$host" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$host" "$@"
}

link() {
    local host="${1:-}" state="${2:-}"
    [[ "$state" == up || "$state" == down ]] || die "usage: testnet.sh link HOST up|down"
    ip -n "$host" link set eth0 "$state"
}

command="${1:-}"; shift || true
case "$command" in
    up) require; up "$@" ;;
    down) require; down; echo "testnet: removed" ;;
    shape) require; shape "$@" ;;
    link) require; link "$@" ;;
    run) require; run "$@" ;;
    *) die "usage: testnet.sh up N [--slots S] [--delay MS] [--rate MBIT] [--loss PCT] [--dir DIR] | shape ... | link HOST up|down | run HOST COMMAND... | down" ;;
esac
