#!/usr/bin/env bash
# The Go binding's tests (plain and under -race; they start ZooKeeper with the shared harness)
# and the Go example, built and run against a ZooKeeper of its own.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# Built before GOFLAGS is set: a dependency's build script watches it (a change rebuilds).
make --quiet >/dev/null
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
(cd go/ndsr && go vet ./... && test -z "$(gofmt -l .)")
echo "== CGO_ENABLED=0: a clear error"
if out=$(cd go/ndsr && CGO_ENABLED=0 go build . 2>&1); then
  echo "CGO_ENABLED=0 built" >&2; exit 1
fi
grep -q 'ndsr_needs_cgo__build_with_CGO_ENABLED_1' <<<"$out" || { echo "$out" >&2; exit 1; }
echo "== go test"
(cd go/ndsr && go test -count=1 ./...)
echo "== go test -race"
(cd go/ndsr && go test -race -count=1 ./...)
echo "== go test with Go 1.22 (the log/slog adapter, Go 1.21+)"
go122=/usr/lib/go-1.22/bin/go
if [ -x "$go122" ]; then
  (cd go/ndsr && "$go122" vet . && "$go122" test -count=1 ./...)
else
  echo "no Go 1.22 ($go122; scripts/install-deps.sh installs it on bookworm)" >&2; exit 1
fi
echo "== examples/go/register"
(cd examples/go/register && go vet . && go build -o "$root/target/go-register" .)
zk=$(bash tests/harness/zk.sh start standalone)
base=$(sed -n 's/^BASE=//p' <<<"$zk")
server=$(sed -n 's/^CONNECT=//p' <<<"$zk")
trap 'bash tests/harness/zk.sh "$base" clean' EXIT
target/go-register -server "$server" -name a:1 -seconds 2 > target/go-register.log &
first=$!
for _ in $(seq 100); do grep -q 'servers' target/go-register.log 2>/dev/null && break; sleep 0.05; done
target/go-register -server "$server" -name b:2 -seconds 0.3 > /dev/null
wait $first
cat target/go-register.log
grep -q 'servers: \[a:1 b:2\]' target/go-register.log
grep -q 'leaving' target/go-register.log
echo "== -tags ndsr_system and ndsr_static against an installed library"
prefix=$root/target/gotest/prefix
rm -rf "$root/target/gotest"
env PATH=/usr/bin:/bin make --quiet install PREFIX="$prefix" >/dev/null
for tag in ndsr_system ndsr_static; do
  (cd examples/go/register && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
    go build -tags "$tag" -o "$root/target/gotest/register-$tag" .)
  # Neither binary points into the checkout; the static one needs no libndsr.so at all.
  if readelf -d "$root/target/gotest/register-$tag" | grep -q "$root/target/release"; then
    echo "$tag: an rpath into the checkout" >&2; exit 1
  fi
done
if ldd "$root/target/gotest/register-ndsr_static" | grep -q libndsr; then
  echo "ndsr_static links libndsr.so" >&2; exit 1
fi
out=$(LD_LIBRARY_PATH="$prefix/lib" target/gotest/register-ndsr_system -server "$server" -name s:1 -seconds 0.3)
grep -q 'servers: \[s:1\]' <<<"$out"
out=$(env -u LD_LIBRARY_PATH target/gotest/register-ndsr_static -server "$server" -name t:1 -seconds 0.3)
grep -q 'servers: \[t:1\]' <<<"$out"
echo "6 passed, 0 failed"
