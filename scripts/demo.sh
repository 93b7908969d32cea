#!/usr/bin/env bash
# The main job: starts a throw-away local ZooKeeper (installing it if missing), builds libndsr and
# runs examples/c/register.c twice: the first instance registers a service and prints the
# document and every change callback; a second instance joins for a moment and leaves.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f /usr/share/java/zookeeper.jar ] || scripts/install-deps.sh
echo "== building libndsr"
cargo build --release -p ndsr --lib --quiet
ln -sf libndsr.so target/release/libndsr.so.0
mkdir -p target/demo
cc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude examples/c/register.c \
  -o target/demo/register -Ltarget/release -Wl,-rpath,"$PWD/target/release" -lndsr -lpthread
echo "== starting ZooKeeper"
zk=$(bash tests/harness/zk.sh start standalone)
base=$(sed -n 's/^BASE=//p' <<<"$zk")
server=$(sed -n 's/^CONNECT=//p' <<<"$zk")
trap 'bash tests/harness/zk.sh "$base" clean' EXIT
echo "ZooKeeper at $server"
echo "== register server1:80 (stays 5 s), then server2:80 joins for 1 s"
target/demo/register --server "$server" --name server1:80 --data '{"state":"up","weight":10}' --seconds 5 &
first=$!
sleep 1.5
target/demo/register --server "$server" --name server2:80 --seconds 1 >/dev/null
wait $first
