"""Serving benchmark: the real API (uvicorn, micro-batching, ONNX Runtime) against the seed-style naive
server (Flask + PyTorch eager, one request at a time), same model, same machine, same real images.

1. Saturation: closed loop, ``--concurrency`` clients each posting one image per request.
2. Latency at half of the API's saturation rate: open loop (fixed arrival rate) for ``--duration`` s.

Run: ``python -m benchmarks.bench [--model FOLDER] --report reports/bench_serve.json``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from wastesort.card import read_card
from wastesort.data import by_split, load_samples
from wastesort.settings import get_settings
from wastesort.store import LocalStore, StoreError, open_store
from wastesort_trainer.report import machine, save_json_report


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# every prediction answered, none flagged (so nothing is written to a review queue while measuring)
NEVER_UNCERTAIN = {"runtime__uncertain_rule": "manual", "runtime__uncertain_threshold": "0",
                   "runtime__uncertain_margin": "0"}


def scratch_api_env(work: Path, name: str, **api: str) -> dict[str, str]:
    """Environment for a throwaway API process serving ``work/store``: its own var dir, open admin."""
    env = {**os.environ, "WASTESORT_STORE__URI": f"file:{work / 'store'}", "WASTESORT_API__ALLOW_OPEN_ADMIN": "true",
           "WASTESORT_VAR_DIR": str(work / name)}
    env.update({f"WASTESORT_API__{k.upper()}": v for k, v in api.items()})
    return env


def current_model(work: Path, version: str) -> Path:
    """The store's current model, copied into ``work/store`` as ``version`` so a benchmark never touches the
    real store; raises StoreError when nothing was published yet."""
    _, folder = open_store(get_settings().store).fetch_current(work / "cache")
    LocalStore(work / "store").publish(folder, mode="bench", version=version)
    return folder


def scratch_model(prefix: str, version: str) -> tuple[Path, Path]:
    """(work folder, model folder) for a benchmark run on the store's current model; exits with a clear
    message (status 2) when the store has none yet."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return work, current_model(work, version)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def sample_images(n: int = 64) -> list[bytes]:
    return [s.path.read_bytes() for s in by_split(load_samples(get_settings().data.root), "test")[:n]]


def start_uvicorn(port: int, env: dict[str, str], *, python: Path | str = sys.executable,
                  cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(python), "-m", "uvicorn", "wastesort_api.main:create_app", "--factory",
                             "--port", str(port), "--log-level", "warning"], env=env, cwd=cwd)


def cold_start(env: dict[str, str], *, python: Path | str = sys.executable, cwd: Path | None = None,
               timeout: float = 300) -> float:
    """Seconds from spawning an API process to its first 200 from /readyz, polled every 50 ms (a cold start
    is about a second: _wait_ready's half-second polling would blur it)."""
    port = _port()
    started = time.perf_counter()
    proc = start_uvicorn(port, env, python=python, cwd=cwd)
    try:
        while time.perf_counter() - started < timeout:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("the API exited before it was ready")
            time.sleep(0.05)
        raise RuntimeError(f"not ready after {timeout} s")
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_ready(url: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {timeout}s")


async def closed_loop(url: str, images: list[bytes], concurrency: int, seconds: float) -> dict:
    lat: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(i: int, c: httpx.AsyncClient) -> None:
        nonlocal errors
        k = i
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            r = await c.post(url, files=[("files", ("x.jpg", images[k % len(images)], "image/jpeg"))])
            lat.append(time.perf_counter() - t)
            errors += r.status_code != 200
            k += concurrency

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as c:
        await asyncio.gather(*(client(i, c) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    return _summary(lat, errors, elapsed)


async def open_loop_requests(url: str, images: list[bytes], rate: float, seconds: float, *,
                             t0: float | None = None, timeout: float = 60) -> list[tuple[float, float, int]]:
    """Open loop (fixed arrival rate): (start since ``t0``, latency s, HTTP status; 0 = no answer) per request."""
    out: list[tuple[float, float, int]] = []
    start = time.perf_counter()
    t0 = start if t0 is None else t0

    async def one(k: int, c: httpx.AsyncClient) -> None:
        t = time.perf_counter()
        try:
            r = await c.post(url, files=[("files", ("x.jpg", images[k % len(images)], "image/jpeg"))])
            status = r.status_code
        except httpx.HTTPError:
            status = 0
        out.append((t - t0, time.perf_counter() - t, status))

    async with httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=256)) as c:
        tasks = []
        for k in range(int(rate * seconds)):
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(k, c)))
        await asyncio.gather(*tasks)
    return out


