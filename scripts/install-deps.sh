#!/usr/bin/env bash
# Installs what building and testing libndsr needs on Debian (bookworm): ZooKeeper 3.8 (run by
# the tests with java), its C client (the benchmark's reference), C and C++ compilers, make, pkg-config, cmake, valgrind, Go 1.19 (and 1.22 from bookworm-backports), Python venv
# support; the pinned cbindgen; and .venv with the Python original (nd_service_registry, from
# PyPI) for the interoperability test.
# Safe to run again: it installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.29.0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

apt_get() {
  # Another apt may hold the lock for a while (unattended upgrades, a parallel job): wait for it.
  for i in $(seq 1 60); do
    if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 "$@"; then return 0; fi
    echo "apt-get $* failed (attempt $i); retrying in 5 s" >&2
    sleep 5
  done
  return 1
}

need=()
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper)
command -v java >/dev/null || need+=(default-jre-headless)
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v c++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v cmake >/dev/null || need+=(cmake)
command -v valgrind >/dev/null || need+=(valgrind)
command -v go >/dev/null || need+=(golang-go)
command -v readelf >/dev/null || need+=(binutils)
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
# The ZooKeeper C client: the reference the benchmark compares libndsr with.
[ -f /usr/include/zookeeper/zookeeper.h ] || need+=(libzookeeper-mt-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt_get update -q
  apt_get install -y -q "${need[@]}"
fi

# A newer Go beside bookworm's 1.19, from bookworm-backports, for the Go package's log/slog
# adapter (Go 1.21 or later); the rest of the Go tests run with 1.19, the oldest supported.
if [ ! -x /usr/lib/go-1.22/bin/go ] && grep -q '^VERSION_CODENAME=bookworm' /etc/os-release 2>/dev/null; then
  echo "installing golang-1.22-go from bookworm-backports"
  echo "deb http://deb.debian.org/debian bookworm-backports main" |
    $SUDO tee /etc/apt/sources.list.d/ndsr-bookworm-backports.list >/dev/null
  apt_get update -q
  apt_get install -y -q -t bookworm-backports golang-1.22-go
fi

if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
  echo "installing cbindgen $CBINDGEN_VERSION"
  cargo install --quiet --locked cbindgen --version "$CBINDGEN_VERSION"
fi

if ! .venv/bin/python -c 'import nd_service_registry, pytest' 2>/dev/null; then
  echo "creating .venv with nd_service_registry and pytest"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check nd-service-registry==1.1.0 kazoo==2.11.0 \
    pytest==8.3.4 setuptools wheel
fi
