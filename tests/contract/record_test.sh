#!/usr/bin/env bash
# record_test.sh MODE - the record-mode tests around the contract suite
# (registered with ctest in tests/contract/CMakeLists.txt).
#
#   record   runs the contract suite twice, each time against a fresh
#            daytona-emu through a recorder (daytona-emu --upstream
#            <that emulator> --record DIR): recordings in $OUT/a and $OUT/b
#   equal    dt-compare a b finds no difference (exit 0, no output)
#   planted  differences planted in copies of b are reported exactly:
#            one line each, naming the exchange and the field (exit 1)
#   secrets  no recording holds the API key, a preview token or "Bearer"
#   janitor  a suite that dies right after its first create leaves no
#            sandbox behind: its janitor process deletes it by label
#
# Environment: CONTRACT (the suite), DT_COMPARE, EMU_BIN, OUT (a directory
# of the build tree).
set -euo pipefail

: "${CONTRACT:?}" "${DT_COMPARE:?}" "${EMU_BIN:?}" "${OUT:?}"
mode=${1:?usage: record_test.sh record|equal|planted|secrets|janitor}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

do_record() {
    rm -rf "$OUT"
    mkdir -p "$OUT"
    # A key shaped like a real one, so the secret grep means something.
    key="dtn_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    printf '%s\n' "$key" > "$OUT/key"
    for side in a b; do
        DAYTONA_CONTRACT_TARGET=emulator DAYTONA_CONTRACT_EMU_KEY="$key" \
        DAYTONA_CONTRACT_RECORD="$OUT/$side" \
        DAYTONA_CONTRACT_SECRETS_FILE="$OUT/secrets" \
            "$CONTRACT" > "$OUT/$side.log" 2>&1 ||
            { cat "$OUT/$side.log"; fail "contract suite ($side) failed"; }
        n=$(find "$OUT/$side" -name '*.json' | wc -l)
        [ "$n" -ge 50 ] || fail "only $n exchanges recorded in $OUT/$side"
        echo "recorded $n exchanges in $OUT/$side"
    done
}

do_equal() {
    out=$("$DT_COMPARE" "$OUT/a" "$OUT/b" 2>/dev/null) ||
        { printf '%s\n' "$out"; fail "dt-compare found differences between two emulator runs"; }
    [ -z "$out" ] || fail "dt-compare printed: $out"
    echo "two emulator runs agree"
}

# The fixture of the first exchange of "$1" (METHOD) "$2" (path) in $3.
fixture_of() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, os, sys
m, p, d = sys.argv[1:4]
for f in sorted(os.listdir(d)):
    if f.endswith(".json"):
        x = json.load(open(os.path.join(d, f)))
        if x["method"] == m and x["path"] == p:
            print(os.path.join(d, f))
            break
EOF
}

# Applies a python expression to fixture $1's JSON (bound to x).
edit_fixture() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
path, expr = sys.argv[1:3]
x = json.load(open(path))
exec(expr)
json.dump(x, open(path, "w"), indent=1)
EOF
}

# plant NAME METHOD PATH EXPR EXPECTED: copies b, edits one fixture, and
# checks that dt-compare exits 1 with exactly one line equal to EXPECTED
# (up to the file names in parentheses).
plant() {
    local name=$1 method=$2 path=$3 expr=$4 want=$5 dir f out rc
    dir="$OUT/planted-$name"
    rm -rf "$dir"
    cp -r "$OUT/b" "$dir"
    f=$(fixture_of "$method" "$path" "$dir")
    [ -n "$f" ] || fail "no $method $path in $OUT/b"
    if [ "$expr" = delete ]; then rm "$f"; else edit_fixture "$f" "$expr"; fi
    rc=0
    out=$("$DT_COMPARE" "$OUT/a" "$dir" 2>/dev/null) || rc=$?
    [ "$rc" -eq 1 ] || fail "$name: dt-compare exited $rc, want 1"
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] ||
        fail "$name: want exactly one difference, got:
$out"
    [ "${out% (*}" = "$want" ] || fail "$name: got '$out', want '$want (...)'"
    echo "planted $name: $out"
}