async def open_loop(url: str, images: list[bytes], rate: float, seconds: float) -> dict:
    start = time.perf_counter()
    requests = await open_loop_requests(url, images, rate, seconds)
    return {**_summary([r[1] for r in requests], sum(r[2] != 200 for r in requests), time.perf_counter() - start),
            "offered_rps": rate}


def _summary(lat: list[float], errors: int, elapsed: float) -> dict:
    a = np.array(lat) * 1000
    return {"requests": len(lat), "errors": errors, "seconds": round(elapsed, 2),
            "throughput_rps": round(len(lat) / elapsed, 2),
            "p50_ms": round(float(np.percentile(a, 50)), 1) if len(a) else None,
            "p99_ms": round(float(np.percentile(a, 99)), 1) if len(a) else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: the store's current version)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--duration", type=float, default=20, help="open-loop run at half saturation")
    ap.add_argument("--report", default="reports/bench_serve.json")
    args = ap.parse_args(argv)

    if args.model:
        work, folder = Path(tempfile.mkdtemp(prefix="wastesort-bench-")), Path(args.model)
        LocalStore(work / "store").publish(folder, mode="bench", version="bench")
    else:
        work, folder = scratch_model("wastesort-bench-", "bench")
    images = sample_images()

    api_port, naive_port = _port(), _port()
    env = scratch_api_env(work, "api", **NEVER_UNCERTAIN)
    procs = {
        "api": start_uvicorn(api_port, env),
        "naive": subprocess.Popen([sys.executable, "-m", "benchmarks.naive_server", str(folder),
                                   str(naive_port)], env=env, stderr=subprocess.DEVNULL),
    }
    urls = {"api": f"http://127.0.0.1:{api_port}", "naive": f"http://127.0.0.1:{naive_port}"}
    report: dict = {"model": str(folder), "input_size": read_card(folder).pretrained_cfg.input_size,
                    "machine": machine(), "cpus": os.cpu_count(), "concurrency": args.concurrency}
    try:
        _wait_ready(urls["api"] + "/readyz")
        _wait_ready(urls["naive"] + "/healthz")
        # one server at a time, so they never compete for the 2 cores
        for name in ("naive", "api"):
            print(f"[{name}] warm-up + saturation: {args.concurrency} clients for {args.seconds:.0f}s", flush=True)
            asyncio.run(closed_loop(urls[name] + "/predict", images, 4, 3))
            sat = asyncio.run(closed_loop(urls[name] + "/predict", images, args.concurrency, args.seconds))
            half = max(0.5, sat["throughput_rps"] / 2)
            print(f"[{name}] open loop at {half:.1f} req/s for {args.duration:.0f}s", flush=True)
            report[name] = {"saturation": sat, "half_rate": asyncio.run(
                open_loop(urls[name] + "/predict", images, half, args.duration))}
    finally:
        for p in procs.values():
            p.terminate()
            p.wait(30)

    ratio = report["api"]["saturation"]["throughput_rps"] / max(report["naive"]["saturation"]["throughput_rps"], 1e-9)
    report["throughput_ratio"] = round(ratio, 2)
    report["targets"] = {"throughput_ratio>=5": ratio >= 5,
                         "api_p99_at_half_rate<=150ms": report["api"]["half_rate"]["p99_ms"] <= 150}
    print(f"\n{'server':<8} {'sat. req/s':>10} {'p50 ms':>8} {'p99 ms':>8} | "
          f"{'half-rate p50':>13} {'p99':>8} {'errors':>6}")
    for name in ("naive", "api"):
        s, h = report[name]["saturation"], report[name]["half_rate"]
        print(f"{name:<8} {s['throughput_rps']:>10} {s['p50_ms']:>8} {s['p99_ms']:>8} | {h['p50_ms']:>13} "
              f"{h['p99_ms']:>8} {s['errors'] + h['errors']:>6}")
    print(f"throughput ratio api/naive: {ratio:.2f}x at {report['input_size']} px; targets: {report['targets']}")
    print(f"machine: {report['machine']}")
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
