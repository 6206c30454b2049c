#!/usr/bin/env bash
# The main job: score the sample photos with HPSv3.
#   HPS_MODEL=DIR bash tools/demo.sh   uses a model folder (e.g. the one `hps model download` prints);
#   without it, the bundled tiny random test model is used — its scores are meaningless and it says so.
# Needs only bash, coreutils and the .NET SDK. HPS_DEMO_OUT moves the work folder (default artifacts/demo);
# HPS_CLI names a built hps.dll to use instead of building src/HpsSharp.Cli.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

die() { echo "demo: error: $*" >&2; exit 1; }

shared=${HPS_SHARED:-../shared}
assets=${HPS_ASSETS:-$shared/assets}
fixtures=${HPS_FIXTURES:-$shared/fixtures}
work=${HPS_DEMO_OUT:-artifacts/demo}

[ -f "$assets/images/prompts.json" ] ||
  die "sample photos not found: '$assets/images/prompts.json' (put the project's shared/ folder beside the repository, or set HPS_SHARED or HPS_ASSETS)"

model=${HPS_MODEL:-}
if [ -n "$model" ]; then
  # A model folder that was asked for and is not there is an error, never a silent switch to the random model.
  [ -d "$model" ] || die "HPS_MODEL='$model' is not a folder (use the folder 'hps model download' prints)"
  [ -f "$model/HPSv3.safetensors" ] || [ -f "$model/model.safetensors" ] || [ -f "$model/model.safetensors.index.json" ] ||
    die "HPS_MODEL='$model' holds no weights (HPSv3.safetensors, model.safetensors or model.safetensors.index.json)"
  echo "Using model folder: $model"
else
  [ -f "$fixtures/hpsv3-tiny/model.safetensors" ] ||
    die "the tiny test model is not found: '$fixtures/hpsv3-tiny' (set HPS_MODEL to a model folder, or HPS_SHARED / HPS_FIXTURES)"
  [ -f "$assets/qwen2-vl-tokenizer/vocab.json" ] ||
    die "the Qwen2-VL tokenizer files are not found: '$assets/qwen2-vl-tokenizer' (set HPS_SHARED or HPS_ASSETS)"
  echo "Real HPSv3 weights not given (run 'hps model download' and set HPS_MODEL to the folder it prints)."
  echo "Using the bundled tiny RANDOM test model instead: the pipeline is real, the scores are meaningless."
  model=$work/tiny-model
  mkdir -p "$model"
  for f in config.json model.safetensors; do ln -sf "$(realpath "$fixtures/hpsv3-tiny/$f")" "$model/$f"; done
  for f in vocab.json merges.txt tokenizer_config.json preprocessor_config.json chat_template.json; do
    ln -sf "$(realpath "$assets/qwen2-vl-tokenizer/$f")" "$model/$f"
  done
fi

# prompts.json is one flat object, one "name": "prompt" pair per line. Each pair becomes a manifest line for
# `hps score --manifest`; the prompt stays the JSON string it was (escapes included), so nothing is decoded here.
# A line of any other shape stops the demo rather than dropping a photo.
mkdir -p "$work/images"
manifest=$work/manifest.jsonl
: > "$manifest"
pair='^[[:space:]]*"([^"\\]+)"[[:space:]]*:[[:space:]]*("([^"\\]|\\.)*")[[:space:]]*,?[[:space:]]*$'
n=0
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  if [[ $line =~ $pair ]]; then
    name=${BASH_REMATCH[1]}
    [ -f "$assets/images/$name" ] || die "prompts.json line $line_no names '$name', which is not in '$assets/images'"
    ln -sf "$(realpath "$assets/images/$name")" "$work/images/$name"
    printf '{"image": "images/%s", "prompt": %s}\n' "$name" "${BASH_REMATCH[2]}" >> "$manifest"
    n=$((n + 1))
  elif [[ ! $line =~ ^[[:space:]]*[{}]?[[:space:]]*$ ]]; then
    die "prompts.json line $line_no is not a \"name\": \"prompt\" pair: $line"
  fi
done < "$assets/images/prompts.json"
[ "$n" -gt 0 ] || die "prompts.json lists no photos"

if [ -n "${HPS_CLI:-}" ]; then
  hps=$HPS_CLI
else
  dotnet build src/HpsSharp.Cli -c Release -nologo -v q >/dev/null
  hps=src/HpsSharp.Cli/bin/Release/net10.0/hps.dll
fi
dotnet "$hps" score --model "$model" --manifest "$manifest" "$@"
