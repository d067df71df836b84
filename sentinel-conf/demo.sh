#!/usr/bin/env bash
# The failover demo: starts the local two-Sentinel topology (see topology.sh and the *.conf files
# here) in a temporary directory and runs the failover_demo example against it. The example
# writes keys, shows how they spread over the shards, SIGKILLs one master and keeps writing
# through the failover. The topology is stopped and the directory removed on exit, also on
# Ctrl-C. Installs Redis with apt-get if it is missing.
# Usage: sentinel-conf/demo.sh [extra failover_demo arguments...]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=sentinel-conf/lib.sh
source "$here/lib.sh"

install_redis_if_missing
require_cargo

run_dir=$(mktemp -d "${TMPDIR:-/tmp}/disredis-demo.XXXXXX")
demo_pid=
cleanup() {
    if [[ -n $demo_pid ]]; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    "$here/topology.sh" stop "$run_dir" || true
    rm -rf "$run_dir"
}
trap cleanup EXIT
# INT/TERM: exit with the usual status; the EXIT trap then cleans up (once).
trap 'exit 130' INT
trap 'exit 143' TERM

"$here/topology.sh" start "$run_dir"
cd "$here/.."
# In the background plus `wait`, so that INT/TERM run the traps at once instead of only after the
# demo exits (bash runs traps only between foreground commands). `cargo run` execs the example,
# so cleanup's kill reaches the example itself. The example's exit status is the script's.
cargo run --release --example failover_demo -- 127.0.0.1:26381 127.0.0.1:26382 "$@" &
demo_pid=$!
wait "$demo_pid"
