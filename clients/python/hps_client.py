"""Client for the HpsSharp reward service (``hps serve``). Standard library only, Python 3.8+.

    from hps_client import HpsClient, make_reward_fn
    client = HpsClient("http://127.0.0.1:8080", api_key=None)
    results = client.score(["a.png", png_bytes, pil_image, numpy_hwc_uint8], ["a cat", "a cat", "a dog", "a dog"])
    results[0]["mu"], results[0]["sigma"]

    reward_fn = make_reward_fn("http://127.0.0.1:8080", normalize="group")   # Flow-GRPO / DDPO shape
    scores, info = reward_fn(images, prompts, metadata)

Images may be file paths (read here and sent as bytes: the service never reads client paths), encoded bytes
(PNG, JPEG, WebP, BMP, GIF), PIL images, numpy arrays (HWC or CHW, uint8 or float in [0, 1], or a 4-D batch), or
torch tensors (moved to the CPU). PIL, numpy and torch are used only when the caller passes such objects.
"""

import base64
import http.client
import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

__all__ = ["HpsClient", "HpsError", "encode_image", "make_reward_fn", "make_async_reward_fn", "group_z"]
__version__ = "1.0.0"


class HpsError(Exception):
    """The service refused a request (``status``, ``title``, ``detail`` from its problem+json body) or an item failed."""

    def __init__(self, message, status=None, title=None, detail=None, body=None):
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.body = body


def _is_pil(img):
    return type(img).__module__.startswith("PIL.") and hasattr(img, "convert") and hasattr(img, "tobytes")


