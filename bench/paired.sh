#!/usr/bin/env bash
# Paired repetitions of one workload, for a figure that one bench/run.sh run cannot settle on a
# noisy machine: W1 (register) or W2 (cold get), N rounds against one throw-away ZooKeeper,
# libndsr (this tree's build) and the ZooKeeper C client in each round, plus optionally another
# libndsr build (OTHER_LIB=<its target/release directory>, e.g. a `git worktree` of an older
# commit). The order rotates each round; one uncounted warm-up round comes first. Prints each
# round's figure, then per client the median of every figure the driver reports (for W1 also
# the process's CPU and context switches per register) and the median of the per-round ratios
# of the main figure to the C client's.
#
#   bench/paired.sh w1|w2 N
set -euo pipefail
cd "$(dirname "$0")/.."
workload=${1:?usage: bench/paired.sh w1|w2 N}
rounds=${2:?usage: bench/paired.sh w1|w2 N}
case $workload in
  w1) key=ops_per_s ;;
  w2) key=names_data_pipelined_ms ;;
  *) echo "paired.sh: w1 or w2" >&2; exit 2 ;;
esac
driver=target/bench/driver
[ -x "$driver" ] || { echo "paired.sh: build first (bench/run.sh or scripts/test.sh)" >&2; exit 1; }
clients="ndsr zkc"
if [ -n "${OTHER_LIB:-}" ]; then
  # The driver links libndsr.so.0: LD_LIBRARY_PATH must find that name in the other build.
  [ -e "$OTHER_LIB/libndsr.so.0" ] || ln -s libndsr.so "$OTHER_LIB/libndsr.so.0"
  clients="ndsr other zkc"
fi

out=$(tests/harness/zk.sh start standalone)
eval "$(echo "$out" | grep -E '^(BASE|CONNECT)=')"
trap 'tests/harness/zk.sh "$BASE" clean >/dev/null 2>&1 || true' EXIT
export BENCH_CONNECT=$CONNECT BENCH_PORT=${CONNECT##*:}
[ "$workload" = w2 ] && "$driver" setup /paired/list 0 1000 >/dev/null

one() { # client round -> the figure
  local arg
  if [ "$workload" = w1 ]; then arg=/paired/$1/r$2; else arg=/paired/list; fi
  case $1 in
    ndsr) "$driver" "$workload" ndsr "$arg" ;;
    other) LD_LIBRARY_PATH=$OTHER_LIB "$driver" "$workload" ndsr "$arg" ;;
    zkc) "$driver" "$workload" zkc "$arg" ;;
  esac | tr -d ' \n'
}

for c in $clients; do one "$c" warm >/dev/null; done
for r in $(seq 1 "$rounds"); do
  read -ra order <<<"$clients"
  shift_by=$((r % ${#order[@]}))
  order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
  for c in "${order[@]}"; do echo "$r $c $(one "$c" "$r")"; done
done | tee /dev/stderr | python3 -c "
import collections, json, statistics as st, sys
d = collections.defaultdict(dict)
for line in sys.stdin:
    r, c, rec = line.split(' ', 2)
    d[int(r)][c] = json.loads(rec)
rounds = sorted(d)
print('%d rounds; medians, and the median ratio of $key to the C client' % len(rounds))
for c in '$clients'.split():
    recs = [d[r][c] for r in rounds]
    figs = ', '.join('%s %.2f' % (k, st.median(x[k] for x in recs)) for k in recs[0]
                     if isinstance(recs[0][k], (int, float)))
    ratio = st.median(d[r][c]['$key'] / d[r]['zkc']['$key'] for r in rounds)
    print('%-6s %s; ratio %.3f' % (c, figs, ratio))
"
