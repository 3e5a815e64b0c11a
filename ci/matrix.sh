#!/usr/bin/env bash
# The CI build matrix as one script anyone can run locally:
#
#   ci/matrix.sh [SELECTOR...]        (default: all)
#
# Selectors (run in the order given; the first failure stops the run):
#   plain     warnings-as-errors build in build/, the whole ctest suite
#             (unit, integration, examples, CLI, sessions, fuzz corpora),
#             and the install check
#   asan      build-asan/ with AddressSanitizer + UBSan (Debug), whole ctest
#             suite; leaks and any sanitizer report fail it
#   valgrind  ci/valgrind.sh over build/ (unit tests, the client library's
#             integration programs, the emulator under valgrind); builds
#             build/ first if it is missing
#   fuzz      every fuzz target over its seed corpus (tests/fuzz/corpus/):
#             with clang, a libFuzzer build in build-fuzz/ (-DEMU_FUZZ=ON)
#             that replays the corpora, and with FUZZ_SECONDS=N also fuzzes
#             each target for N seconds (new inputs go to a scratch
#             directory, never into the tree); without clang, the plain
#             build's corpus runners (ctest -L fuzz)
#   sdk       the SDK compatibility suite (official @daytonaio/sdk, pinned)
#             against build/bin/daytona-emu
#   user-ci   the examples for users' CI: docs/examples/ci-recipe.sh and
#             the GitHub Actions workflow, run as tests (ctest -L user-ci)
#   all       ci/test.sh: everything .ci/run runs (plain, asan, valgrind,
#             SDK suite; the fuzz corpora and user-ci tests run inside ctest)
#
# Environment: JOBS (parallel jobs, default nproc), DT_CI_BUILD_ROOT (where
# build/, build-asan/ and build-fuzz/ go; default the checkout),
# FUZZ_SECONDS (see fuzz).  ci/setup.sh installs what every selector needs.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
root="${DT_CI_BUILD_ROOT:-.}"
mkdir -p "$root"
root="$(cd "$root" && pwd)"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

ctest_in() {   # dir [ctest args...]
  local d="$1"; shift
  (cd "$d" && ctest --output-on-failure -j"$jobs" "$@")
}

run_plain() {
  echo "== plain: build ($root/build) + ctest + install check"
  ci/build.sh "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  ctest_in "$root/build"
  ci/install-check.sh "$root/build"
}

run_asan() {
  echo "== asan: ASan+UBSan build ($root/build-asan) + ctest"
  ci/build.sh "$root/build-asan" -DEMU_ASAN=ON -DCMAKE_BUILD_TYPE=Debug
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest_in "$root/build-asan"
}

ensure_plain_build() {
  if [ ! -x "$root/build/bin/daytona-emu" ]; then
    ci/build.sh "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
}

run_valgrind() {
  echo "== valgrind over $root/build"
  ensure_plain_build
  ci/valgrind.sh "$root/build"
}

run_fuzz() {
  if ! command -v clang >/dev/null 2>&1; then
    echo "== fuzz: no clang; replaying the corpora with the plain build's runners"
    ensure_plain_build
    ctest_in "$root/build" -L fuzz
    return
  fi
  echo "== fuzz: libFuzzer build ($root/build-fuzz) replaying the corpora"
  # Warnings are gcc's job (plain, asan); clang has a few more of its own.
  CC=clang ci/build.sh "$root/build-fuzz" -DEMU_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
    -DEMU_WERROR=OFF
  ctest_in "$root/build-fuzz" -L fuzz
  local secs="${FUZZ_SECONDS:-0}"
  [ "$secs" -gt 0 ] || return 0
  local scratch
  scratch="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: the path is fixed
  trap "rm -rf '$scratch'" RETURN
  local artifacts="$root/build-fuzz/artifacts"
  mkdir -p "$artifacts"
  for t in "$root"/build-fuzz/tests/fuzz_*; do
    local name="${t##*/fuzz_}"
    mkdir -p "$scratch/$name"
    echo "-- fuzzing $name for ${secs}s"
    # The first directory receives new inputs; the seed corpus is read only.
    # A crashing input is kept in build-fuzz/artifacts/.
    if ! "$t" -max_total_time="$secs" -print_final_stats=1 \
         -artifact_prefix="$artifacts/$name-" \
         "$scratch/$name" "tests/fuzz/corpus/$name" >"$scratch/$name.log" 2>&1; then
      tail -60 "$scratch/$name.log"
      echo "fuzz_$name failed; input kept in $artifacts/" >&2
      return 1
    fi
    grep -E 'number_of_executed_units|new_units_added' "$scratch/$name.log"
  done
}

run_sdk() {
  echo "== SDK compatibility (@daytonaio/sdk, pinned)"
  ensure_plain_build
  EMU_BIN="$root/build/bin/daytona-emu" tests/sdk-compat/run.sh
}

run_user_ci() {
  echo "== examples for users' CI (ci-recipe.sh, GitHub Actions workflow)"
  ensure_plain_build
  ctest_in "$root/build" -L user-ci
}

[ "$#" -gt 0 ] || set -- all
for sel in "$@"; do
  case "$sel" in
    plain|asan|valgrind|fuzz|sdk) "run_$sel" ;;
    user-ci) run_user_ci ;;
    all) echo "== all: ci/test.sh"; ci/test.sh ;;
    -h|--help|help) usage; exit 0 ;;
    *) echo "ci/matrix.sh: unknown selector '$sel'" >&2; usage >&2; exit 2 ;;
  esac
done
echo "== matrix: $* passed"
