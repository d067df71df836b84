#!/usr/bin/env python3
"""Checks that every dependency a user of the crate compiles (normal and build
dependencies, every feature on, for this machine's target; not dev-dependencies)
declares a rust-version no newer than ours, using the versions in Cargo.lock.

What it proves: Cargo.lock resolves to crates that say they build with our MSRV.
What it doesn't: that they (or we) really do; only compiling with that toolchain
proves it. clippy's incompatible_msrv lint (on in `cargo clippy -D warnings`)
covers our own use of std APIs newer than rust-version."""
import json
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


target = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
host = next(line.split(": ", 1)[1] for line in target.splitlines() if line.startswith("host: "))
meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked", "--filter-platform", host],
    capture_output=True, text=True, check=True).stdout)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = meta["resolve"]["root"]
ours = version(packages[root]["rust_version"])

seen, todo = set(), [root]
while todo:
    node = nodes[todo.pop()]
    for dep in node["deps"]:
        kinds = {k["kind"] for k in dep["dep_kinds"]}
        if kinds - {"dev"} and dep["pkg"] not in seen:
            seen.add(dep["pkg"])
            todo.append(dep["pkg"])

newer, unknown = [], []
for pid in sorted(seen, key=lambda i: packages[i]["name"]):
    p = packages[pid]
    rv = p.get("rust_version")
    if rv is None:
        unknown.append(f'{p["name"]} {p["version"]}')
    elif version(rv) > ours:
        newer.append(f'{p["name"]} {p["version"]} needs {rv}')
print(f"msrv: {len(seen)} dependencies checked against rust-version {'.'.join(map(str, ours))}; "
      f"{len(unknown)} declare none: {', '.join(unknown) or '-'}")
if newer:
    print("msrv: these need a newer Rust than ours:\n  " + "\n  ".join(newer))
    sys.exit(1)
