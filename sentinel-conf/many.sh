#!/usr/bin/env bash
# A benchmark topology with N masters (no replicas) and one Sentinel, for the
# many-shard rows of the benchmark, bench/ (docs/performance.md):
#   masters shard-01 … shard-N on 127.0.0.1:17001 … 17000+N, Sentinel 127.0.0.1:27001
# Usage: many.sh start DIR N   starts them (no persistence), waits until the Sentinel
#                              monitors every master, prints the Sentinel address
#        many.sh stop DIR      SIGKILLs what `start DIR` recorded
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=sentinel-conf/lib.sh
source "$here/lib.sh"

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: $0 start DIR N | stop DIR"

case $cmd in
start)
    n=${3:-}
    [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 64 ]] || die "N must be 1..64"
    install_redis_if_missing
    mkdir -p "$dir"
    : >"$dir/pids"
    sentinel_conf="$dir/sentinel.conf"
    printf 'port 27001\nbind 127.0.0.1\n' >"$sentinel_conf"
    for i in $(seq 1 "$n"); do
        port=$((17000 + i))
        name=$(printf 'shard-%02d' "$i")
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --logfile "$dir/$name.log" --daemonize no >/dev/null 2>&1 </dev/null &
        echo "$! $name $port" >>"$dir/pids"
        printf 'sentinel monitor %s 127.0.0.1 %s 1\n' "$name" "$port" >>"$sentinel_conf"
    done
    for i in $(seq 1 "$n"); do
        until redis-cli -p $((17000 + i)) ping >/dev/null 2>&1; do sleep 0.05; done
    done
    redis-sentinel "$sentinel_conf" --logfile "$dir/sentinel.log" >/dev/null 2>&1 </dev/null &
    echo "$! sentinel 27001" >>"$dir/pids"
    for _ in $(seq 1 200); do
        seen=$(redis-cli -p 27001 sentinel masters 2>/dev/null | grep -c '^shard-' || true)
        [[ $seen -eq $n ]] && { echo "sentinel: 127.0.0.1:27001 ($n masters)"; exit 0; }
        sleep 0.05
    done
    die "the Sentinel does not monitor all $n masters; see $dir/sentinel.log"
    ;;
stop)
    [[ -f $dir/pids ]] || exit 0
    while read -r pid _ _; do kill -9 "$pid" 2>/dev/null || true; done <"$dir/pids"
    rm -f "$dir/pids"
    ;;
*) die "usage: $0 start DIR N | stop DIR" ;;
esac
