#!/usr/bin/env python3
"""How much batch composition moves HPSv3 scores, and what --deterministic costs (one image per forward).

Usage: python3 benchmarks/determinism/measure.py MODEL_DIR [REPEATS]
Scores the sample photos (shared/assets/images, with their prompts) alone and in mixed batches, in bf16 and fp32,
through `hps score`, and times a manifest of REPEATS x 9 items with --batch-size 8 and with --deterministic.
Prints a Markdown table. Needs the CLI built (dotnet build src/HpsSharp.Cli -c Release).
"""
import json, os, subprocess, sys, tempfile, time

repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
hps = ["dotnet", os.path.join(repo, "src/HpsSharp.Cli/bin/Release/net10.0/hps.dll")]
assets = os.environ.get("HPS_ASSETS", os.path.join(repo, "..", "shared", "assets"))
model = sys.argv[1]
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 4
prompts = json.load(open(os.path.join(assets, "images", "prompts.json")))
items = [{"prompt": p, "image": os.path.join(assets, "images", name)} for name, p in sorted(prompts.items())]
tmp = tempfile.mkdtemp()


def score(manifest_items, *args):
    path = os.path.join(tmp, "m.jsonl")
    with open(path, "w") as f:
        for it in manifest_items:
            f.write(json.dumps(it) + "\n")
    t = time.perf_counter()
    out = subprocess.run(hps + ["score", "--model", model, "--manifest", path, "--json", *args], capture_output=True, text=True, check=True).stdout
    return [r["mu"] for r in json.loads(out)["results"]], time.perf_counter() - t


print("| dtype | max abs Δμ, alone vs batch of 8 | same with --deterministic |")
print("|---|---|---|")
for dtype in ["bf16", "fp32"]:
    alone = [score([it], "--dtype", dtype, "--batch-size", "1")[0][0] for it in items]
    batched, _ = score(items, "--dtype", dtype, "--batch-size", "8")
    det, _ = score(items, "--dtype", dtype, "--batch-size", "8", "--deterministic")
    d1 = max(abs(a - b) for a, b in zip(alone, batched))
    d2 = max(abs(a - b) for a, b in zip(alone, det))
    print(f"| {dtype} | {d1:.2e} | {d2:.2e} |")

print()
print(f"| dtype | {repeats * len(items)} items, --batch-size 8 (s) | --deterministic (s) | cost |")
print("|---|---|---|---|")
for dtype in ["bf16", "fp32"]:
    many = items * repeats
    _, t_batch = score(many, "--dtype", dtype, "--batch-size", "8")
    _, t_det = score(many, "--dtype", dtype, "--batch-size", "8", "--deterministic")
    print(f"| {dtype} | {t_batch:.1f} | {t_det:.1f} | {t_det / t_batch:.2f}x |")
