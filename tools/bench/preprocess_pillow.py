#!/usr/bin/env python3
"""Pillow + numpy baseline for the preprocess benchmark: the same work as HpsSharp's Qwen2VLImageProcessor.Process
on encoded bytes held in memory — decode, convert("RGB"), smart_resize (min = max = 200704), Pillow BICUBIC resize,
rescale + CLIP normalisation, temporal duplication and patchify to [gh*gw, 1176] float32 (HPSv3's pipeline, with
the HF slow processor's arithmetic).

    /usr/bin/python3 tools/bench/preprocess_pillow.py make-inputs DIR      # writes DIR/photo1024.{jpg,png}
    /usr/bin/python3 tools/bench/preprocess_pillow.py run DIR [--seconds S] # times each case, prints a table

`make-inputs` builds the 1024x1024 photo from ../shared/assets/images/retina.jpg (1411x1411, CC0/public domain)
with a LANCZOS downscale, saved as JPEG (quality 90, 4:2:0) and PNG. tools/bench/run_preprocess.sh runs both
benchmarks in one go.
"""
import hashlib
import io
import math
import os
import statistics
import sys
import time

import numpy as np
import PIL
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def smart_resize(height, width, factor=28, min_pixels=200704, max_pixels=200704):
    if max(height, width) / min(height, width) > 200:
        raise ValueError("absolute aspect ratio must be smaller than 200")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def decode(data):
    return Image.open(io.BytesIO(data)).convert("RGB")


def preprocess(data):
    image = decode(data)
    width, height = image.size
    h, w = smart_resize(height, width)
    return preprocess_resized(image.resize((w, h), Image.BICUBIC))


def preprocess_resized(image):
    w, h = image.size
    x = (np.asarray(image) * (1 / 255)).astype(np.float32)  # rescale in float64, cast (slow processor)
    x = (x - MEAN) / STD
    x = x.transpose(2, 0, 1)  # CHW
    frames = np.stack([x, x])  # temporal_patch_size 2
    gh, gw = h // 14, w // 14
    patches = frames.reshape(1, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(patches.reshape(gh * gw, 1176)), (1, gh, gw)


def time_case(fn, data, seconds):
    """Wall time and process CPU time per call (on a shared machine wall time is mostly the wait for a core)."""
    for _ in range(3):
        fn(data)  # warm-up
    samples, cpu = [], []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(samples) < 10:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(data)
        samples.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.mean(samples), statistics.median(samples), statistics.median(cpu), len(samples)


def make_inputs(folder):
    here = os.path.dirname(os.path.abspath(__file__))
    assets = os.environ.get("HPS_ASSETS", os.path.join(here, "..", "..", "..", "shared", "assets"))
    src = Image.open(os.path.join(assets, "images", "retina.jpg")).convert("RGB").resize((1024, 1024), Image.LANCZOS)
    os.makedirs(folder, exist_ok=True)
    src.save(os.path.join(folder, "photo1024.jpg"), quality=90, subsampling=2)
    src.save(os.path.join(folder, "photo1024.png"))
    print(f"wrote {folder}/photo1024.jpg and photo1024.png")


def run(folder, seconds):
    print(f"Pillow {PIL.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}")
    print(f"{'case':<26}{'mean ms':>10}{'median ms':>11}{'cpu med ms':>12}{'n':>6}  pixel_values sha256")
    for ext in ("jpg", "png"):
        with open(os.path.join(folder, f"photo1024.{ext}"), "rb") as fh:
            data = fh.read()
        pv, grid = preprocess(data)
        sha = hashlib.sha256(pv.astype("<f4").tobytes()).hexdigest()
        for name, fn in ((f"decode {ext}", decode), (f"preprocess {ext}", preprocess)):
            mean, med, cpu, n = time_case(fn, data, seconds)
            tag = sha[:16] + f" grid {list(grid)}" if name.startswith("preprocess") else ""
            print(f"{name:<26}{mean * 1e3:>10.2f}{med * 1e3:>11.2f}{cpu * 1e3:>12.2f}{n:>6}  {tag}")
    with open(os.path.join(folder, "photo1024.jpg"), "rb") as fh:
        rgb = decode(fh.read())

    def resize_patchify(image):
        width, height = image.size
        h, w = smart_resize(height, width)
        return preprocess_resized(image.resize((w, h), Image.BICUBIC))

    mean, med, cpu, n = time_case(resize_patchify, rgb, seconds)
    print(f"{'resize+patchify rgb':<26}{mean * 1e3:>10.2f}{med * 1e3:>11.2f}{cpu * 1e3:>12.2f}{n:>6}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make-inputs":
        make_inputs(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "run":
        secs = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 5.0
        run(sys.argv[2], secs)
    else:
        print(__doc__)
        sys.exit(2)
