#!/usr/bin/env bash
# The benchmarks of issue 9, in one command: builds in release mode (its own
# build directory), runs every benchmark with its baseline in the same run,
# prints the table, writes the JSON and draws the charts.
#
#   bench/run.sh                 # full run: bench/results/latest.json + *.png
#   bench/run.sh --smoke         # CI: 1 repetition, tiny sizes; checks every
#                                # benchmark still runs and the JSON is sound
#                                # (results go to the build directory)
#   bench/run.sh --reps 5 --only 1,3
#
# BENCH_BUILD_DIR (default build-bench), BENCH_TMPDIR (scratch files, the
# 1 GiB transfer file included; default /tmp) and BENCH_OPENAPI (the document
# Prism mocks; default shared/reference/daytona-openapi/api-v0.190.0.yaml
# beside the repository) may be set; BENCH_VERBOSE=1 shows the servers'
# stderr.  Needs node (the Prism and SDK baselines) and
# gnuplot for the charts (ci/setup.sh installs both).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

smoke=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1; args+=(--smoke); shift ;;
    --reps|--only) args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

build="${BENCH_BUILD_DIR:-$root/build-bench}"
echo "== build (Release) in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DDT_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" \
  --target daytona-emu daytona-emu-sandbox daytona-sessions dt-bench >/dev/null

# Prism: the spec helper's copy when it is there, else ours (pinned by
# bench/package-lock.json).
prism=""
if command -v node >/dev/null 2>&1; then
  if [ -x tests/spec/node_modules/.bin/prism ]; then
    prism="$root/tests/spec/node_modules/.bin/prism"
  else
    if [ ! -x bench/node_modules/.bin/prism ]; then
      echo "== installing Prism (bench/package-lock.json)"
      (cd bench && npm ci --no-audit --no-fund --loglevel=error) ||
        echo "bench/run.sh: Prism could not be installed: no Prism baseline" >&2
    fi
    if [ -x bench/node_modules/.bin/prism ]; then
      prism="$root/bench/node_modules/.bin/prism"
    fi
  fi
else
  echo "bench/run.sh: node not found: no Prism or SDK baseline" >&2
fi
sdk=""
if command -v node >/dev/null 2>&1; then
  if [ ! -d tests/sdk-compat/node_modules/@daytonaio/sdk ]; then
    (cd tests/sdk-compat && npm ci --no-audit --no-fund --loglevel=error) ||
      echo "bench/run.sh: the SDK could not be installed: no SDK baseline" >&2
  fi
  if [ -d tests/sdk-compat/node_modules/@daytonaio/sdk ]; then
    sdk="$root/tests/sdk-compat"
  fi
fi

if [ "$smoke" = 1 ]; then
  outdir="$build/bench-results"
else
  outdir="$root/bench/results"
fi
mkdir -p "$outdir"
json="$outdir/latest.json"

echo "== running (smoke=$smoke)"
BENCH_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || true) \
"$build/bin/dt-bench" "${args[@]}" --bin-dir "$build/bin" --out "$json" \
  --prism "$prism" \
  --openapi "${BENCH_OPENAPI:-$root/../shared/reference/daytona-openapi/api-v0.190.0.yaml}" \
  --sdk-dir "$sdk" --seed-js "$root/bench/seed_flow.js"
echo "== results: $json"

if command -v gnuplot >/dev/null 2>&1; then
  "$build/bin/dt-bench" --dat "$json" > "$outdir/latest.dat"
  gnuplot -e "dat='$outdir/latest.dat'; outdir='$outdir'" bench/plot.gp
  echo "== charts: $outdir/ratios.png $outdir/latency.png"
else
  echo "bench/run.sh: gnuplot not found: no charts" >&2
  [ "$smoke" = 1 ] && exit 1
fi

if [ "$smoke" = 1 ]; then
  "$build/bin/dt-bench" --check "$json"
  echo "== bench smoke: every benchmark ran, JSON well-formed"
fi
