"""A client generated from the committed openapi.json (openapi-python-client, as users would) drives a
live API and worker end to end: predict a real photo, read /info, change a setting, retrain and poll."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.api.conftest import TOKEN
from tests.utils.factories import real_samples
from tests.utils.procs import start_worker, stop
from wastesort import CLASSES

SPEC = Path(__file__).resolve().parents[2] / "openapi.json"


def generate_client(dest: Path):
    """``openapi-python-client generate`` into ``dest``; returns the imported package."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff post-hook
    subprocess.run([str(bin_dir / "openapi-python-client"), "generate", "--path", str(SPEC), "--output-path",
                    str(dest / "wastesort_client"), "--meta", "none"], check=True, env=env, capture_output=True)
    sys.path.insert(0, str(dest))
    try:
        return importlib.import_module("wastesort_client")
    finally:
        sys.path.remove(str(dest))


def test_generated_client_predicts_configures_and_retrains(live_api, tmp_path):
    settings, url = live_api
    sdk = generate_client(tmp_path / "gen")
    from wastesort_client.api.config import change_config, get_info
    from wastesort_client.api.jobs import get_job, retrain
    from wastesort_client.api.predict import predict
    from wastesort_client.models import BodyPredict, ChangeTopK, RetrainIn, RetrainInMode, RetrainInPreset
    from wastesort_client.types import File

    client = sdk.Client(base_url=url, timeout=60)
    admin = sdk.AuthenticatedClient(base_url=url, token=TOKEN, timeout=60)

    photo = real_samples("test", 1)[1]  # a glass photo
    with photo.path.open("rb") as fh:
        out = predict.sync(client=client, body=BodyPredict(files=[File(payload=fh, file_name=photo.path.name,
                                                                       mime_type="image/jpeg")]))
    assert len(out.predictions) == 1
    p = out.predictions[0]
    assert p.label in CLASSES and p.model_version == "v1" and 0 < p.confidence <= 1 and len(p.top_k) == 3

    info = get_info.sync(client=client)
    assert info.model.version == "v1" and info.config.top_k == 3

    refused = change_config.sync_detailed(client=sdk.AuthenticatedClient(base_url=url, token="wrong"),
                                          body=ChangeTopK(value=2))
    assert refused.status_code == 401 and refused.parsed.error.code == "unauthorized"
    changed = change_config.sync(client=admin, body=ChangeTopK(value=2))
    assert changed.config.top_k == 2
    assert get_info.sync(client=client).config.top_k == 2

    worker = start_worker(settings, tmp_path / "worker.log")
    try:
        job = retrain.sync(client=admin, body=RetrainIn(mode=RetrainInMode.SCRATCH, preset=RetrainInPreset.TINY,
                                                        limit=6, force=True))
        deadline = time.time() + 300
        state = job
        while state.state not in ("SUCCESS", "FAILURE", "REVOKED") and time.time() < deadline:
            time.sleep(1)
            state = get_job.sync(job_id=job.id, client=client)
        assert state.state == "SUCCESS", (state.state, state.error, (tmp_path / "worker.log").read_text()[-2000:])
        version = state.result["version"]
        assert state.result["promoted"] and version.startswith("job-")
        while get_info.sync(client=client).model.version != version and time.time() < deadline:
            time.sleep(0.5)  # the replica follows the store's pointer
        assert get_info.sync(client=client).model.version == version
    finally:
        stop(worker)
        shutil.rmtree(tmp_path / "gen", ignore_errors=True)
