#!/usr/bin/env bash
# Checks that Cargo.toml's rust-version (the minimum Rust the project states) is true of the
# locked dependencies built on this platform: none may need a newer Rust. (The project's own
# code is held to it by clippy's incompatible_msrv lint, which reads the same rust-version.)
set -euo pipefail
cd "$(dirname "$0")/.."
stated=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
host=$(rustc -vV | sed -n 's/^host: //p')
cargo metadata --format-version 1 --locked --filter-platform "$host" | python3 -c '
import json, sys
def version(text):
    v = [int(x) for x in text.split(".")]
    return tuple(v + [0] * (3 - len(v)))
stated = version(sys.argv[1])
m = json.load(sys.stdin)
resolved = {n["id"] for n in m["resolve"]["nodes"]}
need = [(version(p["rust_version"]), p["name"], p["version"])
        for p in m["packages"] if p["id"] in resolved and p.get("rust_version")]
def text(v):
    return ".".join(str(x) for x in v)
too_new = sorted(n for n in need if n[0] > stated)
for v, name, ver in too_new:
    print(f"{name} {ver} needs Rust {text(v)}, more than the stated {sys.argv[1]}")
if too_new:
    sys.exit(1)
v, name, ver = max(need)
print(f"rust-version {sys.argv[1]}: true of every locked dependency (the most demanding: {name} {ver}, {text(v)})")
' "$stated"
