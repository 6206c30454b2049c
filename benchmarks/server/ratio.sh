#!/usr/bin/env bash
# Service vs offline throughput with a real model, repeated (the ratio is noisy on a shared machine): each round
# times `hps score` (marginal rate) and a load test against an already running `hps serve`; prints the median ratio.
#   benchmarks/server/ratio.sh URL MODEL_DIR MANIFEST BATCH_SIZE ROUNDS [extra loadtest.py args...]
set -euo pipefail
url=$1 model=$2 manifest=$3 batch=$4 rounds=$5; shift 5
here=$(cd "$(dirname "$0")" && pwd)
hps=${HPS:-"dotnet $here/../../src/HpsSharp.Cli/bin/Release/net10.0/hps.dll"}
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  python3 "$here/loadtest.py" --url "$url" --manifest "$manifest" --offline "$hps score --model $model --batch-size $batch" \
    --out "$out/round$r.json" "$@" | sed "s/^/[round $r] /"
done
python3 - "$out" <<'PY'
import glob, json, statistics, sys
rs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/round*.json"))]
ratios = [r["ratio_service_to_offline"] for r in rs]
print("ratios " + ", ".join("%.3f" % x for x in ratios) + "; median %.3f" % statistics.median(ratios))
print("service items/s median %.2f, offline items/s median %.2f, worker busy median %.1f%%" % (
    statistics.median(r["items_per_second"] for r in rs), statistics.median(r["offline"]["items_per_second"] for r in rs),
    100 * statistics.median(r["worker_busy_fraction"] for r in rs)))
PY
