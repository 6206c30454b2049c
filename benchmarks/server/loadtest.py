#!/usr/bin/env python3
"""Load test of a running `hps serve` (127.0.0.1 only). Standard library only.

N client threads each send M requests of K (prompt, image) items drawn (seeded) from a JSONL manifest, then the
script reports throughput, latency p50/p99, the batch-size distribution (from /metrics), and checks that every
request got exactly one answer with one result per item whose mu equals the reference score of that (image, prompt).

The reference is `hps score --json` output for the same manifest (--reference FILE), or is produced here by
--offline "CMD" (e.g. "dotnet src/HpsSharp.Cli/bin/Release/net10.0/hps.dll score --model DIR --batch-size 8"),
which is also timed to give offline throughput: the marginal rate between a one-item run and the full run, so
process start and model load cancel out (noisy on a busy machine; HpsSharp.ServerBench measures in one process).

Bounded: at most --clients x --requests requests, and the run stops sending after --duration seconds.
"""

import argparse
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from hps_client import HpsClient, HpsError, _encode as encode_image  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def read_manifest(path):
    base = os.path.dirname(os.path.abspath(path))
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            d = json.loads(line)
            img = d["image"] if os.path.isabs(d["image"]) else os.path.join(base, d["image"])
            items.append((d["prompt"], os.path.normpath(img)))
    if not items:
        raise SystemExit("manifest %s has no items" % path)
    return items


def run_offline(cmd, items):
    """Runs `CMD --manifest FILE --json` on one item and on all items; the marginal rate (extra items / extra seconds)
    leaves out process start and model load. (Progress lines cannot be used for timing: the scorer preprocesses a
    whole window of items before its first batch.) Noisy on a busy machine: HpsSharp.ServerBench measures the same
    ratio in one process. Returns (reference document, rate, detail)."""

    def once(subset):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
            for prompt, img in subset:
                f.write(json.dumps({"prompt": prompt, "image": img}) + "\n")
            name = f.name
        try:
            t0 = time.perf_counter()
            out = subprocess.run(shlex.split(cmd) + ["--manifest", name, "--json"], capture_output=True, text=True, timeout=3600)
            dt = time.perf_counter() - t0
        finally:
            os.unlink(name)
        if out.returncode != 0:
            raise SystemExit("offline command failed (%d): %s" % (out.returncode, out.stderr[-2000:]))
        return json.loads(out.stdout), dt

    _, t_one = once(items[:1])
    doc, t_all = once(items)
    rate = (len(items) - 1) / max(t_all - t_one, 1e-9)
    return doc, rate, {"items": len(items), "one_item_seconds": t_one, "all_items_seconds": t_all}


def reference_map(doc):
    ref = {}
    for r in doc["results"]:
        if "mu" in r:
            ref[(r["prompt"], os.path.normpath(os.path.abspath(r["image"])))] = r["mu"]
    return ref


def batch_histogram(metrics_text):
    """Cumulative hps_batch_size buckets {le: count} (le as float)."""
    out = {}
    for line in metrics_text.splitlines():
        if line.startswith('hps_batch_size_bucket{le="'):
            le = line.split('"')[1]
            out[float("inf") if le == "+Inf" else float(le)] = int(float(line.rsplit(" ", 1)[1]))
    return out


