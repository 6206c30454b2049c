"""Tests of hps_client against a live service. HPS_URL names it (the tests skip without it); HPS_API_KEY is its key,
if any; HPS_FAKE_SCORER=1 says the service runs the test fake scorer, whose μ is known (checked exactly)."""

import hashlib
import math
import os
import struct
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import hps_client  # noqa: E402
from hps_client import HpsClient, HpsError, group_z, make_async_reward_fn, make_reward_fn  # noqa: E402

URL = os.environ.get("HPS_URL")
KEY = os.environ.get("HPS_API_KEY")
FAKE = os.environ.get("HPS_FAKE_SCORER") == "1"


def png(width, height, seed):
    """A small RGB PNG made with zlib alone."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(((seed + x * 7 + y * 13) % 256, (seed * 3 + x) % 256, (seed + y) % 256)) for x in range(width))
        for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def fake_mu(prompt, data):
    """The μ of HpsSharp.Testing.FakeScorer: SHA-256 of prompt and image bytes, first 4 bytes as a little-endian
    uint32, scaled to [-5, 5)."""
    h = hashlib.sha256(prompt.encode("utf-8") + bytes(data)).digest()
    return int.from_bytes(h[:4], "little") / 0xFFFFFFFF * 10 - 5


@unittest.skipUnless(URL, "HPS_URL is not set: these tests need a running `hps serve` (the .NET test suite starts one)")
class ClientTests(unittest.TestCase):
    def setUp(self):
        self.client = HpsClient(URL, api_key=KEY, timeout=30, retries=3)
        self.images = [png(6 + i, 5, i * 40) for i in range(5)]

    def tearDown(self):
        self.client.close()

    def test_health_and_ready(self):
        self.assertTrue(self.client.health())
        self.assertTrue(self.client.ready())
        self.client.wait_ready(timeout=5)

    def test_score_bytes_and_paths_in_order(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "img.png")
            with open(path, "wb") as f:
                f.write(self.images[0])
            inputs = [path] + self.images[1:]
            prompts = ["a red fox", "a red fox", "a blue whale", "a blue whale", "an owl"]
            results = self.client.score(inputs, prompts)
        self.assertEqual(len(results), 5)
        for i, r in enumerate(results):
            self.assertNotIn("error", r)
            self.assertAlmostEqual(r["sigma"], math.exp(r["log_sigma"]), places=9)
            if FAKE:
                self.assertAlmostEqual(r["mu"], fake_mu(prompts[i], self.images[i]), places=9)

    def test_one_prompt_for_all_images(self):
        results = self.client.score(self.images[:3], "a lighthouse")
        self.assertEqual(len(results), 3)
        if FAKE:
            self.assertAlmostEqual(results[2]["mu"], fake_mu("a lighthouse", self.images[2]), places=9)

    def test_group_normalisation_matches_local_formula(self):
        prompts = ["cat", "dog", "cat", "cat", "dog"]
        results = self.client.score(self.images, prompts, normalize="group")
        expected = group_z([r["mu"] for r in results], prompts)
        for r, z in zip(results, expected):
            self.assertAlmostEqual(r["group_z"], z, places=9)

    def test_split_requests_give_the_same_answers(self):
        prompts = ["cat", "dog", "cat", "cat", "dog"]
        whole = self.client.score(self.images, prompts, normalize="group")
        small = HpsClient(URL, api_key=KEY, timeout=30, max_items=2, concurrency=2)
        try:
            split = small.score(self.images, prompts, normalize="group")
        finally:
            small.close()
        for a, b in zip(whole, split):
            self.assertAlmostEqual(a["mu"], b["mu"], places=12)
            self.assertAlmostEqual(a["group_z"], b["group_z"], places=9)

    def test_bad_item_is_reported_and_others_scored(self):
        results = self.client.score([self.images[0], b"not an image"], "x")
        self.assertIn("mu", results[0])
        self.assertIn("not a decodable image", results[1]["error"])
        self.assertEqual(results[1]["status"], 400)

    def test_compare_and_rank(self):
        c = self.client.compare("a fox", self.images[0], self.images[1])
        self.assertTrue(0.0 < c["p_a_over_b"] < 1.0)
        self.assertEqual(c["p_a_over_b"] > 0.5, c["a"]["mu"] > c["b"]["mu"])
        r = self.client.rank("a fox", self.images)
        mus = [x["mu"] for x in r["results"]]
        self.assertEqual(r["order"], sorted(range(5), key=lambda i: (-mus[i], i)))

    def test_reward_fn_shape(self):
        fn = make_reward_fn(URL, api_key=KEY)
        scores, info = fn(self.images[:2], ["p", "q"], [{}, {}])
        self.assertEqual(len(scores), 2)
        self.assertEqual(scores, info["mu"])
        self.assertEqual(info["errors"], {})
        gfn = make_reward_fn(URL, api_key=KEY, normalize="group")
        z, _ = gfn(self.images[:3], ["p", "p", "p"], None)
        self.assertAlmostEqual(sum(z), 0.0, places=9)
        with self.assertRaises(HpsError):
            fn([b"junk"], ["p"], None)
        nan_fn = make_reward_fn(URL, api_key=KEY, on_error="nan")
        s, info = nan_fn([b"junk", self.images[0]], ["p", "p"], None)
        self.assertTrue(math.isnan(s[0]))
        self.assertFalse(math.isnan(s[1]))
        self.assertIn(0, info["errors"])

    def test_async_reward_fn_matches_sync_and_snapshots_inputs(self):
        sync = make_reward_fn(URL, api_key=KEY, normalize="group")
        submit = make_async_reward_fn(URL, api_key=KEY, normalize="group", max_in_flight=2)
        try:
            buf = bytearray(self.images[0])
            pending = [submit([bytes(buf), self.images[1], self.images[2]], ["p", "p", "q"], None),
                       submit(self.images[2:5], "r", [{}, {}, {}])]
            buf[:] = b"\0" * len(buf)  # the trainer reuses its buffer: the submitted batch must not change
            first, second = pending[0].result(timeout=60), pending[1].result(timeout=60)
            self.assertEqual(first[0], sync(self.images[:3], ["p", "p", "q"], None)[0])
            self.assertEqual(second[0], sync(self.images[2:5], "r", None)[0])
            with self.assertRaises(HpsError):
                submit([b"junk"], ["p"]).result(timeout=60)
        finally:
            submit.shutdown()

    def test_reward_selection(self):
        r = self.client.score(self.images[:2], "p", reward="mu_minus_k_sigma", k=2)
        for x in r:
            self.assertAlmostEqual(x["reward"], x["mu"] - 2 * x["sigma"], places=9)

    def test_request_errors_raise_with_status(self):
        tiny = HpsClient(URL, api_key=KEY, max_items=10_000)
        try:
            with self.assertRaises(HpsError) as ctx:
                tiny.score([self.images[0]] * 5000, "x")
            self.assertEqual(ctx.exception.status, 413)
        finally:
            tiny.close()

    @unittest.skipUnless(KEY, "the service has no API key")
    def test_missing_api_key_is_401(self):
        anonymous = HpsClient(URL, api_key="")
        anonymous.api_key = None
        with self.assertRaises(HpsError) as ctx:
            anonymous.score([self.images[0]], "x")
        self.assertEqual(ctx.exception.status, 401)

    def test_numpy_and_pil_inputs(self):
        try:
            import numpy as np
        except ImportError:
            self.skipTest("numpy is not installed")
        hwc = (np.arange(5 * 6 * 3) % 256).astype(np.uint8).reshape(5, 6, 3)
        chw = hwc.transpose(2, 0, 1).astype(np.float32) / 255.0
        square = (np.arange(3 * 3 * 3) % 256).astype(np.uint8).reshape(3, 3, 3)  # ambiguous: uint8 is HWC, float CHW
        self.assertAlmostEqual(self.client.score([square], "p")[0]["mu"],
                               self.client.score([square.transpose(2, 0, 1) / 255.0], "p")[0]["mu"], places=12)
        batch = np.stack([chw, chw])
        results = self.client.score([hwc, chw], "p")
        self.assertAlmostEqual(results[0]["mu"], results[1]["mu"], places=12)
        self.assertEqual(len(self.client.score(batch, "p")), 2)
        if FAKE:
            self.assertAlmostEqual(results[0]["mu"], fake_mu("p", hwc.tobytes()), places=9)
        try:
            from PIL import Image
        except ImportError:
            return
        pil = Image.fromarray(hwc)
        self.assertAlmostEqual(self.client.score([pil], "p")[0]["mu"], results[0]["mu"], places=12)


class OfflineTests(unittest.TestCase):
    """Parts that need no service."""

    def test_encode_image_forms(self):
        self.assertEqual(hps_client.encode_image(b"\x01\x02"), {"image": "AQI="})
        with self.assertRaises(TypeError):
            hps_client.encode_image(42)

    def test_group_z(self):
        z = group_z([1.0, 3.0, None, 7.0], ["a", "a", "a", "b"])
        self.assertEqual(z, [-1.0, 1.0, None, 0.0])

    def test_bad_arguments(self):
        c = HpsClient("http://127.0.0.1:9")
        with self.assertRaises(ValueError):
            c.score([b"x", b"y"], ["only one"])
        with self.assertRaises(ValueError):
            c.score([b"x"], "p", normalize="global")
        with self.assertRaises(ValueError):
            HpsClient("ftp://example.com")


if __name__ == "__main__":
    unittest.main()
