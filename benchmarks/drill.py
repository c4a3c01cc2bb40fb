"""Rollout drill: the local stand-in for ALB + ECS (docs/deploy.md).

``--replicas`` API processes behind nginx (as in compose), a steady open-loop load through nginx, and on a
schedule: a new model is published to the store (every replica hot-swaps), the model is rolled back over the
API, one replica is killed (SIGKILL, no goodbye), and it is started again. For each event it prints the
requests that failed and the p99 in the window after it. Target: 0 failed requests.

Run: ``python -m benchmarks.drill --report reports/drill.json`` (store's current model; needs nginx).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from benchmarks.bench import (
    NEVER_UNCERTAIN,
    _port,
    _wait_ready,
    open_loop_requests,
    sample_images,
    scratch_api_env,
    scratch_model,
    start_uvicorn,
)
from wastesort.store import LocalStore
from wastesort_trainer.report import machine, save_json_report

TOKEN = "drill-admin-token-0123456789"

NGINX_CONF = """
{user}
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream wastesort_api {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
{body}
    }}
}}
"""


def nginx_config(work: Path, port: int, upstreams: list[int]) -> str:
    """deploy/nginx.conf's server body with local upstreams: the drill exercises the shipped retry rules."""
    shipped = (Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf").read_text()
    body = shipped[shipped.index("    client_max_body_size"):shipped.rindex("}")]
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;" for p in upstreams)
    # as root, nginx's workers would drop to `nobody`, who cannot write request bodies into this private folder
    user = "user root;" if os.geteuid() == 0 else ""
    return NGINX_CONF.format(user=user, work=work, port=port, servers=servers, body=body)


def window(results: list[tuple[float, float, int]], start: float, end: float) -> dict:
    rows = [r for r in results if start <= r[0] < end]
    lat = np.array([r[1] for r in rows]) * 1000
    return {"from_s": round(start, 1), "to_s": round(end, 1), "requests": len(rows),
            "failed": sum(r[2] != 200 for r in rows),
            "statuses": {str(k): v for k, v in sorted(Counter(r[2] for r in rows).items())},
            "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--rate", type=float, default=15, help="requests per second through the proxy")
    ap.add_argument("--gap", type=float, default=12, help="seconds between events (and each event's window)")
    ap.add_argument("--report", default="reports/drill.json")
    args = ap.parse_args(argv)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        print("error: nginx not found (apt-get install -y nginx)", file=sys.stderr)
        return 2

    work, folder = scratch_model("wastesort-drill-", "drill-a")
    store = LocalStore(work / "store")
    images = sample_images()
    ports = [_port() for _ in range(args.replicas)]
    # a 1 s watch interval, so every replica follows the pointer well inside an event's window
    envs = [scratch_api_env(work, f"api{i}", watch_interval_s="1", threads="1", **NEVER_UNCERTAIN)
            | {"WASTESORT_API__ALLOW_OPEN_ADMIN": "false", "WASTESORT_API__ADMIN_TOKEN": TOKEN}
            for i in range(args.replicas)]
    procs = [start_uvicorn(p, e) for p, e in zip(ports, envs, strict=True)]
    lb_port = _port()
    (work / "nginx.conf").write_text(nginx_config(work, lb_port, ports))
    lb = subprocess.Popen([nginx, "-p", str(work), "-c", str(work / "nginx.conf")], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{lb_port}"
    events: list[tuple[str, float]] = []
    swaps: dict[str, float | None] = {}  # version -> seconds until every replica served it (None: not in time)

    def served() -> set[str]:
        return {httpx.get(f"http://127.0.0.1:{p}/v1/info", timeout=5).json().get("current") or "?"
                for i, p in enumerate(ports) if procs[i].poll() is None}

    async def schedule(t0: float) -> None:
        async def at(name: str, k: int, action) -> None:
            await asyncio.sleep(max(0.0, t0 + k * args.gap - time.perf_counter()))
            events.append((name, time.perf_counter() - t0))
            await asyncio.to_thread(action)
            print(f"[{time.perf_counter() - t0:5.1f}s] {name}", flush=True)

        def kill() -> None:
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait()

        def restart() -> None:
            procs[0] = start_uvicorn(ports[0], envs[0])

        def followed(version: str, since: float) -> None:
            """Wait until every live replica serves ``version``; record how long the fleet took."""
            while served() != {version} and time.perf_counter() - since < args.gap:
                time.sleep(0.2)
            swaps[version] = round(time.perf_counter() - since, 1) if served() == {version} else None

        def publish() -> None:
            since = time.perf_counter()
            store.publish(folder, mode="drill", version="drill-b")
            followed("drill-b", since)

        def rollback() -> None:
            since = time.perf_counter()
            httpx.post(f"{base}/v1/models/rollback", headers={"Authorization": f"Bearer {TOKEN}"},
                       timeout=30).raise_for_status()
            followed("drill-a", since)

        await at("steady", 0, lambda: None)
        await at("publish new model", 1, publish)
        await at("rollback over the API", 2, rollback)
        await at("kill a replica (SIGKILL)", 3, kill)
        await at("replica started again", 4, restart)

    try:
        for p in ports:
            _wait_ready(f"http://127.0.0.1:{p}/readyz")
        _wait_ready(f"{base}/readyz")
        seconds = 5 * args.gap + 2
        print(f"drill: {args.replicas} replicas behind nginx, {args.rate} req/s for {seconds:.0f}s", flush=True)

        async def both() -> list:
            t0 = time.perf_counter()
            results, _ = await asyncio.gather(open_loop_requests(f"{base}/predict", images, args.rate, seconds,
                                                                 t0=t0, timeout=30), schedule(t0))
            return results

        results = asyncio.run(both())
        versions_after = served()
    finally:
        lb.terminate()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)
        lb.wait(10)

    bounds = [t for _, t in events] + [5 * args.gap + 2]
    report = {"machine": machine(), "replicas": args.replicas, "rate_rps": args.rate,
              "events": [{"event": name, **window(results, start, end)}
                         for (name, start), end in zip(events, bounds[1:], strict=True)],
              "total": window(results, 0, bounds[-1]), "versions_after_rollback": sorted(versions_after),
              "fleet_swap_s": swaps,
              "store_current_after": store.current()}
    print(f"\n{'event':<28} {'requests':>8} {'failed':>6} {'p99 ms':>8}")
    for e in report["events"]:
        print(f"{e['event']:<28} {e['requests']:>8} {e['failed']:>6} {e['p99_ms']!s:>8}")
    t = report["total"]
    print(f"{'total':<28} {t['requests']:>8} {t['failed']:>6} {t['p99_ms']!s:>8}")
    print(f"every replica on the new model after {swaps.get('drill-b')} s, back on the old one after "
          f"{swaps.get('drill-a')} s (None: not within {args.gap:.0f} s)")
    print(f"store current after the drill: {report['store_current_after']}; replicas serve {versions_after}")
    print(f"machine: {report['machine']}")
    save_json_report(args.report, report)
    return 0 if t["failed"] == 0 and None not in swaps.values() else 1


if __name__ == "__main__":
    sys.exit(main())
