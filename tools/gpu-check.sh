#!/usr/bin/env bash
# HpsSharp on an NVIDIA GPU, end to end, on a machine with PyTorch but without .NET and without internet.
#
# Here (a machine with the .NET SDK), make the bundle:
#   bash tools/gpu-check.sh --make-bundle            → artifacts/gpu-check-bundle.tar.gz (≈ 0.3 GB)
# It holds the self-contained HpsSharp.GpuCheck program (TorchSharp and its native bridge; .NET runtime included),
# the hpsv3-tiny fixture with its goldens, this script and tools/gpu/torch_reference.py.
#
# There (NVIDIA driver, python3 with a CUDA build of torch):
#   tar xzf gpu-check-bundle.tar.gz && cd gpu-check-bundle && bash gpu-check.sh [--iterations 10] [--batch 4]
#
# What it does:
#   1. finds the local PyTorch (python3 -c 'import torch'), its CUDA and its lib folder;
#   2. uses that libtorch for HpsSharp: the bundle's CPU libtorch is removed and LD_LIBRARY_PATH points at
#      torch/lib. libLibTorchSharp.so of TorchSharp 0.107.0 is built against libtorch 2.10; with another torch
#      version it rebuilds the bridge against the local torch from TorchSharp's source (TORCHSHARP_SRC=a TorchSharp
#      v0.107.0 checkout, its src/Native; needs cmake and a C++ compiler) — or stops and says so;
#   3. runs the CUDA checks: tiny-golden parity on the GPU (fp32 within 1e-4, bf16 within the CPU fixture tolerance),
#      then the 7B-shape bf16 forward (random weights) timed;
#   4. times PyTorch's own forward of the same 7B shapes, eager and SDPA, in the same run;
#   5. prints a table and writes gpu-check-results.jsonl.
# Exit code 0 when the parity checks pass and every step ran.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" = "--make-bundle" ]; then
  repo=$(cd "$here/.." && pwd)
  out="$repo/artifacts/gpu-check-bundle"
  rm -rf "$out" && mkdir -p "$out/fixture"
  # Self-contained, not single-file: the native libraries stay separate files so that the CPU libtorch can be
  # swapped for the local CUDA one. The GLIBCXX fix applies to this publish like every other.
  dotnet publish "$repo/benchmarks/HpsSharp.GpuCheck" -c Release -r linux-x64 --self-contained -nologo -v q -o "$out/app"
  fixture=${HPS_FIXTURES:-$repo/../shared/fixtures}/hpsv3-tiny
  [ -d "$fixture" ] || fixture="$repo/tests/fixtures/hpsv3-tiny"
  cp -L "$fixture"/config.json "$fixture"/model.safetensors "$fixture"/expected_*.safetensors "$out/fixture/"
  cp "$repo/tools/gpu-check.sh" "$out/gpu-check.sh"
  cp "$repo/tools/gpu/torch_reference.py" "$out/torch_reference.py"
  tar -C "$repo/artifacts" -czf "$repo/artifacts/gpu-check-bundle.tar.gz" gpu-check-bundle
  ls -la "$repo/artifacts/gpu-check-bundle.tar.gz"
  exit 0
fi

iterations=10 batch=4
while [ $# -gt 0 ]; do
  case "$1" in
    --iterations) iterations=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

app="$here/app" fixture="$here/fixture" reference="$here/torch_reference.py"
[ -x "$app/HpsSharp.GpuCheck" ] || { echo "gpu-check: no bundle here ($app): run 'bash tools/gpu-check.sh --make-bundle' on a machine with the .NET SDK and copy artifacts/gpu-check-bundle.tar.gz" >&2; exit 1; }
results="$here/gpu-check-results.jsonl"
: > "$results"

echo "== 1. GPU and PyTorch"
nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.free --format=csv,noheader || { echo "gpu-check: nvidia-smi failed: no NVIDIA driver" >&2; exit 1; }
read -r torch_version torch_cuda torch_lib < <(python3 -c 'import os, torch; print(torch.__version__, torch.version.cuda, os.path.join(os.path.dirname(torch.__file__), "lib"))') \
  || { echo "gpu-check: python3 cannot import torch" >&2; exit 1; }
python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' || { echo "gpu-check: torch $torch_version sees no CUDA device" >&2; exit 1; }
echo "torch $torch_version, CUDA $torch_cuda, libraries in $torch_lib"

echo "== 2. libtorch for HpsSharp"
# The bundle's CPU libtorch would shadow the CUDA one (libLibTorchSharp.so has RUNPATH \$ORIGIN): move it aside.
mkdir -p "$app/cpu-libtorch"
for f in "$app"/libtorch*.so "$app"/libc10.so "$app"/libgomp*.so* "$app"/libshm.so; do
  [ -e "$f" ] && mv "$f" "$app/cpu-libtorch/"
done
case "$torch_version" in
  2.10.*) echo "torch $torch_version matches the libtorch 2.10 that libLibTorchSharp.so was built against" ;;
  *)
    if [ -n "${TORCHSHARP_SRC:-}" ] && [ -d "$TORCHSHARP_SRC/src/Native" ]; then
      echo "torch $torch_version ≠ 2.10: rebuilding libLibTorchSharp.so against it from $TORCHSHARP_SRC"
      prefix=$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
      build="$here/native-build"
      cmake -S "$TORCHSHARP_SRC/src/Native" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
        -DLIBTORCH_PATH="$torch_lib/.." >/dev/null
      cmake --build "$build" --target LibTorchSharp -j "$(nproc)" >/dev/null
      cp "$(find "$build" -name libLibTorchSharp.so | head -1)" "$app/libLibTorchSharp.so"
    else
      echo "gpu-check: torch $torch_version is not 2.10.x, and TORCHSHARP_SRC (a TorchSharp v0.107.0 checkout) is not set: cannot build the native bridge against it" >&2
      echo "gpu-check: install torch 2.10 (pip install torch==2.10.* from a local wheel) or set TORCHSHARP_SRC" >&2
      exit 1
    fi ;;
esac
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== 3. HpsSharp on CUDA: tiny-golden parity, then the 7B shapes (bf16, batch $batch)"
rc=0
"$app/HpsSharp.GpuCheck" "$fixture" --device cuda --iterations "$iterations" --batch "$batch" --json "$results" || rc=$?

echo "== 4. PyTorch's own forward of the same shapes (eager and SDPA, bf16)"
python3 "$reference" --batch "$batch" --iterations "$iterations" --modes eager,sdpa --json "$results" || rc=1

echo "== 5. Results (same machine, same run)"
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = next((r for r in rows if r["name"].endswith("sdpa")), None)
print(f'{"forward":58} {"mean ms":>9} {"min ms":>9} {"img/s":>8} {"vs torch sdpa":>14}')
for r in rows:
    ratio = f'{base["mean_ms"] / r["mean_ms"]:.2f}×' if base else "-"
    print(f'{r["name"]:58} {r["mean_ms"]:9.1f} {r["min_ms"]:9.1f} {r["images_per_s"]:8.2f} {ratio:>14}')
PY
echo "results: $results"
exit "$rc"
