#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, header drift, Rust unit and integration tests
# (against real ZooKeeper servers the tests start), and the C API tests and example.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
echo "== header drift (include/ndsr.h vs cbindgen)"
scripts/gen-header.sh --verify
echo "== cargo test"
cargo test --quiet
echo "== C tests"
tests/c/run.sh
