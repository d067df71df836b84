#!/usr/bin/env bash
# Starts or stops the local demo topology described by the *.conf files next to this script:
#   shard-a: master 127.0.0.1:16381, replica 127.0.0.1:16382
#   shard-b: master 127.0.0.1:16391, replica 127.0.0.1:16392
#   sentinels 127.0.0.1:26381 and 127.0.0.1:26382, quorum 1
# Usage: topology.sh start DIR   copies the configs into DIR, starts everything, waits until both
#                                sentinels see both shards, prints the sentinel addresses
#        topology.sh stop DIR    SIGKILLs the processes that `start DIR` recorded (and nothing else)
# DIR holds the run copies of the configs (Redis and Sentinel rewrite them), the logs and a PID
# list. The checked-in files are never modified.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=sentinel-conf/lib.sh
source "$here/lib.sh"

usage() { die "usage: $0 start|stop DIR"; }
cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || usage

masters=(shard-a-master shard-b-master)
replicas=(shard-a-replica shard-b-replica)
sentinels=(sentinel-1 sentinel-2)
shards=(shard-a shard-b)
# Runtime-only Sentinel timers (see sentinel-1.conf): failover in about 1 s instead of 2.2 s.
fast_profile=(ping-period 300 ask-period 100 publish-period 100 info-period 1000)
timeout_s=30

