"""Session fixtures: real servers (moto S3 over HTTP, redis-server) and a tiny trained model."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
# object masks computed by training runs go to a throwaway folder, not the checkout's var/cache
os.environ.setdefault("WASTESORT_DATA__CACHE_DIR", tempfile.mkdtemp(prefix="wastesort-test-cache-"))

from tests.utils.factories import make_artifact  # noqa: E402
from tests.utils.procs import free_port  # noqa: E402


@pytest.fixture
def run():
    """Run a coroutine to completion (the app's own event loop; no pytest-asyncio needed)."""
    return lambda coro: asyncio.run(coro)


@pytest.fixture(scope="session")
def artifact(tmp_path_factory) -> Path:
    """One tiny Lite0 model trained for real on a handful of TrashNet images (shared, read-only)."""
    return make_artifact(tmp_path_factory.mktemp("artifact"))


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3-API HTTP server (moto's ThreadedMotoServer) reached by boto3 over the network stack."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    import uuid

    import boto3

    name = f"wastesort-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


def _redis_binary() -> str | None:
    return shutil.which("redis-server")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server with AOF persistence on a free port; yields (url, restart_fn)."""
    binary = _redis_binary()
    if binary is None:
        pytest.fail("redis-server is not installed (`.ci/run` installs it with apt-get)")
    port = free_port()
    data = tmp_path_factory.mktemp("redis")
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data), "--appendonly", "yes",
           "--appendfsync", "always", "--save", ""]
    state = {"proc": None}

    def start():
        state["proc"] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def restart():
        state["proc"].terminate()
        state["proc"].wait(10)
        start()

    start()
    yield f"redis://127.0.0.1:{port}/0", restart
    state["proc"].terminate()
    state["proc"].wait(10)


# Markers by what a test needs, so `make test-fast` (-m unit) runs in well under a minute:
#   services: real servers or processes; browser: headless Chromium; training: trains models beyond the shared
#   tiny artifact; unit: everything else (in-process, real files and real tiny models).
SERVICE_MODULES = ("tests/trainer/test_worker.py", "tests/trainer/test_rolling.py", "tests/contract/",
                   "tests/trainer/test_operator_loop.py",
                   "tests/deploy/", "tests/api/test_no_torch.py", "tests/security/test_install.py")
TRAINING_MODULES = ("tests/trainer/test_train.py", "tests/trainer/test_retrain.py", "tests/trainer/test_search.py",
                    "tests/trainer/test_robustness.py", "tests/trainer/test_starter.py", "tests/trainer/test_adapt.py")
SERVICE_FIXTURES = {"redis_server", "s3_endpoint", "s3_bucket", "redis_settings"}


def pytest_collection_modifyitems(config, items):
    root = Path(config.rootpath)
    for item in items:
        rel = Path(item.fspath).relative_to(root).as_posix()
        if rel.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.browser)
        elif (rel.startswith(SERVICE_MODULES) or "[s3]" in item.nodeid or "[redis]" in item.nodeid
              or SERVICE_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.services)
        elif rel.startswith(TRAINING_MODULES):
            item.add_marker(pytest.mark.training)
        else:
            item.add_marker(pytest.mark.unit)
