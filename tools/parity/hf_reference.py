#!/usr/bin/env python3
"""Cross-check HpsSharp against Hugging Face transformers itself.

Builds transformers' Qwen2VLForConditionalGeneration from the tiny fixture's config.json and model.safetensors,
adds HPSv3's reward head (Linear(H,1024) ReLU Dropout Linear(1024,16) ReLU Linear(16,2), fp32), and runs HPSv3's
custom forward: image features scattered into the <|image_pad|> rows, the decoder called with SEQUENTIAL 1-D
positions 0..L-1 in all three M-RoPE sections (what the released checkpoint was trained with), the head in fp32 on
the hidden state at <|Reward|>. bf16 mode does what HPSv3 does: model.to(torch.bfloat16) (which also rounds the RoPE
inv_freq buffers) and the head back in fp32.

Inputs come from the fixture's expected_<case>.safetensors (input_ids, pixel_values, image_grid_thw, reward_index),
so this checks the model alone; compare `hps score --json` output for the same cases with --hps-json.

Usage (needs torch, transformers, safetensors; a GPU is optional):
  python3 tools/parity/hf_reference.py --fixture ../shared/fixtures/hpsv3-tiny [--mode fp32|bf16|both]
      [--hps-json scores.json] [--device cuda] [--time-7b]
Exit code 0 when every comparison is within tolerance (fp32: 1e-4 on mu/log_sigma; bf16: 0.1).
"""
import argparse
import json
import os
import sys
import time

import torch
from safetensors.torch import load_file
import transformers
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

REWARD_ID = 151657
IMAGE_ID = 151655
TOL = {"fp32": 1e-4, "bf16": 0.1}


def parts(model):
    """(visual, text decoder) across transformers layouts (<=4.51 flat, >=4.52 nested)."""
    inner = model.model
    if hasattr(inner, "language_model"):
        return inner.visual, inner.language_model
    return model.visual, inner


def to_model_keys(state, model):
    """Official HPSv3 keys are the flat layout; newer transformers nest them under model.visual / model.language_model."""
    if not hasattr(model.model, "language_model"):
        return state
    out = {}
    for k, v in state.items():
        if k.startswith("visual."):
            out["model." + k] = v
        elif k.startswith("model.") and not k.startswith(("model.language_model.", "model.visual.")):
            out["model.language_model." + k[len("model."):]] = v
        else:
            out[k] = v
    return out


