#!/usr/bin/env bash
# Runs every check and test: formatting, clippy, header drift, Rust unit and integration tests
# (against real ZooKeeper servers the tests start), the C and C++ tests (plain, as C++, ASan+UBSan,
# valgrind, static) with the examples, the Go binding's tests (plain and -race), and builds the
# benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tests need (ZooKeeper, compilers, Go, valgrind, cbindgen, the Python original's venv):
# installed if missing, so that this one command works on a bare machine.
scripts/install-deps.sh
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== minimum Rust version"
scripts/msrv.sh
echo "== header drift (include/ndsr.h vs cbindgen)"
scripts/gen-header.sh --verify
echo "== cargo test"
cargo test --workspace --quiet
echo "== C and C++ tests"
tests/c/run.sh
echo "== Go tests"
tests/go/run.sh
echo "== Python tests (the package built and installed into .venv, as pip install ./python does)"
tests/python/run.sh
echo "== benchmark build (bench/run.sh runs it; CI does not judge its numbers)"
python3 bench/bench.py --build-only
