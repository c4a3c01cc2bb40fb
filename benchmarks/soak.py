"""Soak test: two API processes under a steady mix of real and malformed images for a bounded time,
recording errors, latency and each process's RSS every few seconds.

It prints whether any request that should succeed failed, and whether RSS grew more than 10% after
warm-up (per-request memory growth is the failure mode TorchServe users report). ``--hostile`` adds what
an attacker sends (thin strips, PNG+script polyglots, huge JSON to admin routes, made-up HTTP methods),
flags every photo uncertain so the review queue fills, and checks the queue and the metrics series stay
under their bounds.

Run: ``python -m benchmarks.soak --minutes 10 --rate 8 [--hostile] --report reports/soak.json``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

import httpx

from benchmarks.bench import (
    NEVER_UNCERTAIN,
    _port,
    _summary,
    _wait_ready,
    sample_images,
    scratch_api_env,
    scratch_model,
    start_uvicorn,
)
from wastesort_trainer.report import save_json_report


def bounds(url: str) -> dict:
    """What must stay bounded whatever clients send: metrics series and the review queue."""
    metrics = httpx.get(f"{url}/metrics", timeout=30).text
    series = sum(1 for line in metrics.splitlines() if line.startswith("wastesort_requests_total{"))
    review = httpx.get(f"{url}/v1/review", params={"limit": 500}, timeout=30).json()["items"]
    return {"request_series": series, "review_items": len(review), "review_bound": REVIEW_BOUND}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


REVIEW_BOUND = 20  # review_max_items in --hostile mode: below the 64 distinct photos, so the bound is hit


def _thin_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (10000, 1)).save(buf, format="PNG")
    return buf.getvalue()


def request_for(rng: random.Random, k: int, good: bytes, *, bad: bool, hostile: bool) -> tuple[str, str, dict, bool]:
    """(method, path, httpx kwargs, should succeed) for request ``k``."""
    if not bad:
        return "POST", "/v1/predict", {"files": [("files", (f"{k}.jpg", good, "image/jpeg"))]}, True
    kinds = ["truncated", "garbage", "empty", "text"] + (["thin", "polyglot", "huge_json", "method"] if hostile else [])
    kind = rng.choice(kinds)
    if kind == "polyglot":  # a real image with a payload: answered, stored only as re-encoded pixels
        return "POST", "/v1/predict", {"files": [("files", (f"{k}.html", good + b"<script>alert(1)</script>",
                                                            "image/jpeg"))]}, True
    if kind == "huge_json":
        return "POST", "/v1/change", {"content": b"[" + b"1," * 1_000_000 + b"1]",
                                      "headers": {"content-type": "application/json"}}, False
    if kind == "method":
        return f"X{k}", "/v1/info", {}, False
    body, ctype = {"truncated": (good[: len(good) // 3], "image/jpeg"), "garbage": (os.urandom(2048), "image/jpeg"),
                   "empty": (b"", "image/jpeg"), "text": (b"hello", "text/plain"),
                   "thin": (_thin_png(), "image/png")}[kind]
    return "POST", "/v1/predict", {"files": [("files", ("x.jpg", body, ctype))]}, False


async def drive(urls: list[str], images: list[bytes], rate: float, seconds: float, bad_share: float,
                pids: list[int], sample_every: float, hostile: bool = False) -> dict:
    rng = random.Random(0)
    lat: list[float] = []
    unexpected: list[str] = []
    rss: list[dict] = []
    n = int(rate * seconds)
    start = time.perf_counter()

    async def one(k: int, c: httpx.AsyncClient) -> None:
        url = urls[k % len(urls)]
        good = images[k % len(images)]
        is_bad = rng.random() < bad_share
        method, path, kwargs, should_succeed = request_for(rng, k, good, bad=is_bad, hostile=hostile)
        t = time.perf_counter()
        try:
            r = await c.request(method, f"{url}{path}", **kwargs)
            status = r.status_code
        except httpx.HTTPError as exc:
            status = f"{exc.__class__.__name__}"
        if not is_bad:
            lat.append(time.perf_counter() - t)
        ok = status == 200 if should_succeed else (isinstance(status, int) and 400 <= status < 500)
        if not ok:
            unexpected.append(f"{'good' if should_succeed else 'bad'} {method} {path} -> {status}")

    async def sampler() -> None:
        while True:
            rss.append({"t": round(time.perf_counter() - start, 1), **{str(p): round(rss_mb(p), 1) for p in pids}})
            await asyncio.sleep(sample_every)

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as c:
        watcher = asyncio.create_task(sampler())
        tasks = []
        for k in range(n):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k, c)))
        await asyncio.gather(*tasks)
        watcher.cancel()
    return {"good": _summary(lat, 0, time.perf_counter() - start), "unexpected": unexpected[:50],
            "unexpected_count": len(unexpected), "rss_mb": rss}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=8, help="requests per second, both processes together")
    ap.add_argument("--bad-share", type=float, default=0.2)
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--warmup-share", type=float, default=0.2, help="first part of the run ignored for RSS growth")
    ap.add_argument("--hostile", action="store_true", help="add attacker inputs; flag every photo for review")
    ap.add_argument("--report", default="reports/soak.json")
    args = ap.parse_args(argv)

    work, _ = scratch_model("wastesort-soak-", "soak")
    images = sample_images()
    procs, urls = [], []
    for i in range(2):
        port = _port()
        review = ({"runtime__uncertain_rule": "manual", "runtime__uncertain_threshold": "1",
                   "review_max_items": str(REVIEW_BOUND)} if args.hostile else NEVER_UNCERTAIN)
        env = scratch_api_env(work, f"api{i}", threads="1", **review)
        procs.append(start_uvicorn(port, env))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for u in urls:
            _wait_ready(u + "/readyz")
        print(f"soak: {args.minutes} min at {args.rate} req/s over {len(urls)} processes, "
              f"{args.bad_share:.0%} malformed", flush=True)
        res = asyncio.run(drive(urls, images, args.rate, args.minutes * 60, args.bad_share,
                                [p.pid for p in procs], args.sample_every, hostile=args.hostile))
        res["bounds"] = [bounds(u) for u in urls]
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
    samples = res["rss_mb"]
    cut = int(len(samples) * args.warmup_share)
    growth = {}
    for p in procs:
        after = [s[str(p.pid)] for s in samples[cut:]]
        growth[str(p.pid)] = round(max(after) / after[0] - 1, 4) if after else None
    res["rss_growth_after_warmup"] = growth
    res["rss_grew_over_10pct"] = any(g is not None and g > 0.10 for g in growth.values())
    res["any_request_failed"] = res["unexpected_count"] > 0
    print(f"good requests: {res['good']['requests']}  p50 {res['good']['p50_ms']} ms  p99 {res['good']['p99_ms']} ms")
    print(f"unexpected responses: {res['unexpected_count']}  RSS growth after warm-up: {growth}")
    print(f"RSS grew > 10%: {res['rss_grew_over_10pct']}; any request failed: {res['any_request_failed']}")
    print(f"bounds per process (metrics series, review items of {REVIEW_BOUND}): {res['bounds']}")
    save_json_report(args.report, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
