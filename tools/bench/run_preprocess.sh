#!/usr/bin/env bash
# The preprocess benchmark and its Pillow + numpy baseline, back to back on this machine (one run, one ratio).
#   bash tools/bench/run_preprocess.sh [seconds-per-python-case]
# Writes the inputs to artifacts/bench, prints the Python table, then BenchmarkDotNet's table for PreprocessBenchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HPS_BENCH_IMAGES="$PWD/artifacts/bench"
/usr/bin/python3 tools/bench/preprocess_pillow.py make-inputs "$HPS_BENCH_IMAGES"
dotnet build benchmarks/HpsSharp.Benchmarks -c Release -nologo -v q
echo "== Pillow + numpy =="
/usr/bin/python3 tools/bench/preprocess_pillow.py run "$HPS_BENCH_IMAGES" --seconds "${1:-5}"
echo "== HpsSharp =="
dotnet run -c Release --no-build --project benchmarks/HpsSharp.Benchmarks -- --filter '*PreprocessBenchmarks*' --join
echo "== Pillow + numpy (again, to bracket the .NET run) =="
/usr/bin/python3 tools/bench/preprocess_pillow.py run "$HPS_BENCH_IMAGES" --seconds "${1:-5}"
