#!/usr/bin/env bash
# Packs HpsSharp for distribution.
#
#   bash tools/pack.sh                   NuGet packages of the libraries and the hps .NET tool → artifacts/packages/
#   bash tools/pack.sh --self-contained  also a self-contained single-file hps for linux-x64 → artifacts/publish/linux-x64/
#
# Libraries: HpsSharp.Core, .Modeling, .Training, .Evaluation, .Hub, .Cohp, .Server, .Diagnostics (README, MIT
# licence expression, repository URL, XML docs, SourceLink, symbols .snupkg, deterministic CI build). The libraries
# leave the libtorch choice to the application (add libtorch-cpu-linux-x64 2.10.0, or a CUDA libtorch), and Skia's
# native build too (add SkiaSharp.NativeAssets.Linux.NoDependencies 4.155.0, or another); the tool
# package HpsSharp.Cli carries the CPU libtorch and installs with
#   dotnet tool install --tool-path DIR --add-source artifacts/packages HpsSharp.Cli
# Every output gets libLibTorchSharp.so with GLIBCXX_3.4.32 marked weak (Directory.Build.targets); this script checks
# that in each one it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

self_contained=0
for arg in "$@"; do
  case "$arg" in
    --self-contained) self_contained=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "tools/pack.sh: unknown argument '$arg' (use --self-contained)" >&2; exit 2 ;;
  esac
done

out=artifacts/packages
libraries=(Core Modeling Training Evaluation Hub Cohp Server Diagnostics)
common=(-c Release -nologo -v q -p:ContinuousIntegrationBuild=true)

# SourceLink maps sources to the origin remote's URL at the packed commit. A clone without a remote has nothing to
# map to, so the sources are embedded in the symbols instead (debuggers show them either way).
if url=$(git remote get-url origin 2>/dev/null); then
  url=${url%.git}
  case "$url" in git@github.com:*) url="https://github.com/${url#git@github.com:}" ;; esac
  common+=("-p:RepositoryUrl=$url")
else
  echo "pack: no 'origin' remote: embedding sources in the symbols instead of SourceLink URLs"
  common+=(-p:EmbedAllSources=true)
fi

check_weak() {   # every libLibTorchSharp.so under $1 must have GLIBCXX_3.4.32 marked weak
  local found=0 f
  while IFS= read -r -d '' f; do
    found=1
    # (output captured first: grep -q closing the pipe early would fail the pipeline under pipefail)
    local versions; versions=$(readelf -V "$f")
    if ! grep -q 'Name: GLIBCXX_3.4.32  Flags: WEAK' <<< "$versions"; then
      echo "pack: $f still needs GLIBCXX_3.4.32 strongly (the Directory.Build.targets fix did not apply)" >&2
      exit 1
    fi
  done < <(find "$1" -name libLibTorchSharp.so -print0)
  [ "$found" = 1 ] || { echo "pack: no libLibTorchSharp.so under $1" >&2; exit 1; }
  echo "pack: GLIBCXX_3.4.32 is weak in every libLibTorchSharp.so under $1"
}

check_no_native() {   # a library package must not pull a native runtime build (libtorch, Skia's Linux assets) into its consumers
  local pkg=$1 deps
  deps=$(unzip -p "$pkg" '*.nuspec' | grep -o 'dependency id="[^"]*"' || true)
  if grep -Eq 'id="(libtorch-|SkiaSharp\.NativeAssets\.)' <<< "$deps"; then
    echo "pack: $pkg depends on a native runtime package (PrivateAssets missing):" >&2
    grep -E 'id="(libtorch-|SkiaSharp\.NativeAssets\.)' <<< "$deps" >&2
    exit 1
  fi
}

rm -rf "$out" && mkdir -p "$out"
for lib in "${libraries[@]}"; do
  echo "pack: HpsSharp.$lib"
  dotnet pack "src/HpsSharp.$lib" "${common[@]}" -p:HpsPackLibraries=true -o "$out"
  check_no_native "$(ls "$out"/HpsSharp."$lib".[0-9]*.nupkg)"
done
echo "pack: no library package depends on libtorch or Skia's native assets (the application chooses them)"

echo "pack: HpsSharp.Cli (the hps tool)"
dotnet pack src/HpsSharp.Cli "${common[@]}" -o "$out"
tmp=$(mktemp -d) && trap 'rm -rf "$tmp"' EXIT
unzip -q -o "$out"/HpsSharp.Cli.linux-x64.*.nupkg '*libLibTorchSharp.so' -d "$tmp"
check_weak "$tmp"

if [ "$self_contained" = 1 ]; then
  pub=artifacts/publish/linux-x64
  echo "pack: self-contained single-file hps → $pub"
  rm -rf "$pub"
  # Native libraries (libtorch, Skia, SQLite) go inside the file and are extracted on first run to
  # DOTNET_BUNDLE_EXTRACT_BASE_DIR (default ~/.net); compression shrinks 0.7 GB to about 190 MB.
  dotnet publish src/HpsSharp.Cli "${common[@]}" -r linux-x64 --self-contained -p:PublishSingleFile=true \
    -p:IncludeNativeLibrariesForSelfExtract=true -p:EnableCompressionInSingleFile=true \
    -p:PublishDocumentationFiles=false -p:PublishReferencesDocumentationFiles=false -o "$pub"
  # Check the very bytes the bundle extracts, and that the file runs on its own.
  DOTNET_BUNDLE_EXTRACT_BASE_DIR="$tmp/extract" "$pub/hps" version
  check_weak "$tmp/extract"
  ls -la "$pub/hps"
fi

ls -la "$out"