conf_port() { awk '$1 == "port" { print $2 }' "$here/$1.conf"; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
now_ns() { date +%s%N; }
# Something accepts connections on 127.0.0.1:PORT.
port_in_use() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_of() { awk -v n="$1" '$2 == n { print $1 }' "$dir/pids"; }
# PID is alive and still a redis process for PORT (the process title is "redis-... 127.0.0.1:PORT").
is_our_redis() { grep -qa -- "redis.*127.0.0.1:$2" "/proc/$1/cmdline" 2>/dev/null; }

# Copies NODE.conf into DIR/NODE and starts PROGRAM on the copy, in the background.
launch() {
    local node=$1 program=$2 node_dir="$dir/$1"
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp "$here/$node.conf" "$node_dir/$node.conf"
    "$program" "$node_dir/$node.conf" --dir "$node_dir" --logfile "$node_dir/$node.log" \
        >"$node_dir/stdout.log" 2>&1 </dev/null &
    disown  # not a job of this shell: no "Killed" notices when stop runs from the failure trap
    echo "$! $node $(conf_port "$node")" >>"$dir/pids"
}

# Fails with the node's log when a started process has exited.
check_alive() {
    local pid node port
    while read -r pid node port; do
        kill -0 "$pid" 2>/dev/null && continue
        echo "error: $node (127.0.0.1:$port) exited during start; last lines of its log:" >&2
        tail -n 15 "$dir/$node/$node.log" "$dir/$node/stdout.log" >&2 2>/dev/null || true
        if grep -qs "Address already in use" "$dir/$node/$node.log" "$dir/$node/stdout.log"; then
            die "port $port on 127.0.0.1 is already in use (another topology running? try: $0 stop DIR)"
        fi
        exit 1
    done <"$dir/pids"
}

# wait_for DESCRIPTION COMMAND...: polls every 10 ms until COMMAND succeeds, for up to $timeout_s.
wait_for() {
    local what=$1 deadline=$(($(now_ns) + timeout_s * 1000000000))
    shift
    until "$@" >/dev/null 2>&1; do
        check_alive
        (($(now_ns) < deadline)) || die "timeout after ${timeout_s} s waiting for $what"
        sleep 0.01
    done
}

# NODE answers PING, and it is the process we started (not something else on that port).
answers() {
    local port
    port=$(conf_port "$1")
    cli "$port" INFO server | tr -d '\r' | grep -qx "process_id:$(pid_of "$1")"
}
link_up() { cli "$(conf_port "$1")" INFO replication | tr -d '\r' | grep -qx master_link_status:up; }
# The master streams writes to its replica. "link up" on the replica (and even state=online in
# the master's INFO) is not enough: after a diskless sync the master waits for the replica's
# first REPLCONF ACK (sent once a second) before streaming, and a master killed in that window
# loses the writes it took meanwhile. A write + WAIT on one connection asks the replica for
# that ACK and returns 1 once the replica has the write.
replica_online() {
    printf 'SET topology:ready 1\nDEL topology:ready\nWAIT 1 400\n' | cli "$(conf_port "$1")" | tail -n 1 | grep -qx 1
}
# Every sentinel: CKQUORUM OK for every shard, and sees its replica and the other sentinel.
all_sentinels_ready() {
    local sentinel port shard
    for sentinel in "${sentinels[@]}"; do
        port=$(conf_port "$sentinel")
        for shard in "${shards[@]}"; do
            cli "$port" SENTINEL CKQUORUM "$shard" | grep -q '^OK' || return 1
            cli "$port" SENTINEL MASTER "$shard" | paste -sd' ' |
                grep -q "flags master .*num-slaves 1 num-other-sentinels 1 " || return 1
        done
    done
}

running_from_dir() {
    local pid node port
    [[ -f $dir/pids ]] || return 1
    while read -r pid node port; do
        is_our_redis "$pid" "$port" && return 0
    done <"$dir/pids"
    return 1
}

start() {
    local program
    for program in redis-server redis-sentinel redis-cli; do
        command -v "$program" >/dev/null 2>&1 ||
            die "$program not found: redis-server, redis-sentinel and redis-cli are needed (demo.sh installs them)"
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if running_from_dir; then
        die "a topology started from $dir is still running: run '$0 stop $dir' first"
    fi
    local node port started
    for node in "${masters[@]}" "${replicas[@]}" "${sentinels[@]}"; do
        port=$(conf_port "$node")
        if port_in_use "$port"; then
            die "port $port on 127.0.0.1 ($node) is already in use (another topology running? try: $0 stop DIR)"
        fi
    done
    started=$(now_ns)
    : >"$dir/pids"
    # Whatever fails from here on: kill what was started, so nothing is left behind.
    trap 'rc=$?; ((rc == 0)) || { echo "start failed; stopping what was started" >&2; stop; }' EXIT

    # Masters first: a replica started before its master retries only once per second.
    for node in "${masters[@]}"; do launch "$node" redis-server; done
    for node in "${masters[@]}"; do wait_for "$node to answer" answers "$node"; done
    for node in "${replicas[@]}"; do launch "$node" redis-server; done
    for node in "${replicas[@]}"; do wait_for "$node to answer" answers "$node"; done
    for node in "${replicas[@]}"; do wait_for "$node to link to its master" link_up "$node"; done
    for node in "${sentinels[@]}"; do launch "$node" redis-sentinel; done
    for node in "${sentinels[@]}"; do
        wait_for "$node to answer" answers "$node"
        cli "$(conf_port "$node")" SENTINEL DEBUG "${fast_profile[@]}" | grep -q '^OK' ||
            die "SENTINEL DEBUG failed on $node"
    done
    wait_for "both sentinels to see both shards (CKQUORUM)" all_sentinels_ready
    for node in "${masters[@]}"; do wait_for "$node to stream to its replica" replica_online "$node"; done
    trap - EXIT

    local ms=$((($(now_ns) - started) / 1000000)) addrs=()
    for node in "${sentinels[@]}"; do addrs+=("127.0.0.1:$(conf_port "$node")"); done
    echo "topology ready in ${ms} ms (run dir $dir)"
    echo "shard-a: master 127.0.0.1:$(conf_port shard-a-master), replica 127.0.0.1:$(conf_port shard-a-replica)"
    echo "shard-b: master 127.0.0.1:$(conf_port shard-b-master), replica 127.0.0.1:$(conf_port shard-b-replica)"
    echo "sentinels: ${addrs[*]}"
}

stop() {
    [[ -f $dir/pids ]] || return 0
    local pid node port killed=0
    # Only processes this topology started, and only while they still are that redis process.
    while read -r pid node port; do
        if is_our_redis "$pid" "$port"; then
            kill -9 "$pid" 2>/dev/null && killed=$((killed + 1))
        fi
    done <"$dir/pids"
    # Wait until each one is gone (an exited, not yet reaped process has an empty cmdline).
    local deadline=$(($(now_ns) + 10 * 1000000000))
    while read -r pid node port; do
        while is_our_redis "$pid" "$port"; do
            (($(now_ns) < deadline)) || die "$node (pid $pid) did not exit after SIGKILL"
            sleep 0.01
        done
    done <"$dir/pids"
    rm -f "$dir/pids"
    echo "stopped $killed processes (run dir $dir)"
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
