#!/usr/bin/env bash
# Runs benchmarks/HpsSharp.ScorerBench for every baseline scorer in bf16 and fp32, one process each, and keeps the
# logs here (benchmarks/scorers.md is written from them). ViT-H/14 in fp32 (PickScore, HPSv2) is measured as its
# two towers in two processes, to keep each process under 3 GB on the shared machine.
# Usage, from the repository root: bash benchmarks/scorers/run.sh [BATCH] [RUNS]
set -euo pipefail
batch=${1:-2}
runs=${2:-2}
dotnet build benchmarks/HpsSharp.ScorerBench -c Release -v q -nologo >/dev/null
bench=benchmarks/HpsSharp.ScorerBench/bin/Release/net10.0/HpsSharp.ScorerBench.dll
out=benchmarks/scorers
for spec in "clipscore bf16 all" "clipscore fp32 all" "aesthetic bf16 all" "aesthetic fp32 all" \
            "imagereward bf16 all" "imagereward fp32 all" "pickscore bf16 all" "pickscore fp32 vision" "pickscore fp32 text" \
            "hpsv2 bf16 all" "hpsv2 fp32 vision" "hpsv2 fp32 text"; do
  read -r scorer dtype part <<<"$spec"
  log="$out/$scorer-$dtype-$part.log"
  echo "== $spec ($(date -u +%H:%M:%S))"
  dotnet "$bench" "$scorer" --dtype "$dtype" --part "$part" --batch "$batch" --runs "$runs" >"$log" 2>&1 || echo "failed: see $log"
  grep '^RESULT' "$log" || true
done
