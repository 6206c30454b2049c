# Python replica of HpsSharp's text-conditioned learning test (TextConditionedLearningTests), used to separate why the
# first recipe stalled: many recipes side by side on one GPU (findings: src/HpsSharp.Training/README.md).
# Model: transformers Qwen2VLForConditionalGeneration on the tiny fixture + the rm_head MLP at <|Reward|> (after the
# final norm), the same synthetic bright/dark task, AdamW with per-group rates, global clipping, only the <|Reward|>
# embedding row updated. Needs torch, transformers (tested with 5.17), safetensors, numpy.
# Usage: MODEL=../shared/fixtures/hpsv3-tiny TOKENIZER=../shared/assets/qwen2-vl-tokenizer OUT=results \
#        python3 tools/textlearn/sweep.py all      (or: smoke, or a JSON file holding a list of configs)
import json, math, os, re, ast, sys, time, traceback, multiprocessing as mp
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.environ.get("MODEL", os.path.join(REPO, "..", "shared", "fixtures", "hpsv3-tiny"))
TOKENIZER = os.environ.get("TOKENIZER", os.path.join(REPO, "..", "shared", "assets", "qwen2-vl-tokenizer"))
OUT = os.environ.get("OUT", ".")
REWARD = 151657
IMAGE_PAD = 151655
HEAD = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
TAIL = "\nPlease provide the overall ratings of this image: <|Reward|>\n\nEND\n<|im_end|>\n<|im_start|>assistant\n"


