"""Capacity of one API replica, the unit the autoscalers count in (docs/capacity.md).

1. Saturation: closed loop, ``--concurrency`` clients.
2. Open loop at rising shares of saturation; the highest rate whose p99 stays within ``--p99-ms`` with no error
   is the replica's sustainable rate.
3. Cold start: process start -> ``/readyz`` with the model in a local store, ``--cold-starts`` times.

It prints the autoscaling targets that follow: ALBRequestCountPerTarget (requests per target per minute) =
sustainable rate x 60 x ``--headroom``, the headroom covering load that grows while new replicas start.

Run: ``python -m benchmarks.capacity --report reports/capacity.json`` (store's current model).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

from benchmarks.bench import (
    NEVER_UNCERTAIN,
    _port,
    _wait_ready,
    closed_loop,
    cold_start,
    open_loop,
    sample_images,
    scratch_api_env,
    scratch_model,
    start_uvicorn,
)
from wastesort_trainer.report import machine, save_json_report

SHARES = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9)


def sustainable(steps: list[dict], p99_ms: float) -> dict | None:
    ok = [s for s in steps if s["errors"] == 0 and s["p99_ms"] is not None and s["p99_ms"] <= p99_ms]
    return max(ok, key=lambda s: s["offered_rps"]) if ok else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20, help="saturation run")
    ap.add_argument("--step-seconds", type=float, default=15, help="each open-loop step")
    ap.add_argument("--p99-ms", type=float, default=150)
    ap.add_argument("--headroom", type=float, default=0.8)
    ap.add_argument("--cold-starts", type=int, default=3)
    ap.add_argument("--report", default="reports/capacity.json")
    args = ap.parse_args(argv)

    work, folder = scratch_model("wastesort-capacity-", "capacity")
    images = sample_images()
    env = scratch_api_env(work, "api", **NEVER_UNCERTAIN)
    report: dict = {"machine": machine(), "model": str(folder), "p99_bound_ms": args.p99_ms}

    print(f"cold start x{args.cold_starts} (process start -> /readyz)", flush=True)
    report["cold_start_s"] = [round(cold_start(env, timeout=120), 2) for _ in range(args.cold_starts)]

    port = _port()
    proc = start_uvicorn(port, env)
    url = f"http://127.0.0.1:{port}/predict"
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz")
        asyncio.run(closed_loop(url, images, 4, 3))  # warm-up
        sat = asyncio.run(closed_loop(url, images, args.concurrency, args.seconds))
        report["saturation"] = sat
        print(f"saturation: {sat['throughput_rps']} req/s (p99 {sat['p99_ms']} ms)", flush=True)
        steps = []
        for share in SHARES:
            rate = round(sat["throughput_rps"] * share, 1)
            step = asyncio.run(open_loop(url, images, rate, args.step_seconds)) | {"share": share}
            steps.append(step)
            print(f"  {share:.0%} = {rate} req/s: p50 {step['p50_ms']} ms, p99 {step['p99_ms']} ms, "
                  f"errors {step['errors']}", flush=True)
        report["steps"] = steps
    finally:
        proc.terminate()
        proc.wait(30)

    best = sustainable(steps, args.p99_ms)
    rate = best["offered_rps"] if best else 0.0
    report["sustainable_rps"] = rate
    report["alb_request_count_per_target"] = math.floor(rate * 60 * args.headroom)
    report["cpu_target_percent"] = round(100 * (best["share"] if best else 0) * args.headroom)
    print(f"\nmachine: {report['machine']}")
    print(f"sustainable per replica at p99 <= {args.p99_ms:.0f} ms: {rate} req/s; cold start "
          f"{min(report['cold_start_s'])}-{max(report['cold_start_s'])} s")
    print(f"ALBRequestCountPerTarget target: {report['alb_request_count_per_target']} requests/min "
          f"(headroom {args.headroom}); CPU target ~{report['cpu_target_percent']}%")
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
