#!/usr/bin/env bash
# Regenerates include/ndsr.h with cbindgen; with --verify, fails if the committed header differs.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --verify ]; then
  cbindgen --config cbindgen.toml --crate ndsr --verify --output include/ndsr.h
else
  cbindgen --config cbindgen.toml --crate ndsr --output include/ndsr.h
fi
