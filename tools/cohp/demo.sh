#!/usr/bin/env bash
# CoHP without a GPU: starts the fake A1111 (port 7860) and ComfyUI (port 8188) servers of tools/cohp/fake-generator.cs,
# runs `hps cohp` with tools/cohp/generators.example.json, and stops the servers. The fake servers draw
# deterministic striped images, so the chain is real but the pictures are not.
#   HPS_MODEL=DIR bash tools/cohp/demo.sh [extra hps cohp options]
# Without HPS_MODEL the tiny RANDOM test model is used (scores meaningless; hps says so).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
shared=${HPS_SHARED:-../shared}
work=artifacts/cohp-demo
mkdir -p "$work"

model=${HPS_MODEL:-}
if [ -z "$model" ]; then
  model=artifacts/tiny-model
  mkdir -p "$model"
  for f in config.json model.safetensors; do ln -sf "$(realpath "${HPS_FIXTURES:-$shared/fixtures}/hpsv3-tiny/$f")" "$model/$f"; done
  for f in "${HPS_ASSETS:-$shared/assets}"/qwen2-vl-tokenizer/*; do ln -sf "$(realpath "$f")" "$model/$(basename "$f")"; done
fi

# One process serves both fake APIs (two concurrent `dotnet run` of one file would race on its build folder).
setsid dotnet run tools/cohp/fake-generator.cs > "$work/fake-generator.log" 2>&1 &
server=$!
trap 'kill -- "-$server" 2>/dev/null || true' EXIT

dotnet build src/HpsSharp.Cli -c Release -nologo -v q >/dev/null
for port in 7860 8188; do
  for _ in $(seq 1 240); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "the fake generator server did not start:"; cat "$work/fake-generator.log"; exit 1; }
    sleep 0.5
  done
done

dotnet src/HpsSharp.Cli/bin/Release/net10.0/hps.dll cohp \
  --prompt "a lighthouse on a cliff at dusk, oil painting" \
  --generators tools/cohp/generators.example.json --model "$model" --out "$work/run" --seed 42 "$@"
echo "page: $work/run/index.html"
