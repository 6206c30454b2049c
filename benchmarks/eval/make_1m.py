#!/usr/bin/env python3
"""Synthetic scale test for `hps eval --scores`: an HPDv3-format file with N pairs and a scores file for its 2N images.

    python3 benchmarks/eval/make_1m.py /tmp/hps-1m 1000000
    hps eval --scores /tmp/hps-1m/scores.jsonl --data /tmp/hps-1m/all.json --json > /dev/null
"""
import json
import os
import random
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
os.makedirs(out, exist_ok=True)
rng = random.Random(7)
models = ["flux", "kolors", "sdxl", "sd3", "infinity", "hunyuan", "sd2", "cogview4"]
with open(os.path.join(out, "all.json"), "w") as data, open(os.path.join(out, "scores.jsonl"), "w") as scores:
    data.write("[\n")
    for i in range(n):
        a, b = f"images/{i:07d}_1.jpg", f"images/{i:07d}_2.jpg"
        m1, m2 = rng.sample(models, 2)
        rec = {"prompt": f"prompt number {i} with a few more words to look like a caption", "choice_dist": [rng.randint(5, 19), rng.randint(0, 9)],
               "confidence": round(rng.random(), 6), "path1": a, "path2": b, "model1": m1, "model2": m2}
        data.write(json.dumps(rec) + (",\n" if i + 1 < n else "\n"))
        mu1 = rng.gauss(1.0, 2.0)
        mu2 = rng.gauss(0.0, 2.0)
        scores.write(json.dumps({"image": a, "mu": round(mu1, 5), "log_sigma": round(rng.gauss(0, 0.3), 5)}) + "\n")
        scores.write(json.dumps({"image": b, "mu": round(mu2, 5), "log_sigma": round(rng.gauss(0, 0.3), 5)}) + "\n")
    data.write("]\n")
