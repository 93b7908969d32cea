#!/usr/bin/env bash
# Paired repetitions of one workload, for a figure that one bench/run.sh run cannot settle on a
# noisy machine: W1 (register, each client in its own process), W1 in blocks (`driver w1mixed`:
# both clients in one process, alternating blocks of registrations) or W2 (cold get). N rounds
# against one throw-away ZooKeeper (the server bench.py runs), libndsr (this tree's build) and
# the ZooKeeper C client in each round, plus optionally another libndsr build
# (OTHER_LIB=<its target/release directory>, e.g. a `git worktree` of an older commit). One
# uncounted warm-up round comes first; the order rotates each round. Prints each round's
# figures, then per libndsr build the median of every figure the driver reports and the median
# of the per-round ratios of the main figure to the C client's (for w1mixed, the C client's in
# the same process), then the C client's medians.
#
#   bench/paired.sh w1|w1mixed|w2 N      (w1mixed: BLOCK=<registrations per block>, 50 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bench/paired.sh w1|w1mixed|w2 N"
workload=${1:?$usage}
rounds=${2:?$usage}
case $workload in
  w1 | w1mixed) key=ops_per_s ;;
  w2) key=names_data_pipelined_ms ;;
  *) echo "$usage" >&2; exit 2 ;;
esac
driver=target/bench/driver
[ -x "$driver" ] || { echo "paired.sh: build first (bench/run.sh or scripts/test.sh)" >&2; exit 1; }
builds="ndsr"
if [ -n "${OTHER_LIB:-}" ]; then
  # The driver links libndsr.so.0: LD_LIBRARY_PATH must find that name in the other build.
  [ -e "$OTHER_LIB/libndsr.so.0" ] || ln -s libndsr.so "$OTHER_LIB/libndsr.so.0"
  builds="ndsr other"
fi
clients="$builds"
[ "$workload" = w1mixed ] || clients="$builds zkc"

out=$(ZK_TICK=2000 ZK_JVM_EXTRA="-XX:TieredStopAtLevel=4 -Xmx1g" tests/harness/zk.sh start standalone)
eval "$(echo "$out" | grep -E '^(BASE|CONNECT)=')"
trap 'tests/harness/zk.sh "$BASE" clean >/dev/null 2>&1 || true' EXIT
export BENCH_CONNECT=$CONNECT BENCH_PORT=${CONNECT##*:}
[ "$workload" = w2 ] && "$driver" setup /paired/list 0 1000 >/dev/null

one() { # client round -> one JSON line (for w1mixed: {"ndsr":{..},"zkc":{..}})
  local lib= kind=ndsr
  case $1 in
    other) lib=$OTHER_LIB ;;
    zkc) kind=zkc ;;
  esac
  case $workload in
    w1) LD_LIBRARY_PATH=$lib "$driver" w1 "$kind" "/paired/$1/r$2" ;;
    w1mixed) LD_LIBRARY_PATH=$lib "$driver" w1mixed "/paired/$1/r$2" "${BLOCK:-50}" ;;
    w2) LD_LIBRARY_PATH=$lib "$driver" w2 "$kind" /paired/list ;;
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
# Per build and round: its figures, and the C client's it is compared with.
mixed = '$workload' == 'w1mixed'
pairs = {c: [(d[r][c]['ndsr'], d[r][c]['zkc']) if mixed else (d[r][c], d[r]['zkc']) for r in rounds]
         for c in '$builds'.split()}
def medians(recs):
    return ', '.join('%s %.2f' % (k, st.median(x[k] for x in recs)) for k in recs[0]
                     if isinstance(recs[0][k], (int, float)))
print('%d rounds; medians, and the median ratio of $key to the C client' % len(rounds))
for c, ps in pairs.items():
    ratio = st.median(n['$key'] / z['$key'] for n, z in ps)
    print('%-6s %s; ratio %.3f' % (c, medians([n for n, _ in ps]), ratio))
print('%-6s %s' % ('zkc', medians([z for ps in pairs.values() for _, z in ps])))
"
