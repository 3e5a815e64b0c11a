#!/usr/bin/env bash
# Spec conformance: the SDK compatibility suite (tests/sdk-compat) with every control-plane and
# toolbox exchange validated by Prism against Daytona's OpenAPI documents, then the violations
# compared with the reviewed allowlist (tests/spec/allowlist.json).
#
#   tests/spec/run.sh                      # EMU_BIN defaults to build/bin/daytona-emu
#   EMU_BIN=/path/to/daytona-emu SPEC_OUT=/tmp/spec tests/spec/run.sh
#
# Fails when the SDK suite fails, when a violation is not in the allowlist, or when the run's
# operation coverage no longer matches docs/parity.json.  Allowlist entries that no longer occur
# are reported as warnings.  Results: $SPEC_OUT (default build/spec-conformance):
# violations.json, coverage.json, report.txt, prism-*.log.  See tests/spec/README.md.
set -euo pipefail

if [ -n "${EMU_BIN:-}" ] && [ "${EMU_BIN#/}" = "$EMU_BIN" ]; then
  EMU_BIN="$PWD/$EMU_BIN"
fi
if [ -n "${SPEC_OUT:-}" ] && [ "${SPEC_OUT#/}" = "$SPEC_OUT" ]; then
  SPEC_OUT="$PWD/$SPEC_OUT"
fi
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
EMU_BIN="${EMU_BIN:-$root/build/bin/daytona-emu}"
out="${SPEC_OUT:-$root/build/spec-conformance}"
docs="${SPEC_OPENAPI_DIR:-$root/../shared/reference/daytona-openapi}"
if [ ! -d "$docs" ]; then docs=/work/shared/reference/daytona-openapi; fi
control_doc="$docs/api-v0.190.0.yaml"
toolbox_doc="$docs/toolbox-v0.190.0.yaml"

for f in "$EMU_BIN" "$control_doc" "$toolbox_doc"; do
  [ -e "$f" ] || { echo "spec: missing $f" >&2; exit 2; }
done

cd "$here"
# (Re)install when node_modules is missing or older than the lockfile (ci/setup.sh does this).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

rm -rf "$out"
mkdir -p "$out/pids"
hub_pid=""
cleanup() {
  if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then kill "$hub_pid" 2>/dev/null || true; fi
  # Emulators whose front was killed hard (SIGKILL) would outlive the run: stop them by pid.
  for f in "$out"/pids/*.emu; do
    [ -e "$f" ] || continue
    pid="$(basename "$f" .emu)"
    if grep -q daytona-emu "/proc/$pid/cmdline" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
}
trap cleanup EXIT

echo "spec: starting Prism (control plane: $(basename "$control_doc"), toolbox: $(basename "$toolbox_doc"))"
SPEC_CONTROL_DOC="$control_doc" SPEC_TOOLBOX_DOC="$toolbox_doc" SPEC_PARITY_TABLE="$root/docs/parity.json" \
  node lib/hub.js "$out" >"$out/hub.log" 2>&1 &
hub_pid=$!
for _ in $(seq 1 600); do
  [ -s "$out/hub.port" ] && break
  kill -0 "$hub_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$out/hub.port" ]; then
  echo "spec: the validation hub did not start:" >&2
  cat "$out/hub.log" >&2
  exit 1
fi
hub_url="http://127.0.0.1:$(cat "$out/hub.port")"

front_env=(EMU_BIN="$here/lib/emu-front.js" SPEC_REAL_EMU_BIN="$EMU_BIN" SPEC_HUB_URL="$hub_url"
           SPEC_OUT="$out")
echo "spec: SDK compatibility suite through the validating front"
suite=0
env "${front_env[@]}" SPEC_SUITE=sdk "$root/tests/sdk-compat/run.sh" || suite=$?
suites='"sdk"'

# The contract suite (tests/contract) too, when it has been built next to the emulator.
contract_bin="${SPEC_CONTRACT_BIN:-$(dirname "$EMU_BIN")/../tests/contract_suite}"
contract=0
if [ -x "$contract_bin" ]; then
  echo "spec: contract suite ($contract_bin) through the validating front"
  env -u DAYTONA_CONTRACT_TARGET "${front_env[@]}" SPEC_SUITE=contract "$contract_bin" \
    >"$out/contract.log" 2>&1 || contract=$?
  tail -n 8 "$out/contract.log"
  suites="$suites, \"contract\""
else
  echo "spec: no contract suite at $contract_bin (build it, or set SPEC_CONTRACT_BIN); skipped"
fi
echo "{\"suites\": [$suites]}" >"$out/run.json"

node -e '
  const http = require("node:http");
  const req = http.request(process.argv[1] + "/drain", { method: "POST" }, (res) => {
    let s = ""; res.on("data", (c) => (s += c)); res.on("end", () => { process.stdout.write("spec: hub drained: " + s); process.exit(res.statusCode === 200 ? 0 : 1); });
  });
  req.on("error", (e) => { console.error("spec: drain failed: " + e.message); process.exit(1); });
  req.setTimeout(120000, () => { console.error("spec: drain timed out"); req.destroy(); process.exit(1); });
  req.end();' "$hub_url"
wait "$hub_pid" || true
hub_pid=""

status=0
node check.js "$out" allowlist.json | tee "$out/report.txt" || status=1
if [ -f "$root/tools/parity/parity.py" ]; then
  python3 "$root/tools/parity/parity.py" check-run "$out" || status=1
fi
if [ "$suite" != 0 ]; then
  echo "spec: the SDK compatibility suite failed (status $suite) under the validating front" >&2
  status=1
fi
if [ "$contract" != 0 ]; then
  echo "spec: the contract suite failed (status $contract) under the validating front; see $out/contract.log" >&2
  status=1
fi
exit "$status"
