#!/usr/bin/env bash
# The C and C++ consumer tests. Installs libndsr with `make install` into a temporary prefix and
# builds everything from there with pkg-config, as a user would; then, against a ZooKeeper from
# the shared harness, runs:
#   - tests/c/test_api.c: plain, compiled as C++, under ASan+UBSan, under valgrind, and linked
#     statically against libndsr.a;
#   - tests/cpp/test_wrapper.cpp (the C++ wrapper);
#   - the examples (each built with -Wall -Wextra -Werror).
set -euo pipefail
# A check that must fail (`! cmd` alone is ignored by `set -e`).
refute() { if "$@"; then echo "unexpectedly true: $*" >&2; exit 1; fi; }
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=$root/target/ctest
rm -rf "$out" && mkdir -p "$out"
prefix=$out/prefix
# Both installs before PKG_CONFIG_PATH is set: a dependency's build script watches it, and a
# change would rebuild the crate.
make --quiet >/dev/null
# Installing never builds: it works with a PATH that has no cargo (sudo's, say).
nocargo=(env PATH=/usr/bin:/bin)
"${nocargo[@]}" make --quiet install PREFIX="$prefix" >/dev/null
# DESTDIR stages the install; the pkg-config file still names the real prefix.
"${nocargo[@]}" make --quiet install DESTDIR="$out/stage" PREFIX=/opt/ndsr >/dev/null
for f in lib/libndsr.so.0 lib/libndsr.a include/ndsr.h include/ndsr.hpp bin/ndsr lib/pkgconfig/ndsr.pc \
         lib/pkgconfig/ndsr-static.pc lib/cmake/ndsr/ndsrConfig.cmake share/man/man1/ndsr.1 share/man/man3/ndsr.3; do
  [ -e "$out/stage/opt/ndsr/$f" ] || { echo "not installed: $f"; exit 1; }
done
grep -q '^prefix=/opt/ndsr$' "$out/stage/opt/ndsr/lib/pkgconfig/ndsr.pc"
# ndsr.3 documents every function of the header; ndsr.1 every command.
for f in $(grep -o '^[a-z_ *]*\bndsr_[a-z_]*(' include/ndsr.h | grep -o 'ndsr_[a-z_]*' | sort -u); do
  grep -q "$f(" "$out/stage/opt/ndsr/share/man/man3/ndsr.3" || { echo "ndsr.3 lacks $f"; exit 1; }
done
for c in get set unset watch lock pick register; do
  grep -q "^.SH COMMAND: ${c^^}" "$out/stage/opt/ndsr/share/man/man1/ndsr.1" || { echo "ndsr.1 lacks $c"; exit 1; }
done
"$out/stage/opt/ndsr/bin/ndsr" --version >/dev/null
# A CMake consumer through find_package(ndsr), shared and static.
mkdir -p "$out/cmake"
cat > "$out/cmake/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(consumer C)
find_package(ndsr 0.1 REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer ndsr::ndsr)
add_executable(consumer_static main.c)
target_link_libraries(consumer_static ndsr::ndsr_static)
CMAKE
printf '#include <ndsr.h>\n#include <string.h>\nint main(void) { return strcmp(ndsr_version(), "%s") != 0; }\n' \
  "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" > "$out/cmake/main.c"
cmake -S "$out/cmake" -B "$out/cmake/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$prefix/lib" >/dev/null
cmake --build "$out/cmake/build" >/dev/null
"$out/cmake/build/consumer" && "$out/cmake/build/consumer_static"
refute grep -q libndsr <(ldd "$out/cmake/build/consumer_static")
# A newer major version than installed is refused.
mkdir -p "$out/cmake2"
sed 's/find_package(ndsr 0.1 REQUIRED)/find_package(ndsr 1.0 REQUIRED)/' "$out/cmake/CMakeLists.txt" > "$out/cmake2/CMakeLists.txt"
cp "$out/cmake/main.c" "$out/cmake2/"
refute cmake -S "$out/cmake2" -B "$out/cmake2/build" -DCMAKE_PREFIX_PATH="$prefix" -Wno-dev >/dev/null 2>&1
# Installed without debug info; only ndsr_* is exported.
refute grep -q '\.debug_info' <(readelf -S "$prefix/lib/libndsr.so")
extra=$(nm -D --defined-only "$prefix/lib/libndsr.so" | awk '{print $3}' | grep -v '^ndsr_' || true)
[ -z "$extra" ] || { echo "exported besides ndsr_*: $extra"; exit 1; }
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion ndsr)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" ]
readelf -d "$prefix/lib/libndsr.so" | grep -q 'SONAME.*libndsr.so.0'

WARN=(-Wall -Wextra -Werror)
CF=(-std=c11 -D_POSIX_C_SOURCE=200809L "${WARN[@]}" -g $(pkg-config --cflags ndsr))
LD=($(pkg-config --libs ndsr) -Wl,-rpath,"$prefix/lib" -lpthread)
SAN=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)

# The header is plain C89 too (no `//` comments), and C++ with every warning.
printf '#include <ndsr.h>\nint main(void) { return ndsr_version() == 0; }\n' > "$out/c89.c"
cc -std=c89 -pedantic-errors "${WARN[@]}" $(pkg-config --cflags ndsr) -c "$out/c89.c" -o "$out/c89.o"
c++ -x c++ -std=c++11 -pedantic-errors "${WARN[@]}" $(pkg-config --cflags ndsr) -c "$out/c89.c" -o "$out/cxx11.o"
cc "${CF[@]}" tests/c/test_api.c -o "$out/test_api" "${LD[@]}"
c++ -x c++ -std=c++17 "${WARN[@]}" -g $(pkg-config --cflags ndsr) tests/c/test_api.c -o "$out/test_api_cxx" "${LD[@]}"
cc "${CF[@]}" "${SAN[@]}" tests/c/test_api.c -o "$out/test_api_asan" "${LD[@]}"
cc "${CF[@]}" tests/c/test_api.c -o "$out/test_api_static" \
  "$prefix/lib/libndsr.a" $(pkg-config --static --libs-only-l ndsr | sed 's/-lndsr//')
