"""Decoding is bounded over all requests: past the bound a request gets 503 + Retry-After at once instead
of queueing ahead of everyone's model calls."""

from __future__ import annotations

import asyncio
import io

import numpy as np
from PIL import Image

from tests.api.conftest import api_settings, running_app
from tests.utils.factories import TRASHNET
from wastesort.store import LocalStore


def _big_png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)  # takes a while to decode
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def test_requests_past_the_decode_bound_get_503_with_retry_after(tmp_path, artifact, run):
    settings = api_settings(tmp_path, max_files=4, max_decoding=4, max_upload_bytes=64 * 2**20)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")
    heavy = [("files", (f"{i}.png", _big_png(i), "image/png")) for i in range(4)]
    glass = [("files", ("g.jpg", (TRASHNET / "glass" / "glass1.jpg").read_bytes(), "image/jpeg"))]

    async def go():
        async with running_app(settings) as c:
            first = asyncio.ensure_future(c.post("/v1/predict", files=heavy))
            for _ in range(200):  # until the heavy request is decoding
                await asyncio.sleep(0.01)
                if c.app.state.ws.predictor._decoding:
                    break
            refused = await c.post("/v1/predict", files=glass)
            done = await first
            after = await c.post("/v1/predict", files=glass)
            return refused, done, after, (await c.get("/metrics")).text

    refused, done, after, metrics = run(go())
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert "being decoded" in refused.json()["error"]["message"]
    assert done.status_code == 200 and after.status_code == 200  # the bound frees itself
    assert 'wastesort_rejected_total{reason="decode_full"} 1.0' in metrics


def test_a_request_larger_than_the_decode_bound_is_a_configuration_error():
    import pytest

    from wastesort.settings import ApiSettings

    with pytest.raises(ValueError, match="max_files"):
        ApiSettings(max_files=10, max_decoding=4)
