#!/usr/bin/env python3
"""Overlap gain of make_async_reward_fn over make_reward_fn against a live `hps serve`.

A training loop alternates "generate a batch" and "score it". Generation is simulated with a sleep (this machine has
no diffusion model; a sleep occupies no CPU, as GPU sampling would not occupy the reward server's CPU). By default
the sleep equals the measured time to score one batch (the balanced case, where overlap helps most).

    python3 clients/python/bench_overlap.py --url http://127.0.0.1:8080 [--batches 6] [--batch-size 8] [--gen-seconds S]
"""
import argparse
import os
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hps_client import make_async_reward_fn, make_reward_fn  # noqa: E402


def png(size, seed):
    rows = b"".join(b"\x00" + b"".join(bytes(((seed + x * 7 + y * 13) % 256, (seed * 3 + x) % 256, (seed + y) % 256)) for x in range(size))
                    for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--gen-seconds", type=float, default=None)
    a = ap.parse_args()
    batches = [[png(a.size, b * 31 + i) for i in range(a.batch_size)] for b in range(a.batches)]
    prompts = ["prompt %d" % (i % 2) for i in range(a.batch_size)]
    sync = make_reward_fn(a.url, normalize="group")
    sync(batches[0], prompts, None)  # warm-up
    t0 = time.perf_counter()
    sync(batches[0], prompts, None)
    score_s = time.perf_counter() - t0
    gen = score_s if a.gen_seconds is None else a.gen_seconds

    # Synchronous loop: generate, then wait for the rewards, then generate the next batch.
    t0 = time.perf_counter()
    sync_scores = []
    for b in batches:
        time.sleep(gen)
        sync_scores.append(sync(b, prompts, None)[0])
    t_sync = time.perf_counter() - t0

    # Asynchronous loop: submit the batch, generate the next one while it is scored, collect before the update.
    submit = make_async_reward_fn(a.url, normalize="group", max_in_flight=1)
    t0 = time.perf_counter()
    async_scores, pending = [], None
    for b in batches:
        time.sleep(gen)
        if pending is not None:
            async_scores.append(pending.result()[0])
        pending = submit(b, prompts, None)
    async_scores.append(pending.result()[0])
    t_async = time.perf_counter() - t0
    submit.shutdown()
    assert async_scores == sync_scores, "async rewards differ from sync rewards"
    print("batches %d x %d images, one batch scored in %.2f s, generation simulated as %.2f s" % (a.batches, a.batch_size, score_s, gen))
    print("| loop | wall s | batches/s | speed-up |")
    print("|---|---|---|---|")
    print("| make_reward_fn (sync) | %.2f | %.3f | 1.00 |" % (t_sync, a.batches / t_sync))
    print("| make_async_reward_fn | %.2f | %.3f | %.2f |" % (t_async, a.batches / t_async, t_sync / t_async))


if __name__ == "__main__":
    main()
