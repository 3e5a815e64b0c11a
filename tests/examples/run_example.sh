#!/usr/bin/env bash
# Runs one example program against a fresh daytona-emu and checks it.
#
#   run_example.sh [--expect-exit N] [--expect TEXT]... [--wrong-key]
#                  -- EXAMPLE [ARGS...]
#
# Starts $EMU_BIN on a free port (--port 0 --port-file) with a temporary
# data directory and one API key, points the example at it through
# DAYTONA_API_URL / DAYTONA_API_KEY (every other DAYTONA_* variable unset),
# runs it (its output is shown), and checks: the exit status is N (default
# 0), every TEXT occurs in its output as a whole line fragment (fixed
# string), no sandbox is left behind in the emulator, and the emulator
# stops cleanly (exit 0 on SIGTERM).  An argument @PORT@ is replaced by a
# free TCP port (for preview servers: sandboxes share the host's network,
# so parallel tests must not pick the same port).  --wrong-key gives the
# example a key the emulator does not accept (the 401 path).
set -uo pipefail

expect_exit=0
expects=()
wrong_key=0
while [ $# -gt 0 ]; do
  case "$1" in
    --expect-exit) expect_exit=$2; shift 2 ;;
    --expect) expects+=("$2"); shift 2 ;;
    --wrong-key) wrong_key=1; shift ;;
    --) shift; break ;;
    *) echo "run_example: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -ge 1 ] || { echo "run_example: no example given" >&2; exit 2; }
if [ -z "${EMU_BIN:-}" ] || [ ! -x "$EMU_BIN" ]; then
  echo "run_example: EMU_BIN is not set to the emulator binary" >&2; exit 2
fi

name=$(basename "$1")
tmp=$(mktemp -d "/tmp/dt-example-$name.XXXXXX")
emu_pid=
stop_emu() {
  [ -n "$emu_pid" ] || return 0
  kill -TERM "$emu_pid" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$emu_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$emu_pid" 2>/dev/null
  wait "$emu_pid"; local st=$?
  emu_pid=
  return $st
}
trap 'stop_emu; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
fail() { echo "run_example: $name: FAIL: $*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

key="example-key-$$"
mkdir "$tmp/data"
# `timeout` bounds the emulator's life should this script be killed hard.
timeout -s TERM 900 "$EMU_BIN" --port 0 --port-file "$tmp/port" \
  --data-dir "$tmp/data" --api-key "$key" --log-level "${EMU_LOG_LEVEL:-warn}" \
  >"$tmp/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 200); do
  [ -s "$tmp/port" ] && break
  kill -0 "$emu_pid" 2>/dev/null || { cat "$tmp/emu.log"; fail "emulator did not start"; }
  sleep 0.05
done
[ -s "$tmp/port" ] || fail "emulator did not write its port"
base="http://127.0.0.1:$(cat "$tmp/port")"

args=()
for a in "$@"; do
  if [ "$a" = "@PORT@" ]; then args+=("$(free_port)"); else args+=("$a"); fi
done
client_key=$key
[ "$wrong_key" -eq 0 ] || client_key="not-$key"
echo "run_example: ${args[*]} against $base"
env -u DAYTONA_JWT_TOKEN -u DAYTONA_ORGANIZATION_ID -u DAYTONA_TARGET \
    DAYTONA_API_URL="$base/api" DAYTONA_API_KEY="$client_key" \
    timeout -s KILL 300 "${args[@]}" >"$tmp/out" 2>&1
st=$?
cat "$tmp/out"
[ "$st" -eq "$expect_exit" ] || fail "exit status $st, want $expect_exit"
for e in "${expects[@]}"; do
  grep -qF -- "$e" "$tmp/out" || fail "output lacks: $e"
done

# Every example cleans up after itself, in failure cases too.
left=$(curl -sS -H "Authorization: Bearer $key" "$base/api/sandbox" |
       python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(i["id"]+":"+i["state"] for i in d["items"]))') ||
  fail "could not list sandboxes"
[ -z "$left" ] || fail "sandboxes left behind: $left"

stop_emu; est=$?
if [ "$est" -ne 0 ]; then
  cat "$tmp/emu.log"
  fail "emulator exited with status $est"
fi
echo "run_example: $name: ok"
