# shellcheck shell=bash
# Helpers shared by demo.sh, test.sh and topology.sh. Source this file; do not run it.

die() {
    echo "error: $*" >&2
    exit 1
}

# Installs Debian's redis-server, redis-sentinel and redis-tools with apt-get when redis-server,
# redis-sentinel or redis-cli is missing. Uses sudo only when not running as root.
# (On a machine with systemd the packages also start services on 6379/26379; the demo topology
# and the tests use other ports, so those services do not get in the way.)
install_redis_if_missing() {
    local cmd missing=()
    for cmd in redis-server redis-sentinel redis-cli; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    ((${#missing[@]} == 0)) && return 0

    echo "Redis is missing (${missing[*]}): installing redis-server redis-sentinel redis-tools with apt-get" >&2
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: install Redis >= 7 (redis-server, redis-sentinel, redis-cli) and put it on PATH"
    local sudo=()
    if (($(id -u) != 0)); then
        command -v sudo >/dev/null 2>&1 ||
            die "not root and sudo not found: as root run apt-get install redis-server redis-sentinel redis-tools"
        sudo=(sudo)
    fi
    ${sudo[@]+"${sudo[@]}"} apt-get update
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server redis-sentinel redis-tools
    for cmd in redis-server redis-sentinel redis-cli; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd is still not on PATH after apt-get install"
    done
}

require_cargo() {
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust (https://rustup.rs) and make sure cargo is on PATH"
}
