#!/usr/bin/env bash
# The Python benchmark (bench/python/bench.py): builds and installs the package into .venv,
# starts a throw-away standalone ZooKeeper, and prints the table (about a minute).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
.venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
  --no-build-isolation ./python
zk=$(bash tests/harness/zk.sh start standalone)
base=$(sed -n 's/^BASE=//p' <<<"$zk")
server=$(sed -n 's/^CONNECT=//p' <<<"$zk")
trap 'bash "$root/tests/harness/zk.sh" "$base" clean' EXIT
mkdir -p target/bench
cd /tmp
"$root/.venv/bin/python" -W ignore "$root/bench/python/bench.py" "$server" \
  --out "$root/target/bench/python-$(date -u +%Y%m%dT%H%M%S).json"
