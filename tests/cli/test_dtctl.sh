#!/usr/bin/env bash
# test_dtctl.sh - drives dtctl through a full flow against a real
# daytona-emu: help and usage errors, configuration errors, create with
# labels, list filtered by label (JSON), info, exec with exit codes,
# quoting and --cwd, code-run from stdin and a file, fs upload/download
# round trip and ls/mkdir/rm, preview URLs (standard and signed, fetched
# through the emulator), sessions (sync, async, logs with --follow on the
# right fds), stop/start/archive, delete and the error after it.
#
# Every check compares exact exit codes and output and prints what
# differed.  Needs EMU_BIN (daytona-emu) and DTCTL (dtctl) in the
# environment (ctest sets both), python3 for JSON and curl for previews.
set -euo pipefail

: "${EMU_BIN:?EMU_BIN must point at daytona-emu}"
: "${DTCTL:?DTCTL must point at dtctl}"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/test_dtctl.XXXXXX")
EMU_PID=
cleanup() {
    if [ -n "$EMU_PID" ]; then
        kill "$EMU_PID" 2>/dev/null || true
        wait "$EMU_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

CHECKS=0
fail() {
    echo "FAIL: $*" >&2
    for f in out err; do
        if [ -s "$WORK/$f" ]; then
            echo "--- last std$f:" >&2
            head -c 4000 "$WORK/$f" >&2
            echo >&2
        fi
    done
    exit 1
}
pass() { CHECKS=$((CHECKS + 1)); }

# run EXPECTED_RC CMD... : runs CMD with stdout in $WORK/out and stderr in
# $WORK/err, and checks the exit status.
run() {
    local want=$1 rc=0
    shift
    "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
    pass
}
# As run, with stdin from a file.
run_in() {
    local want=$1 input=$2 rc=0
    shift 2
    "$@" <"$input" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, expected $want"
    pass
}

expect_eq() { # WHAT EXPECTED ACTUAL
    [ "$2" == "$3" ] || fail "$1: expected [$2], got [$3]"
    pass
}
expect_file() { # WHICH(out|err) EXPECTED-CONTENT
    local got
    got=$(cat "$WORK/$1"; echo x)
    got=${got%x}
    [ "$got" == "$2" ] || fail "std$1: expected [$2], got [$got]"
    pass
}
expect_contains() { # WHICH(out|err) SUBSTRING
    grep -qiF -- "$2" "$WORK/$1" || fail "std$1 does not contain [$2]"
    pass
}
expect_empty() { # WHICH
    [ ! -s "$WORK/$1" ] || fail "std$1 should be empty"
    pass
}
# The failure contract: exactly one line "dtctl: error: ...SUBSTRING..."
# on stderr and nothing on stdout.
expect_error_line() { # SUBSTRING
    local n
    n=$(wc -l <"$WORK/err")
    [ "$n" -eq 1 ] || fail "stderr has $n lines, expected exactly one"
    grep -q '^dtctl: error: ' "$WORK/err" || fail "stderr is not a dtctl error line"
    expect_contains err "$1"
    expect_empty out
}
# Usage errors: exit 2 was checked by run; stderr starts with the error and
# shows the usage.
expect_usage_error() { # SUBSTRING
    head -n1 "$WORK/err" | grep -q '^dtctl: error: ' || fail "no error line first"
    head -n1 "$WORK/err" | grep -qiF -- "$1" || fail "error line lacks [$1]"
    expect_contains err "Usage: dtctl"
    expect_empty out
}
# json EXPR: evaluates a Python expression over the JSON on stdout (as d).
json() {
    python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' \
        "$WORK/out" "$1"
}

# ---------------------------------------------------------------------
# The emulator (its own data directory; only the key "test-key" accepted)
# ---------------------------------------------------------------------
"$EMU_BIN" --port 0 --port-file "$WORK/port" --data-dir "$WORK/data" \
    --api-key test-key --log-level warn >"$WORK/emu.log" 2>&1 &
EMU_PID=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/port" ] && break
    kill -0 "$EMU_PID" 2>/dev/null || { cat "$WORK/emu.log" >&2; fail "emulator exited"; }
    sleep 0.1
done
[ -s "$WORK/port" ] || fail "emulator did not write its port file"
PORT=$(cat "$WORK/port")
BASE="http://127.0.0.1:$PORT"
export DAYTONA_API_URL="$BASE/api" DAYTONA_API_KEY=test-key
unset DAYTONA_JWT_TOKEN DAYTONA_ORGANIZATION_ID DAYTONA_TARGET || true
RUN=run$$

# ---------------------------------------------------------------------
# Help, version and usage errors (exit 2, usage on stderr)
# ---------------------------------------------------------------------
run 0 "$DTCTL" --help
expect_contains out "Usage: dtctl"
expect_contains out "preview-url"
expect_empty err
run 0 "$DTCTL" -h
expect_contains out "Usage: dtctl"
run 0 "$DTCTL" create --help
expect_contains out "--label KEY=VALUE"
expect_contains out "--network-block-all"
run 0 "$DTCTL" sandbox list -h
expect_contains out "--limit"
run 0 "$DTCTL" fs --help
expect_contains out "download"
run 0 "$DTCTL" session logs --help
expect_contains out "--follow"
run 0 "$DTCTL" version
expect_contains out "dtctl "
run 0 "$DTCTL" version --format json
expect_eq "version json has libdaytona" "true" "$(json '"libdaytona" in d')"

run 2 "$DTCTL" frobnicate
expect_usage_error "unknown command 'frobnicate'"
run 2 "$DTCTL"
expect_usage_error "missing command"
run 2 "$DTCTL" create --bogus
expect_usage_error "unknown flag: --bogus"
run 2 "$DTCTL" fs frob
expect_usage_error "unknown command 'frob'"
run 2 "$DTCTL" create --cpu lots
expect_usage_error "--cpu"
run 2 "$DTCTL" create --label novalue
expect_usage_error "KEY=VALUE"
run 2 "$DTCTL" info
expect_usage_error "missing argument"
run 2 "$DTCTL" info a b
expect_usage_error "unexpected argument: b"
run 2 "$DTCTL" --format yaml list
expect_usage_error "unknown format 'yaml'"
run 2 "$DTCTL" exec some-id
expect_usage_error "no command given"
run 2 "$DTCTL" preview-url some-id
expect_usage_error "--port is required"
run 2 "$DTCTL" code-run some-id
expect_usage_error "no code given"

# ---------------------------------------------------------------------
# Configuration: missing key, wrong key, flags overriding the environment
# ---------------------------------------------------------------------
run 1 env -u DAYTONA_API_KEY "$DTCTL" list
expect_error_line "DAYTONA_API_KEY"
run 1 "$DTCTL" --api-key wrong-key list
expect_error_line "HTTP 401"
run 0 env DAYTONA_API_URL=http://127.0.0.1:1/api DAYTONA_API_KEY=wrong \
    "$DTCTL" --api-url "$BASE/api" --api-key test-key list --format json
expect_eq "list via --api-url/--api-key" "[]" "$(json 'd["items"]')"

# ---------------------------------------------------------------------
# create, list, info
# ---------------------------------------------------------------------
run 0 "$DTCTL" create --name cli-a -l team=alpha --label "run=$RUN" \
    -e GREETING=hello --auto-stop 0 --format json
A=$(json 'd["id"]')
expect_eq "create name" "cli-a" "$(json 'd["name"]')"
expect_eq "create state" "started" "$(json 'd["state"]')"
expect_eq "create label team" "alpha" "$(json 'd["labels"]["team"]')"
expect_eq "create label run" "$RUN" "$(json 'd["labels"]["run"]')"
expect_eq "create auto-stop" "0" "$(json 'd["autoStopInterval"]')"
expect_eq "create env" "hello" "$(json 'd["env"]["GREETING"]')"

run 0 "$DTCTL" sandbox create --name cli-b -l team=beta -l "run=$RUN"
expect_contains out "Sandbox 'cli-b' created"
expect_contains out "team=beta"
expect_empty err

run 0 "$DTCTL" list --format json --label team=alpha
expect_eq "list team=alpha ids" "[\"$A\"]" "$(json '[i["id"] for i in d["items"]]')"
run 0 "$DTCTL" list -f json --label "run=$RUN"
expect_eq "list run=$RUN names" '["cli-a", "cli-b"]' \
    "$(json 'sorted(i["name"] for i in d["items"])')"
run 0 "$DTCTL" list -f json --label "run=$RUN" --label team=beta
expect_eq "list two labels" '["cli-b"]' "$(json '[i["name"] for i in d["items"]]')"
run 0 "$DTCTL" list -f json --label team=nobody
expect_eq "list no match" "[]" "$(json 'd["items"]')"
run 0 "$DTCTL" list --page 1 --limit 1 -f json
expect_eq "paginated total" "2" "$(json 'd["total"]')"
expect_eq "paginated count" "1" "$(json 'len(d["items"])')"
run 0 "$DTCTL" ls
expect_contains out "cli-a"
expect_contains out "team=alpha"

run 0 "$DTCTL" info cli-a
expect_contains out "$A"
grep -Eq '^State +started$' "$WORK/out" || fail "info does not show 'State started'"
run 0 "$DTCTL" sandbox info "$A" -f json
expect_eq "info json name" "cli-a" "$(json 'd["name"]')"

# ---------------------------------------------------------------------
# exec
# ---------------------------------------------------------------------
run 7 "$DTCTL" exec "$A" -- sh -c 'echo out; exit 7'
expect_file out $'out\n'
run 0 "$DTCTL" exec "$A" -- printf '%s|' 'a b' "it's" '$HOME' '' 'x"y'
expect_file out 'a b|it'"'"'s|$HOME||x"y|'
run 0 "$DTCTL" exec "$A" -- 'echo $((6 * 7)) | tr 4 X'
expect_file out $'X2\n'
run 0 "$DTCTL" exec "$A" -- sh -c 'echo "$GREETING"'
expect_file out $'hello\n'
run 3 "$DTCTL" exec "$A" --format json -- sh -c 'echo j; exit 3'
expect_eq "exec json exitCode" "3" "$(json 'd["exitCode"]')"
expect_eq "exec json result" '"j\n"' "$(json 'json.dumps(d["result"])')"
# Paths inside commands are relative to the home directory (the default
# cwd): at the emulator's `process` isolation level an absolute path in a
# command is the host's, while --cwd and fs paths are the sandbox's view.
run 0 "$DTCTL" exec "$A" -- mkdir -p cwd-test/inner
run 0 "$DTCTL" exec "$A" --cwd /home/daytona/cwd-test/inner -- sh -c 'basename "$PWD"; echo m > marker'
expect_file out $'inner\n'
run 0 "$DTCTL" exec "$A" -- cat cwd-test/inner/marker
expect_file out $'m\n'
run 1 "$DTCTL" exec "$A" --timeout 1 -- sleep 10
expect_error_line "timeout"
run 1 "$DTCTL" exec no-such-sandbox -- true
expect_error_line "not found"

# ---------------------------------------------------------------------
# code-run (sandbox language: python)
# ---------------------------------------------------------------------
printf 'import sys\nprint("py", 6 * 7)\nsys.exit(4)\n' >"$WORK/code.py"
run_in 4 "$WORK/code.py" "$DTCTL" code-run "$A" -
expect_file out $'py 42\n'
printf 'import sys\nprint("args", sys.argv[1:])\n' >"$WORK/args.py"
run 0 "$DTCTL" code-run "$A" --file "$WORK/args.py" -- one two
expect_file out $'args [\'one\', \'two\']\n'
run 0 "$DTCTL" code-run "$A" --file "$WORK/args.py" -f json
expect_eq "code-run json exitCode" "0" "$(json 'd["exitCode"]')"
expect_eq "code-run json charts" "[]" "$(json 'd["charts"]')"
run 1 "$DTCTL" code-run "$A" --file "$WORK/does-not-exist.py"
expect_error_line "does-not-exist.py"

# ---------------------------------------------------------------------
# fs: mkdir, upload/download round trip, ls, rm
# ---------------------------------------------------------------------
head -c 300000 /dev/urandom >"$WORK/blob.bin"
run 0 "$DTCTL" fs mkdir "$A" /home/daytona/dir1
expect_contains out "Created /home/daytona/dir1"
run 0 "$DTCTL" fs upload "$A" "$WORK/blob.bin" /home/daytona/dir1/blob.bin
run 0 "$DTCTL" fs upload "$A" "$WORK/code.py" /home/daytona/dir1/sub/code.py
run 0 "$DTCTL" fs ls "$A" /home/daytona/dir1 -f json
expect_eq "fs ls names" '["blob.bin", "sub"]' "$(json 'sorted(f["name"] for f in d)')"
expect_eq "fs ls size" "300000" \
    "$(json '[f["size"] for f in d if f["name"] == "blob.bin"][0]')"
expect_eq "fs ls isDir" "true" \
    "$(json '[f["isDir"] for f in d if f["name"] == "sub"][0]')"
run 0 "$DTCTL" fs ls "$A" /home/daytona/dir1
expect_contains out "sub/"
expect_contains out "300000"
run 0 "$DTCTL" fs download "$A" /home/daytona/dir1/blob.bin "$WORK/blob.back"
cmp "$WORK/blob.bin" "$WORK/blob.back" || fail "download differs from upload"
pass
run 0 "$DTCTL" exec "$A" -- sh -c 'wc -c < dir1/blob.bin'
expect_eq "size in sandbox" "300000" "$(tr -d ' \n' <"$WORK/out")"
run 1 "$DTCTL" fs download "$A" /home/daytona/nope.bin "$WORK/nope"
expect_error_line "not found"
run 1 "$DTCTL" fs rm "$A" /home/daytona/dir1
expect_error_line "HTTP 400"
run 0 "$DTCTL" fs rm "$A" /home/daytona/dir1 -r
run 1 "$DTCTL" fs ls "$A" /home/daytona/dir1
expect_error_line "not found"
run 1 "$DTCTL" fs upload "$A" "$WORK/missing-local" /home/daytona/x
expect_error_line "missing-local"

# ---------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------
run 0 "$DTCTL" session create "$A" s1
expect_file out $'s1\n'
run 0 "$DTCTL" session exec "$A" s1 'cd cwd-test && export V=42'
run 0 "$DTCTL" session exec "$A" s1 'echo "$V $(basename "$PWD")"'
expect_file out $'42 cwd-test\n'
run 5 "$DTCTL" session exec "$A" s1 -- sh -c 'echo o; echo e >&2; exit 5'
expect_file out $'o\n'
expect_file err $'e\n'
run 0 "$DTCTL" session exec "$A" s1 --async -- sh -c 'echo a1; sleep 1; echo a2 >&2; echo a3'
CID=$(cat "$WORK/out")
[ -n "$CID" ] || fail "async exec printed no command id"
run 0 "$DTCTL" session logs "$A" s1 "$CID" --follow
expect_file out $'a1\na3\n'
expect_file err $'a2\n'
run 0 "$DTCTL" session logs "$A" s1 "$CID"
expect_file out $'a1\na3\n'
expect_file err $'a2\n'
run 0 "$DTCTL" session logs "$A" s1 "$CID" -f json
expect_eq "logs json stdout" '"a1\na3\n"' "$(json 'json.dumps(d["stdout"])')"
expect_eq "logs json stderr" '"a2\n"' "$(json 'json.dumps(d["stderr"])')"
run 0 "$DTCTL" session create "$A" --format json
S2=$(json 'd["sessionId"]')
[[ "$S2" == dtctl-* ]] || fail "generated session id [$S2]"
run 0 "$DTCTL" session list "$A" -f json
expect_eq "session list ids" "$(printf '["%s", "s1"]' "$S2")" \
    "$(json 'sorted(s["sessionId"] for s in d)')"
expect_eq "session list s1 commands" "4" \
    "$(json '[len(s["commands"]) for s in d if s["sessionId"] == "s1"][0]')"
expect_eq "session list s1 exit codes" "[0, 0, 5, 0]" \
    "$(json '[c["exitCode"] for s in d if s["sessionId"] == "s1" for c in s["commands"]]')"
run 0 "$DTCTL" session list "$A"
expect_contains out "SESSION"
expect_contains out "s1"
run 1 "$DTCTL" session list no-such-sandbox
expect_error_line "not found"
run 0 "$DTCTL" session delete "$A" "$S2"
run 0 "$DTCTL" session delete "$A" s1
expect_contains out "Session 's1' deleted"
run 1 "$DTCTL" session logs "$A" s1 "$CID"
expect_error_line "dtctl: error:"

# ---------------------------------------------------------------------
# preview URLs: a server in the sandbox, fetched through both URLs
# ---------------------------------------------------------------------
PPORT=$((20000 + RANDOM % 20000))
printf 'preview-ok\n' >"$WORK/index.html"
run 0 "$DTCTL" fs upload "$A" "$WORK/index.html" /home/daytona/www/index.html
run 0 "$DTCTL" session create "$A" web
run 0 "$DTCTL" session exec "$A" web --async -- python3 -m http.server "$PPORT" \
    --bind 127.0.0.1 --directory www
run 0 "$DTCTL" preview-url "$A" --port "$PPORT"
URL=$(sed -n 1p "$WORK/out")
TOKEN=$(sed -n 's/^Token: //p' "$WORK/out")
[[ "$URL" == http*"$PPORT-$A"* ]] || fail "preview URL [$URL]"
pass
[ -n "$TOKEN" ] || fail "preview-url printed no token"
run 0 "$DTCTL" preview-url "$A" -p "$PPORT" -f json
expect_eq "preview json url" "$URL" "$(json 'd["url"]')"
expect_eq "preview json signed" "false" "$(json 'd["signed"]')"
run 0 "$DTCTL" preview-url "$A" -p "$PPORT" --expires 120 -f json
SURL=$(json 'd["url"]')
expect_eq "signed json signed" "true" "$(json 'd["signed"]')"
expect_eq "signed json expires" "120" "$(json 'd["expiresInSeconds"]')"
[[ "$SURL" == http*"$PPORT-"* && "$SURL" != *"$A"* ]] || fail "signed URL [$SURL]"
pass
got=
for _ in $(seq 1 50); do
    got=$(curl -s -H "x-daytona-preview-token: $TOKEN" "$URL/index.html" || true)
    [ "$got" == "preview-ok" ] && break
    sleep 0.2
done
expect_eq "fetch through preview URL" "preview-ok" "$got"
expect_eq "fetch through signed URL" "preview-ok" "$(curl -s "$SURL/index.html")"
expect_eq "preview without token" "401" \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/index.html")"
run 0 "$DTCTL" session delete "$A" web

# ---------------------------------------------------------------------
# stop, start, archive
# ---------------------------------------------------------------------
run 0 "$DTCTL" stop cli-a
expect_file out $'Sandbox \'cli-a\' stopped\n'
run 0 "$DTCTL" info "$A" -f json
expect_eq "state after stop" "stopped" "$(json 'd["state"]')"
run 1 "$DTCTL" exec "$A" -- true
expect_error_line "dtctl: error:"
run 0 "$DTCTL" sandbox start "$A" -f json
expect_eq "state after start" "started" "$(json 'd["state"]')"
run 0 "$DTCTL" exec "$A" -- cat www/index.html
expect_file out $'preview-ok\n'
run 0 "$DTCTL" stop cli-b
run 0 "$DTCTL" archive cli-b
expect_file out $'Sandbox \'cli-b\' archived\n'
run 0 "$DTCTL" info cli-b -f json
expect_eq "state after archive" "archived" "$(json 'd["state"]')"

# ---------------------------------------------------------------------
# delete, then the sandbox is gone
# ---------------------------------------------------------------------
run 0 "$DTCTL" delete "$A" -f json
expect_eq "delete json" "[\"$A\", \"cli-a\", true]" "$(json '[d["id"], d["name"], d["deleted"]]')"
run 1 "$DTCTL" info "$A"
expect_error_line "not found"
run 1 "$DTCTL" info cli-a -f json
expect_error_line "not found"
run 0 "$DTCTL" sandbox delete cli-b
expect_file out $'Sandbox \'cli-b\' deleted\n'
run 0 "$DTCTL" list -f json --label "run=$RUN"
expect_eq "list after delete" "[]" "$(json 'd["items"]')"

# ---------------------------------------------------------------------
# the rest of create's flags
# ---------------------------------------------------------------------
run 0 "$DTCTL" create --name cli-c --public --user root --ephemeral \
    --network-allow-list 10.0.0.0/8,192.168.0.0/16 -f json
expect_eq "create public/user/allow-list/ephemeral" \
    '[true, "root", "10.0.0.0/8,192.168.0.0/16", 0]' \
    "$(json '[d["public"], d["user"], d["networkAllowList"], d["autoDeleteInterval"]]')"
run 0 "$DTCTL" create --name cli-d --image python:3.12 --cpu 2 --gpu 1 --ephemeral -f json
expect_eq "create from an image, with a GPU" '[null, 2, 1, "FROM python:3.12\n"]' \
    "$(json '[d["snapshot"], d["cpu"], d["gpu"], d["buildInfo"]["dockerfileContent"]]')"
# Daytona's own rule comes back as the error: a GPU sandbox must be ephemeral.
run 1 "$DTCTL" create --name cli-e --image python:3.12 --gpu 1
expect_error_line "GPU sandboxes must be ephemeral"
run 2 "$DTCTL" create --gpu 0
expect_usage_error "--gpu"

# delete --all (with --label: only the matching ones)
run 2 "$DTCTL" delete --all cli-c
expect_usage_error "--all takes no sandbox ID"
run 2 "$DTCTL" delete
expect_usage_error "required"
run 2 "$DTCTL" delete cli-c --label a=b
expect_usage_error "--label goes with --all"
run 0 "$DTCTL" delete --all --label nobody=x -f json
expect_eq "delete --all, no match" "[]" "$(json 'd')"
run 0 "$DTCTL" delete --all -f json
expect_eq "delete --all names" '["cli-c", "cli-d"]' "$(json 'sorted(x["name"] for x in d)')"
expect_eq "delete --all deleted" '[true, true]' "$(json '[x["deleted"] for x in d]')"
run 0 "$DTCTL" list -f json
expect_eq "list after delete --all" "[]" "$(json 'd["items"]')"
run 0 "$DTCTL" delete --all
expect_file out $'No sandboxes to delete\n'

echo "test_dtctl: all $CHECKS checks passed"
