#!/usr/bin/env bash
# The failover demo: starts the local two-Sentinel topology (see topology.sh and the *.conf files
# here) in a temporary directory and runs the demo program (the demo/ crate) against it. It
# writes keys, shows how they spread over the shards, SIGKILLs one master and keeps writing
# through the failover. The topology is stopped and the directory removed on exit, also on
# Ctrl-C. Installs Redis with apt-get if it is missing.
# Usage: sentinel-conf/demo.sh [extra demo arguments (Sentinel addresses)...]
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
# demo/ is a crate of its own, so the first run compiles disredis, redis and tokio, not the main
# crate's dev-dependencies (axum, reqwest, proptest…) that an example would. A debug build: the
# demo measures nothing, and the dev profile compiles in about half the time of --release
# (docs/failover.md, "The demo's first run").
# It builds into the main crate's target/ (not demo/target): same dev profile as test.sh's
# `cargo test`, so the crates both build with the same features (measured: 40 of them, among
# them syn, proc-macro2, libc, mio, num-bigint) are compiled once for the two. disredis, tokio
# and redis themselves are not shared: test.sh builds them with other features.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# In the background plus `wait`, so that INT/TERM run the traps at once instead of only after the
# demo exits (bash runs traps only between foreground commands). `cargo run` execs the program,
# so cleanup's kill reaches the demo itself. The demo's exit status is the script's.
cargo run --manifest-path demo/Cargo.toml -- 127.0.0.1:26381 127.0.0.1:26382 "$@" &
demo_pid=$!
wait "$demo_pid"
