#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine (run as
# root, or with sudo available): the C toolchain and libraries from Debian,
# and the npm packages of the SDK compatibility tests (pinned by their lock
# file).  Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# python3 (+ matplotlib for code-run charts) is what sandboxes run Python
# with; procps gives tests pgrep/ps.
pkgs=(build-essential cmake pkg-config git ca-certificates
      libmicrohttpd-dev libcjson-dev libcunit1-dev libcurl4-openssl-dev
      libsqlite3-dev valgrind python3 python3-matplotlib python3-yaml procps gnuplot-nox)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# TypeScript code-run uses ts-node installed here (pinned by its lock file),
# as Daytona's daemon runs ts-node.
(cd runtimes/typescript && npm ci --no-audit --no-fund --loglevel=error)

# The SDK tests use the official TypeScript SDK at the version pinned in
# tests/sdk-compat/package-lock.json.
if [ -f tests/sdk-compat/package-lock.json ]; then
  (cd tests/sdk-compat && npm ci --no-audit --no-fund --loglevel=error)
fi
# Spec conformance (tests/spec): Prism, pinned by tests/spec/package-lock.json.
if [ -f tests/spec/package-lock.json ]; then
  (cd tests/spec && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "setup: done"
