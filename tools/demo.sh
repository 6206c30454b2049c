#!/usr/bin/env bash
# The main job: score the sample photos with HPSv3.
#   HPS_MODEL=DIR bash tools/demo.sh   uses a model folder (e.g. the one `hps model download` prints);
#   without it, the bundled tiny random test model is used — its scores are meaningless and it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
shared=${HPS_SHARED:-../shared}
assets=${HPS_ASSETS:-$shared/assets}
fixtures=${HPS_FIXTURES:-$shared/fixtures}
work=artifacts/demo
mkdir -p "$work"

model=${HPS_MODEL:-}
if [ -n "$model" ] && { [ -f "$model/HPSv3.safetensors" ] || [ -f "$model/model.safetensors" ] || [ -f "$model/model.safetensors.index.json" ]; }; then
  echo "Using model folder: $model"
else
  echo "Real HPSv3 weights not found (run 'hps model download' and set HPS_MODEL to the folder it prints)."
  echo "Using the bundled tiny RANDOM test model instead: the pipeline is real, the scores are meaningless."
  model=artifacts/tiny-model
  mkdir -p "$model"
  for f in config.json model.safetensors; do ln -sf "$(realpath "$fixtures/hpsv3-tiny/$f")" "$model/$f"; done
  for f in vocab.json merges.txt tokenizer_config.json preprocessor_config.json chat_template.json; do
    ln -sf "$(realpath "$assets/qwen2-vl-tokenizer/$f")" "$model/$f"
  done
fi

# One image per sample photo with its prompt as a .txt sidecar (the folder input form of `hps score`).
images="$work/images"
mkdir -p "$images"
while IFS=$'\t' read -r name prompt; do
  ln -sf "$(realpath "$assets/images/$name")" "$images/$name"
  printf '%s\n' "$prompt" > "$images/${name%.*}.txt"
done < <(node -e 'const p=require(process.argv[1]); for (const [k,v] of Object.entries(p)) console.log(k+"\t"+v)' "$(realpath "$assets/images/prompts.json")")

dotnet build src/HpsSharp.Cli -c Release -nologo -v q >/dev/null
dotnet src/HpsSharp.Cli/bin/Release/net10.0/hps.dll score --model "$model" "$images" "$@"
