#!/usr/bin/env bash
# Builds libndsr, the C examples and the C tests (-Wall -Wextra -Werror), starts a ZooKeeper
# with the shared harness and runs them against it. Cleans up on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo build --release --lib --quiet
# The SONAME is libndsr.so.<major>; the loader looks for that name.
ln -sf libndsr.so target/release/libndsr.so.0
out=$root/target/ctest
mkdir -p "$out"
CFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -g -Iinclude)
LIBS=(-Ltarget/release -Wl,-rpath,"$root/target/release" -lndsr -lpthread)
cc "${CFLAGS[@]}" tests/c/test_api.c -o "$out/test_api" "${LIBS[@]}"
cc "${CFLAGS[@]}" examples/c/register.c -o "$out/register" "${LIBS[@]}"

zk=$(bash tests/harness/zk.sh start standalone)
base=$(sed -n 's/^BASE=//p' <<<"$zk")
export NDSR_TEST_SERVER=$(sed -n 's/^CONNECT=//p' <<<"$zk")
trap 'bash tests/harness/zk.sh "$base" clean' EXIT

echo "== C API test"
"$out/test_api"

echo "== examples/c/register.c"
# Two instances: the first sees the second arrive and leave through its change callback.
"$out/register" --server "$NDSR_TEST_SERVER" --name a:80 --seconds 4 > "$out/a.log" &
first=$!
for _ in $(seq 100); do grep -q 'change on' "$out/a.log" 2>/dev/null && break; sleep 0.05; done
"$out/register" --server "$NDSR_TEST_SERVER" --name b:80 --seconds 0.5 > "$out/b.log"
wait $first
cat "$out/a.log"
grep -q '"a:80":{' "$out/a.log"
grep -q '"b:80":{' "$out/a.log"          # the second instance was seen arriving…
tail -n 3 "$out/a.log" | grep 'change on' | tail -n 1 | grep -vq '"b:80"'   # …and leaving
grep -q 'closed; /services/demo/b:80 removed' "$out/b.log"
echo "1 passed, 0 failed"
