#!/usr/bin/env bash
# Runs the unit tests under valgrind, and the integration tests with the
# emulator itself under valgrind (through a wrapper given as EMU_BIN), so
# leaks and invalid accesses in the server fail the run.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="$(cd "${1:-build}" && pwd)"   # absolute: it is written into a wrapper
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --track-fds=no)
# test_fspath is left out: valgrind does not implement openat2 (syscall 437),
# so every resolve there fails with ENOSYS; ASan covers it instead.
fail=0
for t in "$dir"/tests/test_*; do
  name=$(basename "$t")
  case "$name" in
    test_codec|test_rnd_time|test_ws|test_store|test_lifecycle|test_validation|test_http_parts|test_executor|test_multipart|test_sessions_demux|test_client_core|test_client_multipart|test_sess_store|test_record_norm|test_dt_compare)
      if ! "${vg[@]}" "$t" >/dev/null 2>"$dir/valgrind-$name.log"; then
        echo "valgrind: $name failed"; tail -40 "$dir/valgrind-$name.log"; fail=1
      else
        echo "valgrind: $name ok"
      fi ;;
  esac
done
# The client library under valgrind: libdaytona's integration programs run
# in valgrind against the real (unwrapped) emulator.
for name in test_client_retry test_client_sandbox test_client_process test_client_files test_testing_api test_sess_manager contract_suite; do
  [ -x "$dir/tests/$name" ] || continue
  if EMU_BIN="$dir/bin/daytona-emu" "${vg[@]}" "$dir/tests/$name" \
       >"$dir/valgrind-$name.log" 2>&1; then
    echo "valgrind (client): $name ok"
  else
    echo "valgrind (client): $name failed"; tail -60 "$dir/valgrind-$name.log"; fail=1
  fi
done
# The session service under valgrind: test_service starts it through
# SESS_WRAPPER and checks each graceful stop's exit status (99 = errors).
if [ -x "$dir/tests/test_service" ]; then
  if SESS_WRAPPER="valgrind --leak-check=full --error-exitcode=99 -q" \
       EMU_BIN="$dir/bin/daytona-emu" SESS_BIN="$dir/bin/daytona-sessions" \
       "$dir/tests/test_service" >"$dir/valgrind-test_service.log" 2>&1; then
    echo "valgrind (sessions service): test_service ok"
  else
    echo "valgrind (sessions service): test_service failed"
    tail -60 "$dir/valgrind-test_service.log"; fail=1
  fi
fi
# The server under valgrind, driven by integration tests.
wrapper="$dir/emu-under-valgrind.sh"
cat > "$wrapper" <<W
#!/bin/sh
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --log-file=$dir/valgrind-emu.%p.log $dir/bin/daytona-emu "\$@"
W
chmod +x "$wrapper"
rm -f "$dir"/valgrind-emu.*.log
for name in test_smoke test_api_sandbox test_api_auth test_emu_exec; do
  [ -x "$dir/tests/$name" ] || continue
  if EMU_BIN="$wrapper" "$dir/tests/$name" >"$dir/valgrind-$name.log" 2>&1; then
    echo "valgrind (emulator): $name ok"
  else
    echo "valgrind (emulator): $name failed"; tail -40 "$dir/valgrind-$name.log"; fail=1
  fi
done
for log in "$dir"/valgrind-emu.*.log; do
  [ -s "$log" ] || continue
  if grep -q "ERROR SUMMARY: [1-9]" "$log"; then
    echo "valgrind (emulator): errors in $log"; head -60 "$log"; fail=1
  fi
done
exit $fail
