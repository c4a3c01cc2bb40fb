"""The install the API image does (non-editable `pip install '.[api]'`) starts as a non-root user with the
compose environment and reaches /readyz, its state under ./var of the working directory (the folder defaults
used to point inside site-packages, which that user cannot write)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.utils.procs import free_port
from wastesort.store import LocalStore

ROOT = Path(__file__).resolve().parents[2]


def test_non_editable_api_install_starts_as_non_root(artifact):
    work = Path(tempfile.mkdtemp(prefix="wastesort-install-"))
    try:
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{ROOT}[api]"], check=True, timeout=900)
        assert subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode
        LocalStore(work / "store").publish(artifact, mode="scratch", version="v1")
        app = work / "app"  # the image's WORKDIR: the only folder the service user may write
        app.mkdir()
        subprocess.run(["chmod", "-R", "a+rX", str(work)], check=True)
        as_user: list[str] = []
        if os.geteuid() == 0:
            os.chown(app, 65534, 65534)
            as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        port = free_port()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(app), "WASTESORT_STORE__URI": f"file:{work / 'store'}",
               "WASTESORT_API__ADMIN_TOKEN": "install-test-token-0123456789",
               "WASTESORT_TRAINER__BROKER_URL": "filesystem://"}
        proc = subprocess.Popen([*as_user, str(venv / "bin" / "uvicorn"), "wastesort_api.main:create_app", "--factory",
                                 "--host", "127.0.0.1", "--port", str(port)], cwd=app, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline, status = time.time() + 120, None
            while time.time() < deadline and proc.poll() is None:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code
                    if status == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            log = "" if proc.poll() is None else proc.stdout.read().decode(errors="replace")[-3000:]
            assert status == 200, log
        finally:
            proc.terminate()
            proc.wait(30)
        assert (app / "var" / "model-cache" / "v1").is_dir()
        site = next((venv / "lib").glob("python3*/site-packages"))
        assert not (site.parent / "var").exists() and not (site / "var").exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)
