"""Real processes for tests: a Celery worker and a live uvicorn API, configured through env vars."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from wastesort.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(s: Settings) -> dict[str, str]:
    """The same Settings object, as the WASTESORT_* variables a child process reads."""
    env = {**os.environ, "WASTESORT_STORE__URI": s.store.uri,
           "WASTESORT_TRAINER__BROKER_URL": s.trainer.broker_url,
           "WASTESORT_TRAINER__RESULT_BACKEND": s.trainer.result_backend,
           "WASTESORT_TRAINER__QUEUE_DIR": str(s.trainer.queue_dir),
           "WASTESORT_TRAINER__RUNS_DIR": str(s.trainer.runs_dir),
           "WASTESORT_TRAINER__VISIBILITY_TIMEOUT_S": str(s.trainer.visibility_timeout_s)}
    for name in ("admin_token", "allowed_root", "samples_dir", "review_dir", "config_dir", "model_cache_dir",
                 "watch_interval_s"):
        value = getattr(s.api, name)
        if value is not None:
            env[f"WASTESORT_API__{name.upper()}"] = str(value)
    for name, value in s.api.runtime.model_dump().items():
        env[f"WASTESORT_API__RUNTIME__{name.upper()}"] = str(value)
    return env


def start_worker(s: Settings, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "wastesort_trainer.celery_app", "worker", "--pool=solo",
         "--loglevel=INFO", "-n", f"w{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        env=settings_env(s), stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def start_api(s: Settings, log: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "wastesort_api.main:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port)], env=settings_env(s), stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"API exited: {log.read_text()[-2000:]}")
        time.sleep(0.3)
    stop(proc)
    raise RuntimeError(f"API not ready: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(30)
