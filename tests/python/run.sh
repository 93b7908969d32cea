#!/usr/bin/env bash
# The Python package's tests: builds the wheel from python/ (libndsr.so inside), installs it into
# .venv as a user would (`pip install ./python`), and runs python/tests with pytest against a
# ZooKeeper of their own, next to the original nd_service_registry.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
make --quiet >/dev/null
rm -rf target/wheel
.venv/bin/pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
  -w target/wheel ./python
wheel=$(ls target/wheel/ndsr-*.whl)
# A platform wheel that carries the library.
case "$wheel" in *-linux_*.whl) ;; *) echo "not a platform wheel: $wheel" >&2; exit 1 ;; esac
.venv/bin/python -m zipfile -l "$wheel" | grep -q 'ndsr/_native/libndsr.so'
.venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
# From elsewhere, so that the installed package is the one imported, not python/ndsr.
cd /tmp
"$root/.venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore::DeprecationWarning \
  "$root/python/tests"