def _to_numpy(x):
    """Returns a numpy array for numpy arrays and torch tensors, None for anything else."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):  # torch.Tensor
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) not in ("torch.uint8",):
            x = x.float()
        return x.numpy()
    if hasattr(x, "__array_interface__") and hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    return None


def _rgb_from_array(a):
    import numpy as np  # present: the caller passed an array

    a = np.asarray(a)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError("an image array must be HW, HWC or CHW, got shape %r" % (a.shape,))
    chw = a.shape[0] in (1, 3, 4) and (a.shape[-1] not in (1, 3, 4) or a.dtype.kind == "f")
    if chw:
        # CHW -> HWC. When both axes could be channels, floats are taken as CHW (torch/trainer convention) and
        # integers as HWC (PIL/numpy image convention).
        a = np.transpose(a, (1, 2, 0))
    if a.shape[-1] not in (1, 3, 4):
        raise ValueError("cannot tell the channel axis of an image array of shape %r" % (a.shape,))
    if a.dtype != np.uint8:
        if a.dtype.kind == "f":
            a = np.clip(np.round(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)  # floats in [0, 1]
        elif a.dtype.kind in "iu":
            a = np.clip(a, 0, 255).astype(np.uint8)
        else:
            raise ValueError("unsupported image array dtype %s" % a.dtype)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[-1] == 4:
        a = a[:, :, :3]
    a = np.ascontiguousarray(a)
    return {"rgb": base64.b64encode(a.tobytes()), "width": int(a.shape[1]), "height": int(a.shape[0])}


def encode_image(img):
    """The JSON form of one image (see ``_encode``), with base64 as ``str``."""
    return {k: (v.decode("ascii") if isinstance(v, bytes) else v) for k, v in _encode(img).items()}


class _Encoded(dict):
    """An image already in its JSON form (a snapshot taken when an asynchronous call was submitted)."""


def _encode(img):
    """The JSON form of one image: ``{"image": base64}`` for files and encoded bytes, ``{"rgb", "width", "height"}``
    (raw pixels, no re-encoding) for PIL images and arrays. Arrays: HW, HWC or CHW; floats are taken as [0, 1]
    (rounded like ``(x * 255).round().clamp(0, 255)``); an axis of size 1, 3 or 4 is the channel axis, and when
    both ends qualify floats are read as CHW and integers as HWC."""
    if isinstance(img, _Encoded):
        return dict(img)
    if isinstance(img, (str, os.PathLike)):
        with open(img, "rb") as f:
            return {"image": base64.b64encode(f.read())}
    if isinstance(img, (bytes, bytearray, memoryview)):
        return {"image": base64.b64encode(bytes(img))}
    if _is_pil(img):
        rgb = img.convert("RGB")
        return {"rgb": base64.b64encode(rgb.tobytes()), "width": rgb.size[0], "height": rgb.size[1]}
    arr = _to_numpy(img)
    if arr is not None:
        return _rgb_from_array(arr)
    raise TypeError("unsupported image type %s (path, bytes, PIL image, numpy array or torch tensor)" % type(img).__name__)


def _as_list(images):
    """A list of single images; a 4-D array or tensor (a batch) becomes its items."""
    arr = _to_numpy(images) if not isinstance(images, (list, tuple)) else None
    if arr is not None:
        if arr.ndim == 4:
            return [arr[i] for i in range(arr.shape[0])]
        return [arr]
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike)) or _is_pil(images):
        return [images]
    return list(images)


def _dumps(value):
    """JSON bytes. ``bytes`` values are base64 text from ``_encode`` and are spliced in as they are (the base64
    alphabet needs no escaping): this spares json.dumps a pass over megabytes of image data per request."""
    if isinstance(value, bytes):
        return b'"' + value + b'"'
    if isinstance(value, dict):
        return b"{" + b",".join(json.dumps(str(k)).encode("utf-8") + b":" + _dumps(v) for k, v in value.items()) + b"}"
    if isinstance(value, (list, tuple)):
        return b"[" + b",".join(_dumps(v) for v in value) + b"]"
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def group_z(mus, prompts):
    """z = (mu - mean) / std per prompt (population std; 0 for a group of one or without spread), None where mu is None.
    The same formula the service uses for ``normalize="group"``."""
    groups = {}
    for i, (m, p) in enumerate(zip(mus, prompts)):
        if m is not None:
            groups.setdefault(p, []).append(i)
    out = [None] * len(mus)
    for idx in groups.values():
        vals = [mus[i] for i in idx]
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((v - mean) ** 2 for v in vals) / len(vals))
        for i in idx:
            out[i] = (mus[i] - mean) / std if std > 1e-12 else 0.0
    return out


class HpsClient:
    """Talks to one ``hps serve`` instance over keep-alive HTTP connections (one per thread).

    ``retries`` bounds how often a 503 (queue full, model loading) or a dropped connection is retried, waiting the
    service's Retry-After. Requests larger than ``max_items`` are split; with ``normalize="group"`` the z-scores are
    then computed here over the whole call, with the service's formula.
    """

    def __init__(self, url="http://127.0.0.1:8080", api_key=None, timeout=300.0, retries=8, max_items=256, concurrency=2):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url must be http(s)://host:port, got %r" % url)
        self.url = url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("HPS_API_KEY") or None
        self.timeout = timeout
        self.retries = retries
        self.max_items = max_items
        self.concurrency = max(1, concurrency)
        self._local = threading.local()

    # -- transport ---------------------------------------------------------------------------------------------------
    def _connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def _request(self, method, path, body=None, content_type="application/json"):
        """Returns (status, response, bytes) after bounded retries of 503 answers and dropped connections."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        delay = 0.5
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                conn = self._connection()
                conn.request(method, self._prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException, OSError) as e:
                self._drop_connection()
                if last:
                    raise HpsError("cannot reach %s: %s" % (self.url, e)) from e
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            if resp.status == 503 and not last:
                retry_after = resp.getheader("Retry-After")
                time.sleep(float(retry_after) if retry_after and retry_after.isdigit() else delay)
                delay = min(delay * 2, 10.0)
                continue
            return resp.status, resp, data
        raise AssertionError("unreachable")

    def _post(self, path, payload):
        status, _, data = self._request("POST", path, _dumps(payload))
        return self._json(status, data, path)

    def _json(self, status, data, path):
        try:
            doc = json.loads(data.decode("utf-8")) if data else None
        except ValueError:
            doc = None
        if status != 200:
            title = doc.get("title") if isinstance(doc, dict) else None
            detail = doc.get("detail") if isinstance(doc, dict) else data.decode("utf-8", "replace")[:500]
            raise HpsError("%s %s: %s (%s)" % (status, path, detail, title), status=status, title=title, detail=detail, body=doc)
        return doc

    # -- API ---------------------------------------------------------------------------------------------------------
    def score(self, images, prompts, normalize=None, reward=None, k=None):
        """Scores each image for its prompt (one prompt string for all, or one per image). Returns one dict per image,
        in order: ``{"mu", "log_sigma", "sigma"}`` (+ ``"group_z"`` with ``normalize="group"``) or ``{"error", "status"}``.
        ``reward`` ("mu", "mu_minus_k_sigma", "percentile", "group_z") adds ``"reward"`` to each result (``k`` for
        mu_minus_k_sigma, default 1); "percentile" needs a service started with ``--calibration``."""
        images = _as_list(images)
        if isinstance(prompts, str):
            prompts = [prompts] * len(images)
        prompts = list(prompts)
        if len(prompts) != len(images):
            raise ValueError("%d images but %d prompts" % (len(images), len(prompts)))
        if normalize not in (None, "group"):
            raise ValueError('normalize must be None or "group"')
        if not images:
            return []
        chunks = [list(range(i, min(i + self.max_items, len(images)))) for i in range(0, len(images), self.max_items)]
        server_norm = normalize if len(chunks) == 1 else None

        def run(idx):
            items = []
            for i in idx:
                item = _encode(images[i])
                item["prompt"] = prompts[i]
                items.append(item)
            payload = {"items": items}
            if server_norm:
                payload["normalize"] = server_norm
            if reward is not None:
                payload["reward"] = reward
            if k is not None:
                payload["k"] = k
            return self._post("/v1/score", payload)["results"]

        if len(chunks) == 1:
            results = run(chunks[0])
        else:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
                results = [r for part in pool.map(run, chunks) for r in part]
            if normalize == "group":
                for r, z in zip(results, group_z([r.get("mu") for r in results], prompts)):
                    if z is not None:
                        r["group_z"] = z
        return results

    def compare(self, prompt, a, b):
        """``{"p_a_over_b", "a": {...}, "b": {...}}``: P(A preferred over B) and both scores."""
        return self._post("/v1/compare", {"prompt": prompt, "a": _encode(a), "b": _encode(b)})

    def rank(self, prompt, images):
        """``{"order": [indices best first], "results": [...]}``."""
        return self._post("/v1/rank", {"prompt": prompt, "images": [_encode(i) for i in _as_list(images)]})

    def health(self):
        """True when the process answers /healthz."""
        status, _, _ = self._request("GET", "/healthz")
        return status == 200

    def ready(self):
        """True when the model is loaded (/readyz is 200). Does not retry a 503."""
        retries, self.retries = self.retries, 0
        try:
            status, _, _ = self._request("GET", "/readyz")
        finally:
            self.retries = retries
        return status == 200

    def wait_ready(self, timeout=600.0, interval=0.5):
        """Waits (bounded by ``timeout`` seconds) until the model is loaded; raises HpsError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.ready():
                    return
            except HpsError:
                pass
            if time.monotonic() >= deadline:
                raise HpsError("service at %s not ready after %.0f s" % (self.url, timeout))
            time.sleep(interval)

    def metrics(self):
        """The Prometheus text of /metrics."""
        status, _, data = self._request("GET", "/metrics")
        if status != 200:
            raise HpsError("%s /metrics" % status, status=status)
        return data.decode("utf-8")

    def close(self):
        self._drop_connection()


def make_reward_fn(url="http://127.0.0.1:8080", api_key=None, normalize=None, on_error="raise", client=None):
    """A reward function in the shape RL trainers for diffusion models use (Flow-GRPO, DDPO, D3PO):
    ``fn(images, prompts, metadata) -> (scores, info)``.

    ``scores`` is a list of floats: μ, or the per-prompt z-score with ``normalize="group"`` (GRPO-style advantages).
    ``info`` holds ``mu``, ``sigma``, ``log_sigma`` (lists) and ``errors`` (index -> message). A failed item raises
    HpsError with ``on_error="raise"`` (default) or scores NaN with ``on_error="nan"``. ``metadata`` is accepted and
    ignored (the service needs only images and prompts).
    """
    if on_error not in ("raise", "nan"):
        raise ValueError('on_error must be "raise" or "nan"')
    hc = client or HpsClient(url, api_key=api_key)

    def _fn(images, prompts, metadata=None):
        results = hc.score(images, prompts, normalize=normalize)
        errors = {i: r["error"] for i, r in enumerate(results) if "error" in r}
        if errors and on_error == "raise":
            first = min(errors)
            raise HpsError("%d of %d images could not be scored; first: %s" % (len(errors), len(results), errors[first]), body=errors)
        key = "group_z" if normalize == "group" else "mu"
        nan = float("nan")
        scores = [r.get(key, nan) if "error" not in r else nan for r in results]
        info = {
            "mu": [r.get("mu", nan) for r in results],
            "sigma": [r.get("sigma", nan) for r in results],
            "log_sigma": [r.get("log_sigma", nan) for r in results],
            "errors": errors,
        }
        return scores, info

    return _fn


def make_async_reward_fn(url="http://127.0.0.1:8080", api_key=None, normalize=None, on_error="raise", client=None, max_in_flight=2):
    """The asynchronous form of :func:`make_reward_fn`: submit a batch now, collect its rewards later, so a trainer
    generates the next batch while this one is scored.

        submit = make_async_reward_fn(url, normalize="group")
        pending = submit(images, prompts, metadata)     # returns at once
        ...                                             # sample the next batch on the GPU meanwhile
        scores, info = pending.result()                 # same (scores, info) as make_reward_fn

    The images are encoded when ``submit`` is called (a snapshot: the trainer may reuse its buffers afterwards).
    At most ``max_in_flight`` batches are sent at once; more wait in order. ``submit.shutdown()`` waits for the
    pending batches and frees the worker threads.
    """
    fn = make_reward_fn(url, api_key=api_key, normalize=normalize, on_error=on_error, client=client)
    pool = ThreadPoolExecutor(max_workers=max(1, max_in_flight), thread_name_prefix="hps-reward")

    def submit(images, prompts, metadata=None):
        snapshot = [_Encoded(_encode(i)) for i in _as_list(images)]
        prompts = [prompts] * len(snapshot) if isinstance(prompts, str) else list(prompts)
        return pool.submit(fn, snapshot, prompts, metadata)

    submit.shutdown = lambda wait=True: pool.shutdown(wait=wait)
    return submit
