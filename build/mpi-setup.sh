#!/usr/bin/env bash
# Installs OpenMPI from Debian when it is missing: openmpi-bin (mpirun and libmpi.so.40) for the
# data-parallel tests and examples; with --dev also libopenmpi-dev (mpicc and mpi.h), which
# `bench/run distributed` needs to build its C reference. Part of ./build.sh test.
set -euo pipefail
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
packages=()
# Debian's own packages (another MPI's mpirun would not bring libmpi.so.40); mpicc alone is not
# enough either: openmpi-bin's wrapper is there without the headers.
installed openmpi-bin || packages+=(openmpi-bin)
if [ "${1:-}" = "--dev" ]; then installed libopenmpi-dev || packages+=(libopenmpi-dev); fi
[ ${#packages[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "Installing ${packages[*]} (apt)..."
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
