#!/usr/bin/env bash
# The preprocess benchmark and its Pillow + numpy baseline, interleaved on this machine (one run, one ratio):
#   bash tools/bench/run_preprocess.sh [seconds-per-case]
# Writes the inputs to artifacts/bench, then: Python, .NET (wall + CPU time), BenchmarkDotNet, Python, .NET again.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HPS_BENCH_IMAGES="$PWD/artifacts/bench"
secs="${1:-5}"
/usr/bin/python3 tools/bench/preprocess_pillow.py make-inputs "$HPS_BENCH_IMAGES"
dotnet build benchmarks/HpsSharp.Benchmarks -c Release -nologo -v q
bench() { dotnet run -c Release --no-build --project benchmarks/HpsSharp.Benchmarks -- "$@"; }
echo "== Pillow + numpy (1) =="; /usr/bin/python3 tools/bench/preprocess_pillow.py run "$HPS_BENCH_IMAGES" --seconds "$secs"
echo "== HpsSharp, CPU time (1) =="; bench preprocess-cpu "$HPS_BENCH_IMAGES" "$secs"
echo "== HpsSharp, BenchmarkDotNet =="; bench --filter '*PreprocessBenchmarks*' --join
echo "== Pillow + numpy (2) =="; /usr/bin/python3 tools/bench/preprocess_pillow.py run "$HPS_BENCH_IMAGES" --seconds "$secs"
echo "== HpsSharp, CPU time (2) =="; bench preprocess-cpu "$HPS_BENCH_IMAGES" "$secs"
