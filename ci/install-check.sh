#!/usr/bin/env bash
# Installs libdaytona into a temporary prefix and builds a small consumer
# program against the installed copy twice -- with pkg-config and with
# find_package(Daytona) -- then runs it with LD_LIBRARY_PATH set to the
# prefix (the consumer checks that the run-time version equals the
# compile-time one and that a client without credentials fails with
# DT_ECONFIG).  Also checks the installed file set, the soname and that the
# library exports only dt_* symbols, builds the four examples against the
# installed copy and runs coding_game with it against the emulator.
# Usage: ci/install-check.sh [BUILD_DIR] (default build; configured and
# built if needed).  Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
src="$PWD/tests/examples/install-consumer"
dir="${1:-build}"

fail() { echo "install-check: $*" >&2; exit 1; }

echo "== install check (installed libdaytona: pkg-config and CMake consumers)"

ci/build.sh "$dir"

tmp=$(mktemp -d /tmp/dt-install-check.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
cmake --install "$dir" --prefix "$prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log"; fail "cmake --install failed"; }

# Where GNUInstallDirs put things (lib, lib64 or lib/<multiarch>).
pc=$(find "$prefix" -name libdaytona.pc -print -quit)
[ -n "$pc" ] || fail "libdaytona.pc not installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
for f in "$libdir/libdaytona.so" "$libdir/libdaytona.so.0" \
         "$prefix/include/daytona/daytona.h" "$prefix/include/daytona/version.h" \
         "$libdir/cmake/Daytona/DaytonaConfig.cmake" \
         "$libdir/cmake/Daytona/DaytonaConfigVersion.cmake" \
         "$libdir/cmake/Daytona/DaytonaTargets.cmake"; do
  [ -e "$f" ] || fail "missing after install: ${f#"$prefix"/}"
done
# Nothing internal is installed.
for f in "$libdir/libdtcommon.a" "$libdir/libdaytona_static.a" \
         "$prefix/include/daytona/internal.h"; do
  [ ! -e "$f" ] || fail "installed but internal: ${f#"$prefix"/}"
done
real=$(readlink -f "$libdir/libdaytona.so")
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libdaytona.so.0" ] || fail "soname is '$soname', want libdaytona.so.0"
leaked=$(nm -D --defined-only "$real" | awk '{print $3}' | grep -v '^dt_' || true)
[ -z "$leaked" ] || fail "libdaytona.so exports non-dt_ symbols: $(tr '\n' ' ' <<<"$leaked" | head -c 300)"
echo "install-check: installed files ok ($prefix)"

# The consumer must see no credentials at all.
run() {
  env -u DAYTONA_API_KEY -u DAYTONA_JWT_TOKEN -u DAYTONA_ORGANIZATION_ID \
      -u DAYTONA_API_URL -u DAYTONA_TARGET \
      LD_LIBRARY_PATH="$libdir" "$@"
}
check_run() {   # binary label
  local out line
  out=$(run "$1") || fail "$2 consumer failed: $out"
  while IFS= read -r line; do echo "  [$2] $line"; done <<<"$out"
  grep -q '^consumer ok$' <<<"$out" || fail "$2 consumer did not finish"
  # It must have loaded the installed library, not the build tree's.
  run ldd "$1" | grep -q "libdaytona.so.0 => $libdir/" ||
    fail "$2 consumer does not resolve libdaytona from the prefix"
}

# 1. pkg-config
export PKG_CONFIG_PATH="$pcdir"
[ "$(pkg-config --modversion libdaytona)" = "$(sed -n 's/^#define DT_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/daytona/version.h")" ] ||
  fail "pkg-config version differs from version.h"
pkg-config --print-requires-private libdaytona | grep -q '^libcurl' || fail "Requires.private lacks libcurl"
pkg-config --print-requires-private libdaytona | grep -q '^libcjson' || fail "Requires.private lacks libcjson"
# shellcheck disable=SC2046  # word splitting of pkg-config's flags is wanted
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -o "$tmp/consumer-pc" "$src/consumer.c" \
    $(pkg-config --cflags --libs libdaytona) || fail "pkg-config build failed"
check_run "$tmp/consumer-pc" pkg-config
unset PKG_CONFIG_PATH

# 2. find_package(Daytona)
cmake -S "$src" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" \
      -DDAYTONA_WANT_VERSION=0.1 >"$tmp/cm.log" 2>&1 ||
  { cat "$tmp/cm.log"; fail "find_package(Daytona 0.1) configure failed"; }
cmake --build "$tmp/cm" >"$tmp/cm-build.log" 2>&1 ||
  { cat "$tmp/cm-build.log"; fail "CMake consumer build failed"; }
check_run "$tmp/cm/consumer" cmake
# The version file must refuse an incompatible request.
if cmake -S "$src" -B "$tmp/cm-bad" -DCMAKE_PREFIX_PATH="$prefix" \
      -DDAYTONA_WANT_VERSION=99.0 >"$tmp/cm-bad.log" 2>&1; then
  fail "find_package(Daytona 99.0) was accepted"
fi

# A C++ program can include the header too (extern "C").
if command -v g++ >/dev/null; then
  echo '#include <daytona/daytona.h>
int main() { return dt_version() ? 0 : 1; }' >"$tmp/cxx.cc"
  g++ -Wall -Wextra -Werror -I"$prefix/include" -o "$tmp/cxx" "$tmp/cxx.cc" \
      -L"$libdir" -ldaytona || fail "C++ consumer build failed"
  run "$tmp/cxx" || fail "C++ consumer failed"
fi

# The real examples build against the installed copy too (proving they
# use only the public API: the shared library exports nothing else), and
# one runs against the emulator with the installed library.
export PKG_CONFIG_PATH="$pcdir"
for ex in coding_game parallel_agents demo_renderer agent_runner; do
  # shellcheck disable=SC2046
  gcc -std=c11 -Wall -Wpedantic -Wextra -Werror -pthread -o "$tmp/$ex" \
      examples/$ex.c $(pkg-config --cflags --libs libdaytona libcurl) ||
    fail "examples/$ex.c does not build against the installed library"
done
unset PKG_CONFIG_PATH
LD_LIBRARY_PATH="$libdir" EMU_BIN="$(cd "$dir" && pwd)/bin/daytona-emu" \
  tests/examples/run_example.sh --expect "coding_game: ok" -- "$tmp/coding_game" \
  >"$tmp/example.log" 2>&1 || { cat "$tmp/example.log"; fail "installed coding_game failed"; }
LD_LIBRARY_PATH="$libdir" ldd "$tmp/coding_game" | grep -q "libdaytona.so.0 => $libdir/" ||
  fail "the example does not use the installed library"
echo "install-check: examples built and coding_game ran against the installed library"

echo "install-check: ok"