do_planted() {
    plant status POST /api/sandbox 'x["status"] = 201' \
        'POST /api/sandbox #1: status: 200 != 201'
    plant key GET '/api/sandbox/<id>/ports/3000/preview-url' \
        'x["response"]["json"]["plantedKey"] = "x"' \
        'GET /api/sandbox/<id>/ports/3000/preview-url #-1 after POST /api/sandbox #2: response.json.plantedKey: only in B (string)'
    plant type GET '/api/sandbox/<id>/ports/3000/signed-preview-url' \
        'x["response"]["json"]["port"] = "3000"' \
        'GET /api/sandbox/<id>/ports/3000/signed-preview-url #-1 after POST /api/sandbox #2: response.json.port: type number != string'
    plant nested POST '/toolbox/<id>/process/execute' \
        'del x["response"]["json"]["exitCode"]' \
        'POST /toolbox/<id>/process/execute #1: response.json.exitCode: only in A (number)'
    plant ctype GET '/toolbox/<id>/files/download' \
        'x["response"]["content_type"] = "text/plain"' \
        "GET /toolbox/<id>/files/download #-1 after POST /toolbox/<id>/files/bulk-upload #1: content-type: 'application/octet-stream' != 'text/plain'"
    plant missing GET '/api/sandbox/<id>/ports/3000/signed-preview-url' delete \
        'GET /api/sandbox/<id>/ports/3000/signed-preview-url #-1 after POST /api/sandbox #2: exchange: only in A'
}

do_secrets() {
    local key found=0
    key=$(cat "$OUT/key")
    [ -s "$OUT/secrets" ] || fail "the suite noted no preview token"
    # Each side noted its plain and signed token.
    [ "$(wc -l < "$OUT/secrets")" -ge 4 ] || fail "fewer preview tokens than expected"
    while IFS= read -r s; do
        [ -n "$s" ] || continue
        if grep -rlF -- "$s" "$OUT/a" "$OUT/b"; then
            echo "a preview token is in the recordings" >&2
            found=1
        fi
    done < "$OUT/secrets"
    if grep -rlF -- "$key" "$OUT/a" "$OUT/b"; then
        echo "the API key is in the recordings" >&2
        found=1
    fi
    if grep -rli -- "bearer" "$OUT/a" "$OUT/b"; then
        echo "\"Bearer\" is in the recordings" >&2
        found=1
    fi
    [ "$found" -eq 0 ] || fail "secrets reached the recordings"
    # And the redaction did happen where the tokens were.
    grep -rqF '"token":	"<redacted>"' "$OUT/a" || fail "no redacted token field"
    echo "no secret in $(find "$OUT/a" "$OUT/b" -name '*.json' | wc -l) fixtures"
}

# Runs inside `daytona-emu exec`: DAYTONA_API_URL/KEY/EMU_URL point at a
# throwaway emulator that outlives the suite.
janitor_inner() {
    local log="$OUT/janitor.log" rc=0 n
    mkdir -p "$OUT"
    ulimit -c 0    # the abort is on purpose: no core file
    DAYTONA_CONTRACT_TARGET=cloud DAYTONA_CONTRACT_ABORT_AFTER_CREATE=1 \
        "$CONTRACT" > "$log" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] || fail "the suite was asked to abort but exited 0"
    grep -q "aborting after create" "$log" || { cat "$log"; fail "the suite did not get to create"; }
    # The janitor works after its parent is gone: wait for it (bounded).
    for _ in $(seq 1 100); do
        n=$(python3 - <<'EOF'
import json, os, urllib.request
req = urllib.request.Request(os.environ["DAYTONA_API_URL"] + "/sandbox",
    headers={"Authorization": "Bearer " + os.environ["DAYTONA_API_KEY"]})
items = json.load(urllib.request.urlopen(req))["items"]
print(len([s for s in items if "contract-run" in s.get("labels", {})]))
EOF
)
        [ "$n" -eq 0 ] && grep -q "janitor: deleted 1 sandbox" "$log" && break
        sleep 0.1
    done
    [ "$n" -eq 0 ] || fail "$n contract sandbox(es) left after the abort"
    grep -q "janitor: deleted 1 sandbox" "$log" || { cat "$log"; fail "no janitor report"; }
    echo "the janitor deleted the sandbox of the aborted run"
}

case "$mode" in
record) do_record ;;
equal) do_equal ;;
planted) do_planted ;;
secrets) do_secrets ;;
janitor) OUT="$OUT-janitor" "$EMU_BIN" exec -- bash "$0" janitor-inner ;;
janitor-inner) janitor_inner ;;
*) fail "unknown mode $mode" ;;
esac
