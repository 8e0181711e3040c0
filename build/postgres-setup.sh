#!/usr/bin/env bash
# Installs Debian's postgresql package when it is missing, for the database source's PostgreSQL
# test (which starts its own server from it, in a temporary folder, and stops it). Part of
# ./build.sh test. Never fails the build: without it the test skips and prints why.
set -uo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! sudo -n true 2>/dev/null; then
    echo "postgresql is not installed and apt needs root: the PostgreSQL test will skip."
    exit 0
  fi
  sudo="sudo -n"
fi
echo "Installing postgresql (apt)..."
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null; }; then
  echo "Installing postgresql failed: the PostgreSQL test will skip."
fi
exit 0