def metric_value(metrics_text, name):
    """An unlabelled series' value; the exporter writes it as `name{} value` (older servers: `name value`)."""
    for line in metrics_text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def distribution(before, after):
    """Batches per bucket between two scrapes: {upper bound: count}."""
    dist, prev = {}, 0
    for le in sorted(after):
        cum = after[le] - before.get(le, 0)
        if cum - prev:
            dist[le] = cum - prev
        prev = cum
    return dist


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--api-key", default=os.environ.get("HPS_API_KEY"))
    ap.add_argument("--manifest", required=True, help="JSONL lines {\"prompt\", \"image\"} (paths relative to the file)")
    ap.add_argument("--reference", help="`hps score --json` output for the manifest")
    ap.add_argument("--offline", help="command that runs `hps score` (without --manifest/--json): timed, and gives the reference")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=10, help="requests per client")
    ap.add_argument("--items", type=int, default=4, help="items per request")
    ap.add_argument("--duration", type=float, default=300.0, help="stop sending new requests after this many seconds")
    ap.add_argument("--atol", type=float, default=1e-3, help="largest |mu_service - mu_reference| accepted")
    ap.add_argument("--mode", choices=("json", "multipart", "path"), default="json",
                    help="how images travel: base64 JSON, multipart raw bytes, or paths under the service's --image-root")
    ap.add_argument("--image-root", help="with --mode path: the folder the service was started with (--image-root)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write the summary JSON here")
    args = ap.parse_args()

    host = urlsplit(args.url).hostname
    if host not in LOOPBACK:
        raise SystemExit("refusing to load-test %s: only 127.0.0.1 / localhost / ::1" % args.url)
    for name in ("clients", "requests", "items"):
        if not 1 <= getattr(args, name) <= 10000:
            raise SystemExit("--%s must be between 1 and 10000" % name)

    items = read_manifest(args.manifest)
    offline = None
    if args.offline:
        doc, rate, detail = run_offline(args.offline, items)
        offline = dict(detail, items_per_second=rate)
        ref = reference_map(doc)
    elif args.reference:
        with open(args.reference, encoding="utf-8") as f:
            ref = reference_map(json.load(f))
    else:
        ref = None

    # Prepare each image once: the test measures the service, not the client's encoding.
    if args.mode == "path":
        if not args.image_root:
            raise SystemExit("--mode path needs --image-root (the folder the service was started with)")
        root = os.path.abspath(args.image_root)
        encoded = {img: {"path": os.path.relpath(img, root)} for _, img in items}
    elif args.mode == "multipart":
        encoded = {}
        for _, img in items:
            with open(img, "rb") as f:
                encoded[img] = f.read()
    else:
        encoded = {img: encode_image(img) for _, img in items}

    def multipart_body(picks):
        boundary = "hpsloadtest%016x" % random.getrandbits(64)
        parts = []
        for k, i in enumerate(picks):
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"prompt[%d]\"\r\n\r\n" % (boundary, k)).encode()
                         + items[i][0].encode("utf-8") + b"\r\n")
            parts.append(("--%s\r\nContent-Disposition: form-data; name=\"image[%d]\"; filename=\"i%d\"\r\n"
                          "Content-Type: application/octet-stream\r\n\r\n" % (boundary, k, k)).encode()
                         + encoded[items[i][1]] + b"\r\n")
        return b"".join(parts) + ("--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary

    def send(hc, picks, body=None):
        if args.mode != "multipart":
            return hc._post("/v1/score", {"items": [dict(encoded[items[i][1]], prompt=items[i][0]) for i in picks]})
        body, content_type = body or multipart_body(picks)
        status, _, data = hc._request("POST", "/v1/score", body, content_type)
        return hc._json(status, data, "/v1/score")
    rng = random.Random(args.seed)
    plan = [[[rng.randrange(len(items)) for _ in range(args.items)] for _ in range(args.requests)] for _ in range(args.clients)]

    # Multipart bodies are built before the clock starts (as images are read before it), so the timed window holds the
    # service's work and the sending, not the client assembling megabytes of parts on the same cores; when they would
    # take more than 512 MiB they are built per request instead.
    bodies = None
    if args.mode == "multipart":
        size = sum(len(encoded[items[i][1]]) for c in plan for r in c for i in r)
        if size <= 512 << 20:
            bodies = [[multipart_body(picks) for picks in c] for c in plan]

    probe = HpsClient(args.url, api_key=args.api_key, retries=0)
    probe.wait_ready(timeout=600)
    before_text = probe.metrics()
    before = batch_histogram(before_text)

    latencies, answers, failures, lock = [], {}, [], threading.Lock()
    deadline = time.monotonic() + args.duration

    def client(cid):
        hc = HpsClient(args.url, api_key=args.api_key, retries=20)
        for rid, picks in enumerate(plan[cid]):
            if time.monotonic() > deadline:
                break
            t0 = time.perf_counter()
            try:
                doc = send(hc, picks, bodies[cid][rid] if bodies else None)
            except HpsError as e:
                with lock:
                    failures.append("client %d request %d: %s" % (cid, rid, e))
                continue
            dt = time.perf_counter() - t0
            with lock:
                latencies.append(dt)
                if (cid, rid) in answers:
                    failures.append("client %d request %d answered twice" % (cid, rid))
                answers[(cid, rid)] = doc["results"]
        hc.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    t_start, cpu_start = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    client_cpu = time.process_time() - cpu_start
    after_text = probe.metrics()
    after = batch_histogram(after_text)
    busy = metric_value(after_text, "hps_batch_duration_seconds_sum") - metric_value(before_text, "hps_batch_duration_seconds_sum")

    # Every request sent got one answer, with one result per item, each the right score for its (prompt, image).
    sent = sum(1 for c in range(args.clients) for r in range(args.requests) if (c, r) in answers)
    scored, worst, mismatches = 0, 0.0, 0
    for (cid, rid), results in answers.items():
        picks = plan[cid][rid]
        if len(results) != len(picks):
            failures.append("client %d request %d: %d results for %d items" % (cid, rid, len(results), len(picks)))
            continue
        for i, r in zip(picks, results):
            if "mu" not in r:
                failures.append("client %d request %d: item failed: %s" % (cid, rid, r.get("error")))
                continue
            scored += 1
            if ref is not None:
                key = (items[i][0], items[i][1])
                if key not in ref:
                    failures.append("no reference score for %s" % (key,))
                    continue
                d = abs(r["mu"] - ref[key])
                worst = max(worst, d)
                if d > args.atol:
                    mismatches += 1
    if mismatches:
        failures.append("%d items differ from the reference by more than %g (worst %g)" % (mismatches, args.atol, worst))

    dist = distribution(before, after)
    summary = {
        "url": args.url, "mode": args.mode,
        "clients": args.clients, "requests_per_client": args.requests, "items_per_request": args.items,
        "requests_answered": sent, "items_scored": scored, "wall_seconds": wall,
        "items_per_second": scored / wall if wall > 0 else 0.0,
        "requests_per_second": sent / wall if wall > 0 else 0.0,
        "latency_p50_ms": 1000 * pct(latencies, 50) if latencies else None,
        "latency_p99_ms": 1000 * pct(latencies, 99) if latencies else None,
        "latency_mean_ms": 1000 * statistics.mean(latencies) if latencies else None,
        "batch_size_distribution": {("%g" % k): v for k, v in dist.items()},
        "scorer_seconds": busy, "worker_busy_fraction": busy / wall if wall > 0 else None,
        "client_cpu_seconds": client_cpu, "bodies_prebuilt": bodies is not None,
        "reference_checked": ref is not None, "max_abs_mu_diff": worst if ref is not None else None,
        "offline": offline,
        "ratio_service_to_offline": (scored / wall) / offline["items_per_second"] if offline else None,
        "failures": failures[:50], "failure_count": len(failures),
    }
    print("requests answered  %d (%d clients x %d, %d items each)" % (sent, args.clients, args.requests, args.items))
    print("throughput         %.2f items/s, %.2f requests/s over %.2f s" % (summary["items_per_second"], summary["requests_per_second"], wall))
    if latencies:
        print("latency            p50 %.1f ms, p99 %.1f ms" % (summary["latency_p50_ms"], summary["latency_p99_ms"]))
    print("batch sizes        " + ", ".join("%s: %d" % (k, v) for k, v in summary["batch_size_distribution"].items()))
    print("worker busy        %.1f%% of the wall time inside the scorer (%.2f s)" % (100 * busy / wall if wall > 0 else 0, busy))
    print("client CPU         %.2f s (%.1f ms per item)" % (client_cpu, 1000 * client_cpu / scored if scored else 0))
    if offline:
        print("offline hps score  %.2f items/s (marginal: %d items %.1f s, 1 item %.1f s)" % (
            offline["items_per_second"], offline["items"], offline["all_items_seconds"], offline["one_item_seconds"]))
        print("service / offline  %.3f" % summary["ratio_service_to_offline"])
    if ref is not None:
        print("max |mu diff|      %.3g vs reference" % worst)
    print("failures           %d" % len(failures))
    for f in failures[:10]:
        print("  " + f)
    if args.out:
        tmp = args.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
        os.replace(tmp, args.out)
    return 1 if failures or sent == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
