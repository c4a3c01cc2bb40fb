"""The API package never reaches torch (nor the trainer's albumentations/timm): replicas stay small and
start fast. Checked in a fresh interpreter that imports the app, loads a model and answers a prediction."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.api.conftest import api_settings
from tests.utils.factories import TRASHNET
from tests.utils.procs import settings_env
from wastesort.store import LocalStore

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    import httpx
    import wastesort_api.main
    from wastesort_api.main import create_app
    heavy = ("torch", "timm", "albumentations", "torchvision", "wastesort_trainer")
    after_import = sorted(m for m in heavy if m in sys.modules)

    async def go():
        app = create_app()
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                r = await c.post("/v1/predict", files={"files": ("x.jpg", open(sys.argv[1], "rb").read())})
                return r.status_code, r.json()["predictions"][0]["model_version"]

    status, version = asyncio.run(go())
    print(json.dumps({"after_import": after_import, "after_predict": sorted(m for m in heavy if m in sys.modules),
                      "status": status, "version": version}))
""")


def test_api_serves_a_prediction_without_importing_torch(tmp_path, artifact):
    settings = api_settings(tmp_path)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(TRASHNET / "glass" / "glass1.jpg")],
                         env=settings_env(settings), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"after_import": [], "after_predict": [], "status": 200, "version": "v1"}