# The same through ndsr-static.pc: one pkg-config call.
cc "${CF[@]}" examples/c/register.c -o "$out/register_static" $(pkg-config --libs ndsr-static)
refute grep -q libndsr <(ldd "$out/register_static")
c++ -std=c++17 "${WARN[@]}" -g $(pkg-config --cflags ndsr) tests/cpp/test_wrapper.cpp -o "$out/test_wrapper" "${LD[@]}"
c++ -std=c++17 "${WARN[@]}" $(pkg-config --cflags ndsr) examples/cpp/register.cpp -o "$out/register_cpp" "${LD[@]}"
for ex in register watch config client; do
  cc "${CF[@]}" "examples/c/$ex.c" -o "$out/$ex" "${LD[@]}"
done
# README's line for linking without installing builds a binary that starts.
(cd "$root" && cc "$out/c89.c" -Iinclude -Ltarget/release -lndsr -Wl,-rpath,"$PWD/target/release" -o "$out/uninstalled")
env -u LD_LIBRARY_PATH "$out/uninstalled"
# The static binary really carries the library.
refute grep -q libndsr <(ldd "$out/test_api_static")

zk=$(bash tests/harness/zk.sh start standalone)
base=$(sed -n 's/^BASE=//p' <<<"$zk")
export NDSR_TEST_SERVER=$(sed -n 's/^CONNECT=//p' <<<"$zk")
trap 'bash tests/harness/zk.sh "$base" clean' EXIT
suites=0

run() { echo "== $1"; shift; "$@"; suites=$((suites + 1)); }
run "C API test" "$out/test_api"
run "C API test compiled as C++" "$out/test_api_cxx"
run "C API test, static libndsr.a" "$out/test_api_static"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run "C API test under ASan+UBSan" "$out/test_api_asan"
run "C API test under valgrind" valgrind -q --error-exitcode=3 --leak-check=full \
  --errors-for-leak-kinds=definite --show-leak-kinds=definite "$out/test_api"
run "C++ wrapper test" "$out/test_wrapper"

echo "== examples/c/register.c"
# Two instances: the first sees the second arrive and leave through its change callback, and
# leaves cleanly on SIGTERM.
"$out/register" --server "$NDSR_TEST_SERVER" --name a:80 > "$out/a.log" &
first=$!
for _ in $(seq 200); do grep -q 'change on' "$out/a.log" 2>/dev/null && break; sleep 0.05; done
"$out/watch" --server "$NDSR_TEST_SERVER" --seconds 3 /services/demo > "$out/watch.log" &
watcher=$!
"$out/register" --server "$NDSR_TEST_SERVER" --name b:80 --seconds 0.5 > "$out/b.log"
for _ in $(seq 200); do [ "$(grep -c 'change on' "$out/a.log")" -ge 3 ] && break; sleep 0.05; done
kill -TERM $first
wait $first
cat "$out/a.log"
grep -q '"a:80":{' "$out/a.log"
grep -q '"b:80":{' "$out/a.log"          # the second instance was seen arriving…
grep 'change on' "$out/a.log" | tail -n 1 | grep -vq '"b:80"'   # …and leaving
grep -q 'closed; /services/demo/a:80 removed' "$out/a.log"    # SIGTERM: clean exit
suites=$((suites + 1))

echo "== examples/c/client.c"
"$out/register" --server "$NDSR_TEST_SERVER" --name c:80 --seconds 3 > "$out/c.log" &
"$out/client" --server "$NDSR_TEST_SERVER" --requests 4 /services/demo | tee "$out/client.log"
[ "$(grep -c '^request [0-3] -> c:80$' "$out/client.log")" -eq 4 ]
suites=$((suites + 1))

echo "== examples/c/watch.c"
wait $watcher
cat "$out/watch.log"
grep -q '^#1 /services/demo ' "$out/watch.log"
grep -q '"b:80"' "$out/watch.log"
suites=$((suites + 1))

echo "== examples/c/config.c"
"$out/config" --server "$NDSR_TEST_SERVER" --set '{"threads":8}' /config/demo | tee "$out/config.log"
grep -q '"data":{"pid":[0-9]*,"created":"[^"]*","threads":8}' "$out/config.log"
"$out/config" --server "$NDSR_TEST_SERVER" --seconds 3 /config/demo > "$out/config2.log" &
reader=$!
for _ in $(seq 200); do grep -q '^config ' "$out/config2.log" 2>/dev/null && break; sleep 0.05; done
"$out/config" --server "$NDSR_TEST_SERVER" --set '{"threads":16}' /config/demo > /dev/null
wait $reader
cat "$out/config2.log"
grep -q 'config /config/demo is now .*"threads":16' "$out/config2.log"
suites=$((suites + 1))

echo "== examples/cpp/register.cpp"
"$out/register_cpp" "$NDSR_TEST_SERVER" 1 | tee "$out/cpp.log"
grep -q '"host1:8080":{' "$out/cpp.log"
suites=$((suites + 1))

echo "$suites passed, 0 failed"
