"""A live API (uvicorn process) and a live worker over the embedded queue, serving a tiny real model."""

from __future__ import annotations

import pytest

from tests.api.conftest import api_settings
from tests.utils.procs import start_api, stop
from wastesort.store import LocalStore


@pytest.fixture
def live_api(tmp_path, artifact):
    s = api_settings(tmp_path)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")
    api, url = start_api(s, tmp_path / "api.log")
    try:
        yield s, url
    finally:
        stop(api)
