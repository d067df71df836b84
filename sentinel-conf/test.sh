#!/usr/bin/env bash
# Runs the whole test suite (unit tests and the integration tests against real redis-server and
# redis-sentinel processes). Installs Redis with apt-get first if it is missing: the tests never
# skip, so a machine without Redis fails them.
# The integration tests are one binary, tests/it/ (one module per area), so one area runs as
# e.g. `sentinel-conf/test.sh --test it failover::`.
# Usage: sentinel-conf/test.sh [cargo test arguments...]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=sentinel-conf/lib.sh
source "$here/lib.sh"

install_redis_if_missing
require_cargo
cd "$here/.."
exec cargo test --all-features "$@"
