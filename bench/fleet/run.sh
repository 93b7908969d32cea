#!/usr/bin/env bash
# The fleet benchmark in one command (see bench/fleet/fleet.py for what it does and measures):
# builds libndsr and its fleet member, and runs 300 sessions of libndsr, of kazoo and of the
# Python original against a throw-away 3-node ensemble through the leader kill, the 20 s outage
# and the expiry. About 20 minutes on 2 cores. Arguments go to fleet.py (--clients, --kinds,
# --scenarios, --out).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$HOME/.cargo/bin:$PATH"
[ -x .venv/bin/python ] && .venv/bin/python -c 'import kazoo, nd_service_registry' 2>/dev/null ||
  bash scripts/install-deps.sh
# kazoo's threading handler starts a thread per DataWatch when a session comes back: 50 clients
# of 300 watches in one process start 15,000 at once, and six such processes pass Linux's
# default pid_max (32,768), which crashes them. Raised when we may.
if [ "$(cat /proc/sys/kernel/pid_max)" -lt 4194304 ]; then
  if [ "$(id -u)" = 0 ]; then
    sysctl -qw kernel.pid_max=4194304
  else
    echo "fleet: kernel.pid_max is $(cat /proc/sys/kernel/pid_max); kazoo's fleet may run out of threads" \
         "(sudo sysctl -w kernel.pid_max=4194304)" >&2
  fi
fi
exec .venv/bin/python bench/fleet/fleet.py "$@"
