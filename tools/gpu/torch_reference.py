"""PyTorch's own forward of the HPSv3-7B shapes, for tools/gpu-check.sh to time beside HpsSharp in the same run.

Only torch is used (no transformers, no weights): random bf16 weights with the released shapes — Qwen2-VL-7B vision
tower (32 blocks, 1280 wide, 16 heads, 2×2 merger into 3584) and decoder (28 layers, 3584 wide, 28 query / 4 KV heads,
SwiGLU 18944, RMSNorm, RoPE) plus the fp32 reward head read at the last token — on the same batch as HpsSharp's
GpuChecks.Throughput7B: BATCH rows of 64 text tokens + 256 image tokens (one 448×448 image = 1024 patches) + 3.
RoPE tables are built the simple way (timing, not numerics, is the point here). Attention either "eager" (matmul + softmax, as transformers' eager path) or "sdpa"
(torch.nn.functional.scaled_dot_product_attention). Prints one JSON line per mode.

    python3 tools/gpu/torch_reference.py [--batch 4] [--iterations 10] [--modes eager,sdpa] [--json FILE]
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

H, LAYERS, HEADS, KV, FFN, VOCAB = 3584, 28, 28, 4, 18944, 151658
VH, VDEPTH, VHEADS, VMLP, PATCH_IN = 1280, 32, 16, 5120, 1176


def attention(q, k, v, mode, causal):
    # q, k, v: [B, heads, L, d]
    if mode == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    if causal:
        n = q.shape[-2]
        mask = torch.full((n, n), float("-inf"), device=q.device, dtype=scores.dtype).triu(1)
        scores = scores + mask
    return torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def rope(x, cos, sin):
    return x * cos + rotate_half(x) * sin


def rms_norm(x, w, eps=1e-6):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


class Model:
    def __init__(self, device, dtype):
        g = torch.Generator(device="cpu").manual_seed(1)

        def w(*shape):
            return (torch.randn(*shape, generator=g) * 0.02).to(device=device, dtype=dtype)

        def b(n):
            return torch.zeros(n, device=device, dtype=dtype)

        def one(n):
            return torch.ones(n, device=device, dtype=dtype)

        self.patch = w(VH, PATCH_IN)
        self.vblocks = [dict(n1w=one(VH), n1b=b(VH), qkv=w(3 * VH, VH), qkvb=b(3 * VH), proj=w(VH, VH), projb=b(VH),
                             n2w=one(VH), n2b=b(VH), fc1=w(VMLP, VH), fc1b=b(VMLP), fc2=w(VH, VMLP), fc2b=b(VH))
                        for _ in range(VDEPTH)]
        self.mln = (one(VH), b(VH))
        self.m0, self.m0b, self.m2, self.m2b = w(4 * VH, 4 * VH), b(4 * VH), w(H, 4 * VH), b(H)
        self.embed = w(VOCAB, H)
        kvw = KV * (H // HEADS)
        self.layers = [dict(in_norm=one(H), q=w(H, H), qb=b(H), k=w(kvw, H), kb=b(kvw), v=w(kvw, H), vb=b(kvw), o=w(H, H),
                            post=one(H), gate=w(FFN, H), up=w(FFN, H), down=w(H, FFN)) for _ in range(LAYERS)]
        self.norm = one(H)
        self.head = [(torch.randn(1024, H, generator=g) * 0.02).to(device), torch.zeros(1024, device=device),
                     (torch.randn(16, 1024, generator=g) * 0.02).to(device), torch.zeros(16, device=device),
                     (torch.randn(2, 16, generator=g) * 0.02).to(device), torch.zeros(2, device=device)]
        self.device, self.dtype = device, dtype

    def vision(self, pixels, images, mode):
        n = pixels.shape[0]
        per = n // images
        d = VH // VHEADS
        x = F.linear(pixels.to(self.dtype), self.patch)
        pos = torch.arange(per, device=self.device, dtype=torch.float32)
        inv = 1.0 / (10000 ** (torch.arange(0, d // 2, 2, device=self.device, dtype=torch.float32) / (d // 2)))
        ang = torch.outer(pos, inv).repeat(1, 2)
        ang = torch.cat((ang, ang), dim=-1)
        cos, sin = ang.cos().to(self.dtype)[None, :, None, :], ang.sin().to(self.dtype)[None, :, None, :]
        for blk in self.vblocks:
            y = F.layer_norm(x, (VH,), blk["n1w"], blk["n1b"], 1e-6)
            qkv = F.linear(y, blk["qkv"], blk["qkvb"]).view(images, per, 3, VHEADS, d)
            q, k, v = rope(qkv[:, :, 0], cos, sin), rope(qkv[:, :, 1], cos, sin), qkv[:, :, 2]
            o = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), mode, causal=False)  # per image
            x = x + F.linear(o.transpose(1, 2).reshape(n, VH), blk["proj"], blk["projb"])
            y = F.layer_norm(x, (VH,), blk["n2w"], blk["n2b"], 1e-6)
            h = F.linear(y, blk["fc1"], blk["fc1b"])
            x = x + F.linear(h * torch.sigmoid(1.702 * h), blk["fc2"], blk["fc2b"])
        x = F.layer_norm(x, (VH,), *self.mln, 1e-6).view(n // 4, 4 * VH)
        return F.linear(F.gelu(F.linear(x, self.m0, self.m0b)), self.m2, self.m2b)

    def forward(self, ids, pixels, images, mode):
        bsz, length = ids.shape
        x = F.embedding(ids, self.embed)
        mask = ids == 151655
        x = x.masked_scatter(mask.unsqueeze(-1), self.vision(pixels, images, mode).to(x.dtype))
        d = H // HEADS
        inv = 1.0 / (1e6 ** (torch.arange(0, d, 2, device=self.device, dtype=torch.float32) / d))
        ang = torch.outer(torch.arange(length, device=self.device, dtype=torch.float32), inv)
        ang = torch.cat((ang, ang), dim=-1)
        cos, sin = ang.cos().to(self.dtype), ang.sin().to(self.dtype)
        for lay in self.layers:
            y = rms_norm(x, lay["in_norm"])
            q = F.linear(y, lay["q"], lay["qb"]).view(bsz, length, HEADS, d).transpose(1, 2)
            k = F.linear(y, lay["k"], lay["kb"]).view(bsz, length, KV, d).transpose(1, 2)
            v = F.linear(y, lay["v"], lay["vb"]).view(bsz, length, KV, d).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            k, v = k.repeat_interleave(HEADS // KV, 1), v.repeat_interleave(HEADS // KV, 1)
            o = attention(q, k, v, mode, causal=True).transpose(1, 2).reshape(bsz, length, H)
            x = x + F.linear(o, lay["o"])
            y = rms_norm(x, lay["post"])
            x = x + F.linear(F.silu(F.linear(y, lay["gate"])) * F.linear(y, lay["up"]), lay["down"])
        hidden = rms_norm(x, self.norm)[:, -1].float()
        w0, b0, w1, b1, w2, b2 = self.head
        return F.linear(F.relu(F.linear(F.relu(F.linear(hidden, w0, b0)), w1, b1)), w2, b2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--modes", default="eager,sdpa")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    device, dtype = torch.device(a.device), torch.bfloat16
    text, grid = 64, 32
    image_tokens = grid * grid // 4
    length = text + image_tokens + 3
    ids = torch.full((a.batch, length), 1000, dtype=torch.long)
    half = text // 2
    ids[:, half] = 151652
    ids[:, half + 1:half + 1 + image_tokens] = 151655
    ids[:, half + 1 + image_tokens] = 151653
    ids[:, -1] = 151657
    ids = ids.to(device)
    pixels = torch.randn(a.batch * grid * grid, PATCH_IN, generator=torch.Generator().manual_seed(2)).to(device)
    model = Model(device, dtype)
    with torch.inference_mode():
        for mode in a.modes.split(","):
            for _ in range(2):
                model.forward(ids, pixels, a.batch, mode)
            torch.cuda.synchronize() if device.type == "cuda" else None
            times = []
            for _ in range(a.iterations):
                t = time.perf_counter()
                out = model.forward(ids, pixels, a.batch, mode)
                torch.cuda.synchronize() if device.type == "cuda" else None
                times.append((time.perf_counter() - t) * 1000)
                assert torch.isfinite(out).all(), "non-finite output"
            mean = sum(times) / len(times)
            r = {"name": f"pytorch {torch.__version__} 7B bf16 {a.device} {mode}", "batch": a.batch, "tokens": length,
                 "patches": grid * grid, "mean_ms": round(mean, 3), "min_ms": round(min(times), 3),
                 "iterations": a.iterations, "images_per_s": round(a.batch * 1000 / mean, 3)}
            print(json.dumps(r), flush=True)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
