#!/usr/bin/env bash
# The benchmark in one command: builds libndsr and the C driver, starts a throw-away ZooKeeper,
# runs W1-W6 and M1 for libndsr and the ZooKeeper C client (interleaved), writes a JSON result
# and prints a table. `--quick` takes about two minutes. Needs what scripts/install-deps.sh
# installs (libzookeeper-mt-dev among it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
exec python3 bench/bench.py "$@"
