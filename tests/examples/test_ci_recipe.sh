#!/bin/sh
# Runs docs/examples/ci-recipe.sh as a user's CI would, with a trivial user
# test (python3, standard library only) that lists, creates and lists
# sandboxes through the API the recipe's emulator serves.
#
#   test_ci_recipe.sh prebuilt   DAYTONA_EMU_BIN=$EMU_BIN: the test passes
#                                (exit 0, its output), a failing test's
#                                status (3) comes back, no emulator is left
#   test_ci_recipe.sh source     DAYTONA_EMU_SRC = `git archive HEAD` of the
#                                checkout: the recipe builds the emulator
#                                itself, then runs the test
#
# Needs EMU_BIN (set by ctest) and, for `source`, EMU_SOURCE_DIR.
set -eu
mode="${1:?prebuilt or source}"
here="$(cd "$(dirname "$0")" && pwd)"
recipe="$here/../../docs/examples/ci-recipe.sh"
scratch="$(mktemp -d /tmp/ci-recipe-test-XXXXXX)"
trap 'rm -rf "$scratch"' EXIT

cat >"$scratch/user_test.py" <<'PY'
import json, os, sys, urllib.request

url, key = os.environ["DAYTONA_API_URL"], os.environ["DAYTONA_API_KEY"]

def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + key,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return r.status, json.load(r)

status, page = call("GET", "/sandbox")
assert status == 200 and page["items"] == [], (status, page)
status, sb = call("POST", "/sandbox", {"labels": {"suite": "ci-recipe"}})
assert status == 200 and sb["state"] == "started", (status, sb)
status, page = call("GET", "/sandbox")
assert [s["id"] for s in page["items"]] == [sb["id"]], page
print("user tests: ok")
sys.exit(int(os.environ.get("USER_TEST_EXIT", "0")))
PY

fail() { echo "test_ci_recipe: FAIL: $*"; exit 1; }

# The recipe's environment only: nothing of a developer's Daytona setup.
run_recipe() {
  env -u DAYTONA_API_URL -u DAYTONA_API_KEY -u DAYTONA_EMU_BIN \
      -u DAYTONA_EMU_SRC -u DAYTONA_EMU_REPO -u INSTALL_DEPS \
      TMPDIR="$scratch/tmp" "$@"
}
mkdir -p "$scratch/tmp"

case "$mode" in
prebuilt)
  out=$(run_recipe DAYTONA_EMU_BIN="$EMU_BIN" "$recipe" python3 "$scratch/user_test.py" 2>&1) ||
    { echo "$out"; fail "the recipe failed"; }
  echo "$out"
  echo "$out" | grep -q '^daytona-emu ' || fail "the recipe did not print the emulator's version"
  echo "$out" | grep -q '^user tests: ok$' || fail "the user's test did not run"
  set +e
  out=$(run_recipe DAYTONA_EMU_BIN="$EMU_BIN" USER_TEST_EXIT=3 "$recipe" python3 "$scratch/user_test.py" 2>&1)
  rc=$?
  set -e
  [ "$rc" = 3 ] || { echo "$out"; fail "a failing user test gave $rc, not 3"; }
  # exec removed its temporary directory: nothing is left in TMPDIR.
  [ -z "$(ls -A "$scratch/tmp")" ] || fail "left in TMPDIR: $(ls -A "$scratch/tmp")"
  ;;
source)
  if ! git -C "${EMU_SOURCE_DIR:?}" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    echo "test_ci_recipe: SKIPPED: $EMU_SOURCE_DIR is not a git checkout"
    exit 77
  fi
  src="$scratch/src"
  mkdir -p "$src"
  git -C "${EMU_SOURCE_DIR:?}" archive --format=tar HEAD | tar -x -C "$src"
  out=$(run_recipe DAYTONA_EMU_SRC="$src" DAYTONA_EMU_WORK="$scratch/work" \
        "$recipe" python3 "$scratch/user_test.py" 2>&1) ||
    { echo "$out" | tail -40; fail "the recipe failed to build or run"; }
  echo "$out" | tail -5
  [ -x "$scratch/work/build/bin/daytona-emu" ] || fail "no daytona-emu built in the work directory"
  echo "$out" | grep -q '^user tests: ok$' || fail "the user's test did not run"
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "test_ci_recipe ($mode): ok"
