#!/usr/bin/env python3
"""Cluster scaling benchmark: throughput of 1, 2, 3 local workers against one `hps score` process.

Starts redis-server on a free loopback port and worker processes of the built hps program (each `--threads 1`),
submits one manifest per configuration with `hps score --cluster`, and prints wall times, items/s, the ratio to one
`hps score` process on the same manifest (one thread, and all threads), the per-item overhead of going through the
cluster, and each worker's resident memory. Startup is taken out by subtracting a run of a small manifest from a
run of the full one (model load for `hps score`, connecting for the client).

    python3 benchmarks/cluster/bench.py --model DIR [--items 64] [--workers 1,2,3]
"""
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifest(path, n, images):
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"prompt": f"a photo number {i % 7}", "image": images[i % len(images)]}) + "\n")


def timed(cmd, env=None):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return time.perf_counter() - t


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) / 1024
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--small", type=int, default=4)
    ap.add_argument("--workers", default="1,2,3")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lease-size", type=int, default=0, help="items per lease (default: the batch size)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--hps", default=os.path.join(ROOT, "src/HpsSharp.Cli/bin/Release/net10.0/hps.dll"))
    a = ap.parse_args()
    assets = os.environ.get("HPS_ASSETS", os.path.join(ROOT, "..", "shared", "assets"))
    images = [os.path.abspath(os.path.join(assets, "images", n)) for n in ["astronaut.png", "chelsea.png", "coffee.png", "coins.png", "camera.png", "rocket.jpg"]]
    tmp = tempfile.mkdtemp(prefix="hps-cluster-bench-")
    big, small = os.path.join(tmp, "big.jsonl"), os.path.join(tmp, "small.jsonl")
    manifest(big, a.items, images)
    manifest(small, a.small, images)
    hps = ["dotnet", a.hps]
    one = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    print(f"machine: {os.cpu_count()} cpu, load average {os.getloadavg()[0]:.1f}; items {a.items} (startup from {a.small}); batch {a.batch_size}")

    base = {}
    for label, env in ([] if a.skip_baseline else [("1 thread", one), ("all threads", None)]):
        tb = timed(hps + ["score", "--model", a.model, "--manifest", big, "--json", "--batch-size", str(a.batch_size)], env)
        ts = timed(hps + ["score", "--model", a.model, "--manifest", small, "--json", "--batch-size", str(a.batch_size)], env)
        steady = (a.items - a.small) / max(tb - ts, 1e-9)
        base[label] = steady
        print(f"hps score ({label}): {tb:.1f} s wall for {a.items}, {ts:.1f} s for {a.small}: {steady:.2f} items/s steady")

    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    cluster = f"redis://127.0.0.1:{port}"
    workers = []
    try:
        time.sleep(0.5)
        rows = []
        for n in [int(x) for x in a.workers.split(",")]:
            while len(workers) < n:
                name = f"w{len(workers) + 1}"
                log = open(os.path.join(tmp, name + ".log"), "w")
                workers.append(subprocess.Popen(hps + ["cluster", "worker", "--model", a.model, "--cluster", cluster, "--name", name,
                                                       "--silo-port", "0", "--gateway-port", "0", "--threads", "1",
                                                       "--batch-size", str(a.batch_size), "--lease-size", str(a.lease_size or a.batch_size)], stdout=log, stderr=log))
            deadline = time.time() + 180
            while True:
                st = subprocess.run(hps + ["cluster", "status", "--cluster", cluster, "--json"], capture_output=True, text=True)
                if st.returncode == 0 and len(json.loads(st.stdout)["workers"]) >= n:
                    break
                if time.time() > deadline:
                    sys.exit("workers did not register:\n" + st.stderr)
                time.sleep(1)
            tb = timed(hps + ["score", "--cluster", cluster, "--manifest", big, "--out", os.path.join(tmp, f"out{n}.jsonl"), "--job", f"big{n}"])
            ts = timed(hps + ["score", "--cluster", cluster, "--manifest", small, "--out", os.path.join(tmp, f"small{n}.jsonl"), "--job", f"small{n}"])
            steady = (a.items - a.small) / max(tb - ts, 1e-9)
            mem = [rss(w.pid) for w in workers]
            rows.append((n, tb, ts, steady, mem))
            ratio = f"ratio {steady / base['1 thread']:.2f} to hps score 1 thread, {steady / base['all threads']:.2f} to all threads; " if base else ""
            print(f"{n} worker(s): {tb:.1f} s wall for {a.items}, {ts:.1f} s for {a.small}: {steady:.2f} items/s steady; " + ratio +
                  f"worker RSS MB now/peak: " + ", ".join(f"{m['VmRSS']:.0f}/{m['VmHWM']:.0f}" for m in mem))
        c1 = rows[0][3]
        if base:
            print(f"per-item overhead of the cluster (1 worker vs hps score, 1 thread each): {(1 / c1 - 1 / base['1 thread']) * 1000:.1f} ms")
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                w.kill()
        redis.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
