#!/usr/bin/env bash
# The packages as a new user gets them. Packs every package into a local folder feed, then, in an
# empty temporary folder with its own home, NuGet configuration and NuGet cache (so nothing from
# the repository or this machine's caches is on their path), builds and runs
#   build/consumer/csharp  a console app with PackageReferences to Functional.Core and Functional-cpu
#                          (run as built and as published), and the same app with TorchSharp-cpu
#                          instead of the bundle (build/consumer/csharp-without-bundle)
#   build/consumer/fsharp  an F# script, `#r "nuget: Functional.FSharp"` and Functional-cpu, whose
#                          first line of code is a plain TorchSharp call
# Each trains a tiny model on the built-in MNIST digits and prints its accuracy. Then every
# F# and C# block of README.md and docs/ runs there too (build/run-doc-snippets.fsx). Ends with
# consumer_output_mb= (what the app's output folder adds to the disk beyond the NuGet cache it
# links to) and pack_consume_seconds= (packing and both consumers, downloads included; not the
# docs' blocks).
# Needs a build first (./build.sh build) and FUNCTIONAL_NUGET_SOURCE (./build.sh sets it).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${FUNCTIONAL_NUGET_SOURCE:?set it to the NuGet source for third-party packages (./build.sh does)}"
SECONDS=0
work=$(mktemp -d "${TMPDIR:-/tmp}/functional-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

feed="$work/feed"
dotnet pack "$repo/Functional.sln" -c Release --no-build -o "$feed" -nologo -v quiet
version=$(dotnet msbuild "$repo/CSharpCore/Functional.Core.csproj" -getProperty:PackageVersion)

# A user's machine: their own home (NuGet configuration, F# Interactive's package cache) and
# NuGet cache. Our packages come from the feed only, whatever the upstream source holds.
export HOME="$work/home" DOTNET_CLI_HOME="$work/home" NUGET_PACKAGES="$work/nuget-cache"
mkdir -p "$HOME/.nuget/NuGet"
cat > "$HOME/.nuget/NuGet/NuGet.Config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="functional-feed" value="$feed" />
    <add key="upstream" value="$FUNCTIONAL_NUGET_SOURCE" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="functional-feed"><package pattern="Functional*" /></packageSource>
    <packageSource key="upstream"><package pattern="*" /></packageSource>
  </packageSourceMapping>
</configuration>
CONFIG

# Prints NAME=VALUE lines; fails unless KEY's value is above 0.8 (a model that learned).
expect_learned() {
  local key=$1 output value
  output=$(cat)
  echo "$output"
  value=$(echo "$output" | sed -n "s/^$key=//p" | tail -1)
  awk -v v="${value:-0}" -v k="$key" 'BEGIN { if (v + 0 <= 0.8) { print k " is " v ": the model did not learn" > "/dev/stderr"; exit 1 } }'
}

cp -r "$repo/build/consumer/csharp" "$work/app"
(cd "$work/app" && dotnet build -c Release -nologo -v quiet -clp:ErrorsOnly\;NoSummary -p:FunctionalVersion="$version")
dotnet "$work/app/bin/Release/net10.0/Consumer.dll" | expect_learned csharp_test_accuracy
# Published for Linux x64 (natives beside the app), as it would be deployed.
(cd "$work/app" && dotnet publish -c Release -r linux-x64 --self-contained false -o "$work/published" -nologo -v quiet \
  -clp:ErrorsOnly\;NoSummary -p:FunctionalVersion="$version")
dotnet "$work/published/Consumer.dll" | expect_learned csharp_test_accuracy

# Without the bundle (TorchSharp-cpu and Functional.Core): Functional.Core fixes the shim at run time.
cp -r "$repo/build/consumer/csharp" "$work/csharp"
cp -r "$repo/build/consumer/csharp-without-bundle" "$work/without-bundle"
(cd "$work/without-bundle" && dotnet build -c Release -nologo -v quiet -clp:ErrorsOnly\;NoSummary -p:FunctionalVersion="$version")
dotnet "$work/without-bundle/bin/Release/net10.0/Consumer.dll" | expect_learned csharp_test_accuracy

sed "s/\$FUNCTIONAL_VERSION/$version/g" "$repo/build/consumer/fsharp/train.fsx" > "$work/train.fsx"
(cd "$work" && dotnet fsi train.fsx) | expect_learned fsharp_test_accuracy

pack_consume_seconds=$SECONDS

# Every F# and C# block of the README and docs/, as a user pastes it.
dotnet fsi "$repo/build/run-doc-snippets.fsx" -- "$repo" "$work" "$version"

# du counts a hard-linked file once: listing the cache first leaves the output only what is its own.
output_mb=$(du -sm "$NUGET_PACKAGES" "$work/app/bin" | tail -1 | cut -f1)
echo "consumer_output_mb=$output_mb"
echo "pack_consume_seconds=$pack_consume_seconds"