def build(fixture, mode, device):
    config = Qwen2VLConfig.from_pretrained(fixture)
    config._attn_implementation = "eager"  # the goldens emulate HF eager attention
    model = Qwen2VLForConditionalGeneration(config)
    model.rm_head = torch.nn.Sequential(
        torch.nn.Linear(config.hidden_size, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.05),
        torch.nn.Linear(1024, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    state = {k: v for k, v in load_file(os.path.join(fixture, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(to_model_keys(state, model), strict=False)
    missing = [k for k in missing if "inv_freq" not in k]
    if missing or unexpected:
        raise SystemExit(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    model.eval()
    if mode == "bf16":
        model.to(torch.bfloat16)  # as HPSv3's train.py / inference: rounds inv_freq buffers too
    else:
        model.to(torch.float32)
    model.rm_head.to(torch.float32)
    return model.to(device)


@torch.inference_mode()
def hpsv3_forward(model, input_ids, attention_mask, pixel_values, grid_thw, reward_index):
    visual, text = parts(model)
    embeds = text.embed_tokens(input_ids)
    image_embeds = visual(pixel_values.to(next(visual.parameters()).dtype), grid_thw=grid_thw)
    mask = (input_ids == IMAGE_ID).unsqueeze(-1).expand_as(embeds)
    embeds = embeds.masked_scatter(mask, image_embeds.to(embeds.dtype))
    b, length = input_ids.shape
    positions = torch.arange(length, device=input_ids.device).view(1, 1, -1).expand(3, b, -1)
    hidden = text(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions)[0]
    at_reward = hidden[torch.arange(b, device=hidden.device), reward_index]
    return model.rm_head(at_reward.float())


def run_case(model, path, mode, device, member_paths=None):
    t = load_file(path)
    if "pixel_values" not in t:  # the batch file: pixel_values are the members' concatenated in member order
        t["pixel_values"] = torch.cat([load_file(p)["pixel_values"] for p in member_paths])
    ids = t["input_ids"].long()
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    mask = t["attention_mask"].long() if "attention_mask" in t else torch.ones_like(ids)
    out = hpsv3_forward(model, ids.to(device), mask.to(device), t["pixel_values"].to(device),
                        t["image_grid_thw"].long().to(device), t["reward_index"].long().to(device))
    key = f"head_out.{mode}"
    expected = t[key].float().view(-1, 2) if key in t else None
    return out.float().cpu(), expected


def time_7b(device):
    """Forward time of the real 7B shapes (random bf16 weights) at batch 1, ~830 tokens, 1024 patches."""
    config = Qwen2VLConfig(
        vocab_size=151658, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, rms_norm_eps=1e-6, rope_theta=1e6,
        rope_scaling={"type": "mrope", "mrope_section": [16, 24, 24]},
        vision_config={"depth": 32, "embed_dim": 1280, "hidden_size": 3584, "num_heads": 16, "mlp_ratio": 4,
                       "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_chans": 3})
    config._attn_implementation = "sdpa"
    with torch.device(device):
        model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16).eval()
        model.rm_head = torch.nn.Sequential(torch.nn.Linear(3584, 1024), torch.nn.ReLU(), torch.nn.Dropout(0.05),
                                            torch.nn.Linear(1024, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)).float()
    length, patches = 830, 1024
    ids = torch.randint(0, 150000, (1, length), device=device)
    ids[0, 10:10 + patches // 4] = IMAGE_ID
    grid = torch.tensor([[1, 32, 32]], device=device)
    pix = torch.randn(patches, 1176, device=device)
    mask = torch.ones_like(ids)
    reward = torch.tensor([length - 1], device=device)
    for _ in range(2):
        hpsv3_forward(model, ids, mask, pix, grid, reward)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    n, t0 = 5, time.perf_counter()
    for _ in range(n):
        hpsv3_forward(model, ids, mask, pix, grid, reward)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / n
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    print(f"7B-shape forward, batch 1, {length} tokens, {patches} patches: {dt * 1000:.1f} ms, peak {peak:.1f} GiB ({device})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--mode", choices=["fp32", "bf16", "both"], default="both")
    ap.add_argument("--hps-json", help="output of `hps score --json` for the fixture cases (fp32 or bf16 as --mode)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--time-7b", action="store_true")
    args = ap.parse_args()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, device {args.device}")
    cases = json.load(open(os.path.join(args.fixture, "cases.json")))
    ok = True
    ours = None
    if args.hps_json:
        ours = [(r.get("mu"), r.get("log_sigma")) for r in json.load(open(args.hps_json))["results"]]
    for mode in (["fp32", "bf16"] if args.mode == "both" else [args.mode]):
        model = build(args.fixture, mode, args.device)
        for i, case in enumerate(cases["cases"]):
            out, expected = run_case(model, os.path.join(args.fixture, case["tensors"]), mode, args.device)
            diff = (out - expected).abs().max().item()
            good = diff <= TOL[mode]
            ok &= good
            line = f"[{mode}] {case['id']}: transformers mu={out[0,0]:.6f} log_sigma={out[0,1]:.6f}  golden diff {diff:.2e}"
            if ours and i < len(ours) and ours[i][0] is not None:
                d2 = max(abs(out[0, 0].item() - ours[i][0]), abs(out[0, 1].item() - ours[i][1]))
                ok &= d2 <= TOL[mode]
                line += f"  hps diff {d2:.2e}"
            print(line + ("" if good else "  <-- OUT OF TOLERANCE"))
        by_id = {c["id"]: os.path.join(args.fixture, c["tensors"]) for c in cases["cases"]}
        members = [by_id[m] for m in cases["batch"]["members"]]
        out, expected = run_case(model, os.path.join(args.fixture, "expected_batch.safetensors"), mode, args.device, members)
        diff = (out - expected).abs().max().item()
        ok &= diff <= TOL[mode]
        print(f"[{mode}] batch: golden diff {diff:.2e}")
    if args.time_7b:
        time_7b(args.device)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
