#!/usr/bin/env bash
# One entry point for people and CI. Needs the .NET 10 SDK; tools and packages are restored
# here, and the notebook check installs Debian's jupyter-nbconvert with apt the first time.
#   ./build.sh example   set up, build, run the main example
#   ./build.sh test      set up, build, install OpenMPI and PostgreSQL when missing
#                        (build/mpi-setup.sh, build/postgres-setup.sh), run
#                        every test ("N passed, N failed"), run the example
#                        notebook headless (build/notebook-check.sh), then use the packages from
#                        an empty folder as a new user would (build/consumer-check.sh)
#   ./build.sh build     set up and build only
#   ./build.sh pack      set up, build, and pack every package into artifacts/packages
#                        (VERSION_SUFFIX=beta.1 ./build.sh pack for a pre-release)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

setup() {
  # paket.dependencies and paket.lock name their package source through this variable, so no
  # registry host is written in the repository: take the machine's first enabled NuGet source.
  if [ -z "${FUNCTIONAL_NUGET_SOURCE:-}" ]; then
    FUNCTIONAL_NUGET_SOURCE=$(dotnet nuget list source --format short | awk '$1 == "E" { print $2; exit }')
    export FUNCTIONAL_NUGET_SOURCE
  fi
  if [ -z "$FUNCTIONAL_NUGET_SOURCE" ]; then
    echo "No enabled NuGet source: add one with 'dotnet nuget add source' or set FUNCTIONAL_NUGET_SOURCE." >&2
    exit 1
  fi
  dotnet tool restore >/dev/null
  dotnet paket restore
}

build() {
  setup
  dotnet build Functional.sln -c Release -nologo -v quiet -clp:ErrorsOnly
}

# The layout .editorconfig describes, for C# (dotnet format) and F# (Fantomas); fix with
# `dotnet format whitespace Functional.sln` and `dotnet fantomas FSharpApi property-tests examples build integrations`.
check_format() {
  dotnet format whitespace Functional.sln --verify-no-changes -v quiet || {
    echo "C# files are not formatted: run 'dotnet format whitespace Functional.sln'." >&2; exit 1; }
  dotnet fantomas --check FSharpApi property-tests examples build integrations || {
    echo "F# files are not formatted: run 'dotnet fantomas FSharpApi property-tests examples build integrations'." >&2; exit 1; }
}

case "${1:-}" in
  build) build ;;
  pack)
    build
    dotnet pack Functional.sln -c Release --no-build -o artifacts/packages -nologo -v quiet \
      ${VERSION_SUFFIX:+--version-suffix "$VERSION_SUFFIX"}
    ls artifacts/packages
    ;;
  example)
    build
    dotnet fsi examples/mnist.fsx
    ;;
  test)
    build
    check_format
    build/mpi-setup.sh   # the data-parallel tests run two ranks under mpirun
    build/postgres-setup.sh   # the database test starts a PostgreSQL server (skips without one)
    dotnet property-tests/bin/Release/net10.0/Functional.PropertyTests.dll --summary
    build/notebook-check.sh
    build/consumer-check.sh
    ;;
  *)
    echo "usage: ./build.sh example | test | build | pack" >&2
    exit 2
    ;;
esac
