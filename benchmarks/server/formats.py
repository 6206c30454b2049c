#!/usr/bin/env python3
"""Throughput of each trainer wire format against /v1/score JSON, in the same run, on the same pictures.

Each format carries the pictures the way its client does: /v1/score JSON and UniRL /score as base64 JPEG, the
flow_grpo family's POST / as a pickled dict of JPEG bytes, cosmos-rl's enqueue as a JSON line + NPY uint8 pixels
(then pulled until ready). JPEGs and raw pixels are made with ffmpeg from testsrc frames. Standard library only.

    python3 benchmarks/server/formats.py --url http://127.0.0.1:8080 [--size 512] [--items 8] [--requests 6] [--clients 2] [--rounds 2]
"""
import argparse
import base64
import http.client
import json
import pickle
import statistics
import subprocess
import threading
import time
import uuid
from urllib.parse import urlencode, urlsplit


def frames(n, size):
    jpegs, raws = [], []
    for i in range(n):
        src = "testsrc=size=%dx%d:rate=25" % (size, size)
        cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", src, "-vf", "select=eq(n\\,%d)" % (i * 7), "-frames:v", "1"]
        jpegs.append(subprocess.run(cmd + ["-q:v", "3", "-f", "mjpeg", "-"], check=True, capture_output=True).stdout)
        raws.append(subprocess.run(cmd + ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout)
    return jpegs, raws


def npy(raws, size):
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (%d, %d, %d, 3), }" % (len(raws), size, size)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode("latin1") + b"".join(raws)


class Conn:
    def __init__(self, url):
        p = urlsplit(url)
        self.c = http.client.HTTPConnection(p.hostname, p.port, timeout=600)

    def post(self, path, body, ctype):
        self.c.request("POST", path, body=body, headers={"Content-Type": ctype})
        r = self.c.getresponse()
        return r.status, r.read()


def run_format(url, name, jpegs, raws, size, prompts, requests, clients):
    """Returns items/s over `clients` threads each sending `requests` requests of len(jpegs) items."""
    n = len(jpegs)
    errors = []

    def build():
        if name == "v1_json":
            return "/v1/score", json.dumps({"items": [{"prompt": p, "image": base64.b64encode(j).decode()} for p, j in zip(prompts, jpegs)]}).encode(), "application/json"
        if name == "flowgrpo_pickle":
            return "/", pickle.dumps({"images": jpegs, "prompts": prompts}), "application/octet-stream"
        if name == "unirl":
            reqs = [{"history": [{"text": p, "image_b64": base64.b64encode(j).decode()}], "required_rewards": ["hpsv3"]} for p, j in zip(prompts, jpegs)]
            return "/score", json.dumps({"requests": reqs}).encode(), "application/json"
        header = {"media_type": "image", "prompts": prompts, "reward_fn": {"hpsv3": 1.0}}
        return "/api/reward/enqueue", json.dumps(header).encode() + b"\n" + npy(raws, size), "application/octet-stream"

    def check(status, data):
        if status != 200:
            errors.append("%s %d %s" % (name, status, data[:200]))
            return
        if name == "v1_json":
            ok = all("mu" in r for r in json.loads(data)["results"])
        elif name == "flowgrpo_pickle":
            ok = len(pickle.loads(data)["outputs"]) == n
        elif name == "unirl":
            ok = all("hpsv3" in r for r in json.loads(data)["results"])
        else:
            ok = True
        if not ok:
            errors.append("%s: incomplete answer" % name)

    def worker():
        c = Conn(url)
        for _ in range(requests):
            path, body, ctype = build()  # encoding is part of the client's cost, as in the trainers
            status, data = c.post(path, body, ctype)
            if name == "cosmos" and status == 200:
                uid = json.loads(data)["uuid"]
                while True:
                    s, d = c.post("/api/reward/pull", urlencode({"uuid": uid, "type": "hpsv3"}).encode(), "application/x-www-form-urlencoded")
                    if s == 200:
                        status, data = s, d
                        if len(json.loads(d)["scores"]["hpsv3"]) != n:
                            errors.append("cosmos: incomplete answer")
                        break
                    time.sleep(0.02)
            check(status, data)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise SystemExit("errors: %s" % errors[:3])
    return clients * requests * n / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--requests", type=int, default=6)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    jpegs, raws = frames(a.items, a.size)
    prompts = ["a test pattern, frame %d" % i for i in range(a.items)]
    names = ["v1_json", "flowgrpo_pickle", "unirl", "cosmos"]
    run_format(a.url, "v1_json", jpegs, raws, a.size, prompts, 1, 1)  # warm-up (JIT, connections)
    rates = {n: [] for n in names}
    for _ in range(a.rounds):
        for n in names:  # interleaved so machine load drifts over every format alike
            rates[n].append(run_format(a.url, n, jpegs, raws, a.size, prompts, a.requests, a.clients))
    base = statistics.median(rates["v1_json"])
    print("| format | items/s per round | median items/s | ratio to /v1/score JSON |")
    print("|---|---|---|---|")
    for n in names:
        med = statistics.median(rates[n])
        print("| %s | %s | %.2f | %.2f |" % (n, ", ".join("%.2f" % r for r in rates[n]), med, med / base))


if __name__ == "__main__":
    main()