def _instruction():
    # HPSv3's INSTRUCTION, read from the C# constant so that both sides use the same bytes.
    src = open(os.path.join(REPO, "src", "HpsSharp.Core", "Text", "Hpsv3Prompt.cs"), encoding="utf-8").read()
    body = re.search(r"public const string Instruction =(.*?);\n", src, re.S).group(1)
    return "".join(ast.literal_eval('"' + lit + '"') for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', body))


INSTR = _instruction()
SHORT = "\nTextual prompt - {text_prompt}\n\n\n"
TRAIN_PH = ["a {0} scene", "a photo of a {0} room", "the picture is {0}", "show me a {0} forest", "an image that is {0}",
            "a {0} picture of a house", "{0} light everywhere", "a street that looks {0}"]
HELD_PH = ["please make it {0}", "the whole view should be {0}", "a {0} view of the sea", "i would like something {0}"]
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def shade(rng, size, lo, hi):
    span = hi - lo
    tint = rng.integers(0, span // 3, size=3)
    px = lo + tint[None, None, :] + rng.integers(0, span - span // 3, size=(size, size, 3))
    return np.clip(px, lo, hi).astype(np.uint8)


def patches(img):
    # Qwen2-VL processor for an image already at its smart-resized size (multiple of 28): rescale, normalise, 2 frames.
    x = (img.astype(np.float32) / 255.0 - MEAN) / STD  # H W C
    x = x.transpose(2, 0, 1)[None].repeat(2, axis=0)  # T C H W
    T, C, H, W = x.shape
    p, m, tp = 14, 2, 2
    gh, gw = H // p, W // p
    x = x.reshape(1, tp, C, gh // m, m, p, gw // m, m, p).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gh * gw, C * tp * p * p), (1, gh, gw)


def make_task(tok, name, n, seed, phr, with_word, size, instr):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        b, d = shade(rng, size, 150, 255), shade(rng, size, 0, 105)
        for word, pref, oth in (("bright", b, d), ("dark", d, b)):
            t = phr[rng.integers(len(phr))]
            items.append((t.format(word if with_word else "plain"), pref, oth, i))
    enc = []
    for prompt, pref, oth, i in items:
        sides = []
        for img in (pref, oth):
            pv, grid = patches(img)
            ntok = grid[1] * grid[2] // 4
            text = HEAD + instr.replace("{text_prompt}", prompt) + TAIL
            ids = tok(text, add_special_tokens=False)["input_ids"]
            k = ids.index(IMAGE_PAD)
            ids = ids[:k] + [IMAGE_PAD] * ntok + ids[k + 1:]
            r = ids.index(REWARD)
            sides.append((ids[: r + 1], pv, grid))
        enc.append((prompt, sides, i))
    return enc


def collate(torch, dev, batch):
    seqs = [s for _, sides, _ in batch for s in (sides[0],)] + [s for _, sides, _ in batch for s in (sides[1],)]
    L = max(len(s[0]) for s in seqs)
    ids = torch.full((len(seqs), L), 151643, dtype=torch.long)
    mask = torch.zeros((len(seqs), L), dtype=torch.long)
    pos = torch.zeros(len(seqs), dtype=torch.long)
    for j, (s, _, _) in enumerate(seqs):
        ids[j, : len(s)] = torch.tensor(s)
        mask[j, : len(s)] = 1
        pos[j] = len(s) - 1
    pv = torch.from_numpy(np.concatenate([s[1] for s in seqs]))
    grid = torch.tensor([s[2] for s in seqs])
    return ids.to(dev), mask.to(dev), pv.to(dev), grid.to(dev), pos.to(dev)


def run(cfg):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2VLForConditionalGeneration
    torch.set_num_threads(1)
    name = cfg["name"]
    dev = cfg.get("device", "cuda")
    seed = cfg.get("seed", 3)
    torch.manual_seed(seed)
    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(TOKENIZER)
    if len(tok) != REWARD:
        raise RuntimeError(f"tokenizer length {len(tok)}")
    tok.add_special_tokens({"additional_special_tokens": ["<|Reward|>"]})
    assert tok.convert_tokens_to_ids("<|Reward|>") == REWARD
    instr = SHORT if cfg.get("short") else INSTR
    size = cfg.get("size", 56)
    train = make_task(tok, "train", cfg.get("ntrain", 48), 21, TRAIN_PH, cfg.get("word", True), size, instr)
    evald = make_task(tok, "eval", 16, 22, HELD_PH, True, size, instr)
    model = Qwen2VLForConditionalGeneration.from_pretrained(MODEL, torch_dtype=torch.float32, attn_implementation="sdpa")
    model.lm_head = torch.nn.Identity()
    sd = load_file(os.path.join(MODEL, "model.safetensors"))
    drop = cfg.get("drop", 0.05)
    head = torch.nn.Sequential(torch.nn.Linear(32, 1024), torch.nn.ReLU(), torch.nn.Dropout(drop), torch.nn.Linear(1024, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    head.load_state_dict({k[len("rm_head."):]: v.float() for k, v in sd.items() if k.startswith("rm_head.")})
    # check that the loaded backbone equals the file
    msd = model.state_dict()
    emb_key = [k for k in msd if k.endswith("embed_tokens.weight")][0]
    assert torch.equal(msd[emb_key], sd["model.embed_tokens.weight"].float()), "embedding mismatch"
    model.to(dev); head.to(dev)
    bf16 = cfg.get("dtype") == "bf16"
    emb = model.get_input_embeddings().weight
    groups = {"decoder": [], "vision": [], "merger": [], "emb": [emb]}
    for n, p in model.named_parameters():
        if p is emb or "lm_head" in n:
            continue
        if "merger" in n:
            groups["merger"].append(p)
        elif "visual" in n:
            groups["vision"].append(p)
        else:
            groups["decoder"].append(p)
    lr = cfg["lr"]
    glr = {"decoder": lr, "vision": cfg.get("vision_lr", lr), "merger": cfg.get("merger_lr", lr), "emb": cfg.get("tok_lr", lr), "head": cfg.get("head_lr", lr)}
    if cfg.get("freeze_vision"):
        glr["vision"] = 0.0
    model_params = [p for g in ("decoder", "vision", "merger", "emb") for p in groups[g]]
    if bf16:
        masters = {p: p.detach().clone().float() for p in model_params}
        model.to(torch.bfloat16)
        model_params2 = [p for g in ("decoder", "vision", "merger", "emb") for p in groups[g]]
    pg = [{"params": groups[g], "lr": glr[g], "base": glr[g]} for g in ("decoder", "vision", "merger", "emb")]
    pg.append({"params": list(head.parameters()), "lr": glr["head"], "base": glr["head"]})
    if bf16:
        mlist = [masters[p] for p in model_params]
        for m in mlist:
            m.requires_grad_(True)
        k = 0
        pg2 = []
        for g in pg[:-1]:
            n = len(g["params"])
            pg2.append({"params": mlist[k:k + n], "lr": g["lr"], "base": g["base"]})
            k += n
        pg2.append(pg[-1])
        pg = pg2
    opt = torch.optim.AdamW(pg, lr=lr, betas=(0.9, 0.999), eps=cfg.get("eps", 1e-8), weight_decay=0.0)
    keep_rows = [REWARD]
    if cfg.get("train_word_rows"):
        keep_rows += [tok(" bright", add_special_tokens=False)["input_ids"][0], tok(" dark", add_special_tokens=False)["input_ids"][0]]
    rowmask = torch.zeros(emb.shape[0], 1, device=dev)
    rowmask[keep_rows] = 1
    gh, gw = np.polynomial.hermite.hermgauss(64)
    ghx = torch.tensor(gh, device=dev, dtype=torch.float32)
    ghw = torch.tensor(gw, device=dev, dtype=torch.float32) / math.sqrt(math.pi)
    loss_kind = cfg.get("loss", "uncertainty")

    import transformers
    takes_mm = int(transformers.__version__.split(".")[0]) >= 5

    def score(ids, mask, pv, grid, pos):
        kw = {"mm_token_type_ids": (ids == IMAGE_PAD).int()} if takes_mm else {}
        out = model(input_ids=ids, attention_mask=mask, pixel_values=pv.to(torch.bfloat16 if bf16 else torch.float32), image_grid_thw=grid, use_cache=False, **kw)
        h = out.logits  # lm_head is the identity: the post-norm last hidden state
        h = h[torch.arange(h.shape[0], device=dev), pos].float()
        return head(h)

    def evaluate(data):
        model.eval(); head.eval()
        correct = 0; mus = []
        with torch.no_grad():
            for s in range(0, len(data), 8):
                b = data[s: s + 8]
                o = score(*collate(torch, dev, b))
                n = len(b)
                mu = o[:, 0]
                correct += int((mu[:n] > mu[n:]).sum())
                mus.extend(zip((x[0] for x in b), mu[:n].tolist(), mu[n:].tolist()))
        model.train(); head.train()
        return correct / len(data)

    steps = cfg.get("steps", 1000)
    bs = cfg.get("batch", 8)
    warm = max(1, int(math.ceil(steps * 0.05)))
    clip = cfg.get("clip", 1.0)
    rng = np.random.default_rng(seed)
    order = []
    curve = [(0, evaluate(evald))]
    losses = []
    budget = cfg.get("budget", 200)
    step = 0
    lines = []
    while step < steps and time.time() - t0 < budget:
        if cfg.get("mirrored"):
            # batches of whole image pairs: both prompts of each image pair in the same batch
            if len(order) < bs:
                byimg = {}
                for j, it in enumerate(train):
                    byimg.setdefault(it[2], []).append(j)
                keys = list(byimg); rng.shuffle(keys)
                order += [j for k in keys for j in byimg[k]]
        elif len(order) < bs:
            order += list(rng.permutation(len(train)))
        b = [train[j] for j in order[:bs]]
        order = order[bs:]
        f = min(1.0, step / warm)
        for g in opt.param_groups:
            g["lr"] = g["base"] * f
        o = score(*collate(torch, dev, b))
        n = len(b)
        mA, mB = o[:n, 0], o[n:, 0]
        d = mA - mB
        if loss_kind == "bt":
            loss = torch.nn.functional.softplus(-d).mean()
        else:
            s = torch.sqrt(torch.exp(2 * o[:n, 1]) + torch.exp(2 * o[n:, 1]))
            z = d[:, None] + math.sqrt(2) * s[:, None] * ghx[None, :]
            loss = (torch.nn.functional.softplus(-z) * ghw[None, :]).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)
        loss.backward()
        if bf16:
            for p in model_params2:
                masters[p].grad = p.grad.float() if p.grad is not None else None
        allp = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
        gn = torch.nn.utils.clip_grad_norm_(allp, clip) if clip > 0 else torch.tensor(0.0)
        target_emb = masters[emb] if bf16 else emb
        target_emb.grad.mul_(rowmask)
        opt.step()
        if bf16:
            with torch.no_grad():
                for p in model_params2:
                    p.copy_(masters[p].to(torch.bfloat16))
        losses.append(float(loss.detach()))
        step += 1
        if step % cfg.get("eval_every", 50) == 0 or step == steps:
            acc = evaluate(evald)
            curve.append((step, acc))
            line = f"{name} step {step} loss {np.mean(losses[-50:]):.4f} heldout {acc:.3f} gnorm {float(gn):.3g} t {time.time() - t0:.0f}"
            print(line, flush=True)
    res = {"name": name, "cfg": cfg, "curve": curve, "steps": step, "time": time.time() - t0, "final_loss": float(np.mean(losses[-50:])) if losses else None}
    return res


def safe(cfg):
    try:
        return run(cfg)
    except Exception:
        return {"name": cfg["name"], "error": traceback.format_exc()}


CONFIGS = [
    dict(name="lr1e-2", lr=1e-2),
    dict(name="lr3e-2", lr=3e-2),
    dict(name="lr3e-3", lr=3e-3),
    dict(name="lr1e-1", lr=1e-1),
    dict(name="lr3e-2_head3e-3", lr=3e-2, head_lr=3e-3),
    dict(name="lr1e-2_eps1e-12", lr=1e-2, eps=1e-12),
    dict(name="lr1e-2_noclip", lr=1e-2, clip=0.0),
    dict(name="lr1e-2_short", lr=1e-2, short=True),
    dict(name="lr1e-2_wordrows", lr=1e-2, train_word_rows=True),
    dict(name="lr1e-2_mirrored", lr=1e-2, mirrored=True),
    dict(name="lr1e-2_bf16", lr=1e-2, dtype="bf16"),
    dict(name="lr1e-2_size112", lr=1e-2, size=112),
    dict(name="lr1e-2_batch32", lr=1e-2, batch=32),
    dict(name="lr1e-2_bt_nodrop", lr=1e-2, loss="bt", drop=0.0),
    dict(name="control_lr1e-2", lr=1e-2, word=False),
    dict(name="lr3e-3_short", lr=3e-3, short=True),
]

if __name__ == "__main__":
    mp.set_start_method("spawn")
    if len(sys.argv) > 1 and sys.argv[1] == "smoke":
        import torch
        r = run(dict(name="smoke", lr=1e-2, steps=4, eval_every=2, device="cuda" if torch.cuda.is_available() else "cpu"))
        print(json.dumps(r)[:2000])
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] != "all":
        sel = json.loads(open(sys.argv[1]).read())
    else:
        sel = CONFIGS
    budget = float(os.environ.get("BUDGET", "200"))
    for c in sel:
        c.setdefault("budget", budget)
    # quick serial smoke of the first config so a bug shows at once
    t = time.time()
    sm = safe(dict(sel[0], name="smoke", steps=2, eval_every=1))
    print("SMOKE", json.dumps(sm)[:3000], f"{time.time() - t:.0f}s", flush=True)
    if "error" in sm:
        sys.exit(1)
    with mp.Pool(min(len(sel), int(os.environ.get("PROCS", "16")))) as pool:
        results = []
        for r in pool.imap_unordered(safe, sel):
            results.append(r)
            print("RESULT", json.dumps(r), flush=True)
            with open(os.path.join(OUT, "results.json"), "w") as f:
                json.dump(results, f)
