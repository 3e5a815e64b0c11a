#!/usr/bin/env bash
# Runs every test: the plain build's ctest suite (unit, integration, fuzz
# corpora), the same suite under AddressSanitizer+UBSan, the unit tests and
# the emulator under valgrind, and the SDK compatibility suite with the
# official @daytonaio/sdk.  Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== build (warnings are errors)"
ci/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== ctest"
(cd build && ctest --output-on-failure -j"$jobs")
ci/install-check.sh build

echo "== ASan/UBSan build + ctest"
ci/build.sh build-asan -DEMU_ASAN=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")

echo "== valgrind"
ci/valgrind.sh build

echo "== SDK compatibility (@daytonaio/sdk, pinned)"
EMU_BIN="$PWD/build/bin/daytona-emu" tests/sdk-compat/run.sh
echo "== spec conformance (Prism over the SDK and contract suites, tests/spec)"; EMU_BIN="$PWD/build/bin/daytona-emu" tests/spec/run.sh

echo "== benchmarks, smoke run (each still runs; no timing is checked)"; bench/run.sh --smoke

echo "== all tests passed"
