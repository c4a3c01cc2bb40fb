"""Every bad input: a 4xx JSON error naming the problem; the service keeps serving; nothing changes."""

import io

import pytest
from PIL import Image

from tests.api.conftest import AUTH, api_settings, running_app
from tests.utils.factories import TRASHNET, jpeg_bytes
from wastesort.store import LocalStore

GLASS = (TRASHNET / "glass" / "glass1.jpg").read_bytes()


def _png(w, h) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h)).save(buf, format="PNG")
    return buf.getvalue()


CASES = [
    ("not an image", [("files", ("a.jpg", b"hello world", "image/jpeg"))], 400, "bad_image", "not a readable image"),
    ("truncated", [("files", ("t.jpg", GLASS[:300], "image/jpeg"))], 400, "bad_image", "t.jpg"),
    ("zero bytes", [("files", ("z.jpg", b"", "image/jpeg"))], 400, "bad_image", "empty file"),
    ("pixel bomb", [("files", ("big.png", _png(3000, 3000), "image/png"))], 400, "bad_image", "over the limit"),
    ("wrong type", [("files", ("a.txt", GLASS, "text/plain"))], 415, "unsupported_media_type", "text/plain"),
    ("too many", [("files", (f"{i}.jpg", jpeg_bytes(), "image/jpeg")) for i in range(5)], 413, "too_many_files",
     "at most 4"),
    ("one file over size", [("files", ("huge.jpg", b"\xff" * 300_000, "image/jpeg"))], 413, "too_large",
     "limit"),
    ("one bad among good", [("files", ("ok.jpg", GLASS, "image/jpeg")), ("files", ("bad.jpg", b"xx", "image/jpeg"))],
     400, "bad_image", "bad.jpg"),
]


@pytest.mark.parametrize("name,files,status,code,text", CASES, ids=[c[0] for c in CASES])
def test_bad_uploads(tmp_path, artifact, run, name, files, status, code, text):
    settings = api_settings(tmp_path, max_files=4, max_pixels=4_000_000, max_upload_bytes=200_000)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")

    async def go():
        async with running_app(settings) as c:
            r = await c.post("/v1/predict", files=files)
            assert r.status_code == status, r.text
            err = r.json()["error"]
            assert err["code"] == code and text in err["message"], err
            assert list((tmp_path / "review" / "pending").iterdir()) == []  # nothing stored
            ok = await c.post("/v1/predict", files=[("files", ("g.jpg", GLASS, "image/jpeg"))])
            assert ok.status_code == 200  # still serving
    run(go())


def test_body_over_limit_refused_before_reading(tmp_path, artifact, run):
    settings = api_settings(tmp_path, max_files=1, max_upload_bytes=10_000)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")

    async def go():
        async with running_app(settings) as c:
            r = await c.post("/v1/predict", content=b"x" * 200_000,
                             headers={"content-type": "multipart/form-data; boundary=x"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

            async def chunks():  # no Content-Length: counted while streaming
                yield (b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
                       b"Content-Type: image/jpeg\r\n\r\n")
                for _ in range(40):
                    yield b"y" * 10_000
            r = await c.post("/v1/predict", content=chunks(),
                             headers={"content-type": "multipart/form-data; boundary=x"})
            assert r.status_code == 413
    run(go())


def test_unknown_route_and_bad_params_use_the_error_shape(published, run):
    async def go():
        async with running_app(published) as c:
            r = await c.get("/v1/nope")
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
            r = await c.post("/v1/predict", params={"format": "xml"}, files=[("files", ("a.jpg", GLASS, "image/jpeg"))])
            assert r.status_code == 422 and "format" in r.json()["error"]["message"]
            r = await c.post("/v1/refresh", params={"num": "lots"}, headers=AUTH)
            assert r.status_code == 422
    run(go())


def test_no_model_yet_is_503_not_ready(tmp_path, run):
    async def go():
        async with running_app(api_settings(tmp_path)) as c:
            assert (await c.get("/healthz")).status_code == 200
            r = await c.get("/readyz")
            assert r.status_code == 503 and r.json()["status"] == "not_ready"
            r = await c.post("/v1/predict", files=[("files", ("a.jpg", GLASS, "image/jpeg"))])
            assert r.status_code == 503 and r.headers["retry-after"]
    run(go())
