"""A tiny file cannot buy seconds of CPU and a gigabyte of memory: thin strips are refused before any resize."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from tests.api.conftest import running_app
from wastesort.preprocess import ImageError, decode_image


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("size", [(10000, 1), (1, 10000), (3000, 200)])
def test_thin_strips_are_refused_by_the_decoder(size):
    with pytest.raises(ImageError, match="12 to 1"):
        decode_image(_png(*size))


def test_thin_strip_is_a_fast_400_naming_the_limit(published, run):
    strip = _png(10000, 1)
    assert len(strip) < 200

    async def go():
        async with running_app(published) as c:
            started = time.perf_counter()
            r = await c.post("/v1/predict", files=[("files", ("s.png", strip, "image/png"))])
            return r, time.perf_counter() - started

    r, seconds = run(go())
    assert r.status_code == 400 and "12 to 1" in r.json()["error"]["message"]
    assert seconds < 1.0  # was 10 s and +1 GB before the bound
    ok = decode_image(_png(1200, 200))  # a 6:1 panorama of a belt is still an image
    assert ok.shape == (200, 1200, 3)
