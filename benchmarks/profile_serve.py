"""Where one prediction's time goes under load (issue #22's per-stage profile).

The API runs in this process (uvicorn, the real app) with timers wrapped around its stages; a closed-loop
client runs in another process. Per request of one photo it reports: time outside the predictor (HTTP,
multipart parsing, routing, JSON), decode, transform (resize + normalise), queue wait in the micro-batcher,
model time (a batch's inference divided by its size), post-processing (softmax, top-k, uncertainty, review),
and the client's view. Means are in ms.

Run: ``python -m benchmarks.profile_serve --report reports/profile_serve.json`` (store's current model).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from collections import defaultdict

import httpx
import numpy as np
import uvicorn

from benchmarks.bench import NEVER_UNCERTAIN, _port, scratch_api_env, scratch_model
from wastesort_trainer.report import machine, save_json_report

CLIENT = """
import asyncio, json, sys
from benchmarks.bench import closed_loop, sample_images
url, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
asyncio.run(closed_loop(url, sample_images(), 2, 3))  # warm-up
print("warm", flush=True)
print(json.dumps(asyncio.run(closed_loop(url, sample_images(), clients, seconds))))
"""


def instrument(stats: dict[str, list[float]]) -> None:
    """Wrap the stages in timers (the module attributes the app calls through)."""
    import wastesort_api.batcher as batcher
    import wastesort_api.predictor as predictor
    import wastesort_api.runner as runner

    def sync(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                stats[name].append(time.perf_counter() - t)
        return wrapper

    def asynchronous(name, fn):
        @functools.wraps(fn)
        async def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return await fn(*a, **k)
            finally:
                stats[name].append(time.perf_counter() - t)
        return wrapper

    predictor.decode_image = sync("decode", predictor.decode_image)
    predictor.Predictor._prepare = sync("decode+transform", predictor.Predictor._prepare)
    predictor.Predictor.predict = asynchronous("predictor", predictor.Predictor.predict)
    batcher.Batcher.submit = asynchronous("batcher", batcher.Batcher.submit)
    model_call = runner.ServedModel.predict

    def timed_model(self, batch):
        t = time.perf_counter()
        out = model_call(self, batch)
        stats["model_batch"].append(time.perf_counter() - t)
        stats["batch_size"].append(len(batch))
        return out

    runner.ServedModel.predict = timed_model


def summarise(stats: dict[str, list[float]], client: dict) -> dict[str, float]:
    ms = {k: 1000 * float(np.mean(v)) for k, v in stats.items() if k != "batch_size"}
    batch = float(np.mean(stats["batch_size"]))
    model = ms["model_batch"] / batch
    return {
        "client latency (p50 from the client)": client["p50_ms"],
        "server, whole request (middleware)": ms["server"],
        "outside the predictor (HTTP, multipart, routing, JSON)": ms["server"] - ms["predictor"],
        "decode": ms["decode"],
        "transform (resize, crop, normalise)": ms["decode+transform"] - ms["decode"],
        "queue wait in the batcher": ms["batcher"] - ms["model_batch"],
        "model, per image (batch time / batch size)": model,
        "post-processing + thread hand-offs (softmax, top-k, uncertainty)":
            ms["predictor"] - ms["decode+transform"] - ms["batcher"],
        "mean batch size": batch,
    }


async def serve_and_load(app, port: int, clients: int, seconds: float, stats: dict, http: str = "auto") -> dict:
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", http=http))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient() as c:  # the model may still be loading after start-up
        while (await c.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
            await asyncio.sleep(0.2)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, f"http://127.0.0.1:{port}/predict",
                                                str(clients), str(seconds), stdout=subprocess.PIPE)
    await proc.stdout.readline()  # warm-up done: measure from here
    stats.clear()
    out, _ = await proc.communicate()
    server.should_exit = True
    await task
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--report", default="reports/profile_serve.json")
    ap.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto",
                    help="uvicorn's HTTP parser (auto: httptools when installed, as in the API image)")
    ap.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                    help="event loop (auto: uvloop when installed, as uvicorn does)")
    args = ap.parse_args(argv)

    work, folder = scratch_model("wastesort-profile-", "profile")
    os.environ.update(scratch_api_env(work, "api", **NEVER_UNCERTAIN))
    stats: dict[str, list[float]] = defaultdict(list)
    instrument(stats)
    from wastesort.settings import Settings
    from wastesort_api.main import create_app

    app = create_app(Settings())  # read again: the scratch environment was set after the first read

    @app.middleware("http")
    async def whole(request, call_next):
        t = time.perf_counter()
        response = await call_next(request)
        if request.url.path == "/predict" and response.status_code == 200:
            stats["server"].append(time.perf_counter() - t)
        return response

    async def ready_then_load() -> dict:
        return await serve_and_load(app, _port(), args.clients, args.seconds, stats, args.http)

    loop_factory = None
    if args.loop != "asyncio":
        try:
            import uvloop

            loop_factory = uvloop.new_event_loop
        except ImportError:
            if args.loop == "uvloop":
                raise
    # the model loads in the app's lifespan; the client's warm-up runs after it is ready
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        client = runner.run(ready_then_load())
    stages = summarise(stats, client)
    report = {"machine": machine(), "model": str(folder), "clients": args.clients, "client": client,
              "http": args.http, "loop": "uvloop" if loop_factory else "asyncio",
              "stages_ms": {k: round(v, 2) for k, v in stages.items()}}
    print(f"{args.clients} clients, {client['throughput_rps']} req/s, machine {report['machine']}")
    for k, v in report["stages_ms"].items():
        print(f"  {k:<55} {v:>8}")
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
