"""An explicit list of formats, decoded faithfully: 16-bit scaled, alpha on white, the rest a 415."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.api.conftest import running_app
from wastesort.preprocess import UnsupportedFormat, decode_image


def _save(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue()


def test_sixteen_bit_grey_is_scaled_not_saturated():
    arr = np.full((40, 40), 32896, dtype=np.uint16)  # mid-grey in 16 bits
    out = decode_image(_save(Image.fromarray(arr), "PNG"))
    assert out.dtype == np.uint8 and out.shape == (40, 40, 3) and abs(int(out[0, 0, 0]) - 128) <= 1


def test_transparent_pixels_become_the_white_board_not_the_hidden_colour():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # black, fully transparent
    rgba[:20, :, 3] = 255  # top half opaque black
    out = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert (out[:20] == 0).all() and (out[20:] == 255).all()


@pytest.mark.parametrize("fmt", ["TIFF", "GIF", "PPM"])
def test_formats_off_the_list_are_refused(fmt):
    with pytest.raises(UnsupportedFormat, match=fmt):
        decode_image(_save(Image.new("RGB", (40, 40), (10, 200, 30)), fmt))


def test_a_float_tiff_is_a_415_not_a_black_answer(published, run):
    tiff = _save(Image.fromarray(np.full((64, 64), 0.5, dtype=np.float32), "F"), "TIFF")

    async def go():
        async with running_app(published) as c:
            return await c.post("/v1/predict", files=[("files", ("x.tif", tiff, "application/octet-stream"))])

    r = run(go())
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"
    assert "TIFF" in r.json()["error"]["message"]
