#!/bin/sh
# Run your test suite against daytona-emu in any CI (or on your machine):
# build the emulator from source once, then let `daytona-emu exec` start a
# throwaway emulator around your test command.
#
#   ci-recipe.sh [TEST COMMAND...]          (default: npm test)
#
# Your command runs with DAYTONA_API_URL and DAYTONA_API_KEY pointing at the
# emulator (the official SDKs read them; nothing else to configure) and
# DAYTONA_EMU_URL for the admin API (reset, clock, faults).  The script
# exits with your command's status.
#
# Environment:
#   DAYTONA_EMU_BIN   use this daytona-emu and skip the build
#   DAYTONA_EMU_SRC   a daytona-emu source checkout to build (default: clone
#                     DAYTONA_EMU_REPO at DAYTONA_EMU_REF into the work dir)
#   DAYTONA_EMU_REPO  git URL of daytona-emu (needed only for the clone)
#   DAYTONA_EMU_REF   branch or tag to clone (default: main)
#   DAYTONA_EMU_WORK  where the clone and the build go
#                     (default: ${XDG_CACHE_HOME:-$HOME/.cache}/daytona-emu-ci);
#                     an existing build there is reused
#   INSTALL_DEPS=1    apt-get install the build dependencies first (Debian/
#                     Ubuntu; uses sudo when not root)
set -eu

work="${DAYTONA_EMU_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/daytona-emu-ci}"

# 1. Build dependencies (the same list as the GitHub Actions example).
if [ "${INSTALL_DEPS:-0}" = 1 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq build-essential cmake pkg-config libmicrohttpd-dev libcjson-dev libcunit1-dev libcurl4-openssl-dev libsqlite3-dev python3
fi

# 2. The emulator: given, or built from source (only its two programs).
if [ -n "${DAYTONA_EMU_BIN:-}" ]; then
  emu="$DAYTONA_EMU_BIN"
else
  src="${DAYTONA_EMU_SRC:-$work/src}"
  if [ ! -f "$src/CMakeLists.txt" ]; then
    : "${DAYTONA_EMU_REPO:?set DAYTONA_EMU_REPO (git URL), DAYTONA_EMU_SRC or DAYTONA_EMU_BIN}"
    git clone --depth 1 --branch "${DAYTONA_EMU_REF:-main}" "$DAYTONA_EMU_REPO" "$src"
  fi
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DEMU_WERROR=OFF >/dev/null
  cmake --build "$work/build" -j"$(nproc)" --target daytona-emu daytona-emu-sandbox
  emu="$work/build/bin/daytona-emu"
fi
"$emu" --version

# 3. Your tests, against a fresh emulator that is gone afterwards.
[ "$#" -gt 0 ] || set -- npm test
exec "$emu" exec -- "$@"
