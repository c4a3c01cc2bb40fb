import pytest

from tests.api.conftest import AUTH, TOKEN, api_settings, running_app
from wastesort import WastesortError
from wastesort.settings import ApiSettings, Settings
from wastesort_api.main import create_app


def test_admin_endpoints_need_the_token(published, run):
    async def go():
        async with running_app(published) as c:
            for method, path, kw in [("post", "/v1/change", {"json": {"param": "top_k", "value": 2}}),
                                     ("post", "/v1/save_config", {"json": {"confirm": True}}),
                                     ("post", "/v1/restore_config", {"json": {"confirm": True}}),
                                     ("post", "/v1/refresh", {}), ("post", "/v1/retrain", {"json": {}}),
                                     ("post", "/v1/models/rollback", {}), ("post", "/v1/models/v1/promote", {}),
                                     ("post", "/v1/models/reload", {}), ("post", "/change", {"json": {}})]:
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                    r = await getattr(c, method)(path, headers=headers, **kw)
                    assert r.status_code == 401, (path, headers, r.text)
                    assert r.json()["error"]["code"] == "unauthorized"
            assert (await c.get("/v1/info")).json()["config"]["top_k"] == 3  # nothing changed
    run(go())


def test_refuses_to_start_with_open_admin_unless_told(tmp_path):
    with pytest.raises(WastesortError, match="ADMIN_TOKEN"):
        create_app(Settings(api=ApiSettings(admin_token=None)))
    create_app(Settings(api=ApiSettings(admin_token=None, allow_open_admin=True)))


def test_change_validates_and_changes_nothing_on_error(published, run):
    async def go():
        async with running_app(published) as c:
            r = await c.post("/v1/change", json={"param": "top_k", "value": 2}, headers=AUTH)
            assert r.status_code == 200 and r.json()["config"]["top_k"] == 2
            for param, value, msg in [("nope", 1, "'nope'"), ("top_k", 0, "top_k"),
                                      ("top_k", "many", "top_k"), ("uncertain_threshold", 1.5, "uncertain_threshold")]:
                r = await c.post("/v1/change", json={"param": param, "value": value}, headers=AUTH)
                assert r.status_code == 422 and msg in r.json()["error"]["message"], r.text
            info = (await c.get("/v1/info")).json()
            assert info["config"]["top_k"] == 2 and info["config"]["uncertain_threshold"] == 0.6
            assert info["model"]["version"] == "v1" and info["model"]["engine"] in ("openvino-f32", "openvino-bf16")
            r = await c.post("/v1/predict", files=[("files", ("a.jpg", b"x" * 10, "image/jpeg"))])
            assert r.status_code == 400
    run(go())


def test_save_restore_roundtrip_confirm_and_paths(published, tmp_path, run):
    async def go():
        async with running_app(published) as c:
            await c.post("/v1/change", json={"param": "top_k", "value": 5}, headers=AUTH)
            r = await c.post("/v1/save_config", json={"confirm": False}, headers=AUTH)
            assert r.status_code == 400 and r.json()["error"]["code"] == "confirm_required"
            assert not (tmp_path / "config" / "api_config.json").exists()
            r = await c.post("/v1/save_config", json={"confirm": True}, headers=AUTH)
            assert r.status_code == 200 and (tmp_path / "config" / "api_config.json").is_file()
            await c.post("/v1/change", json={"param": "top_k", "value": 1}, headers=AUTH)
            r = await c.post("/v1/restore_config", json={"confirm": True}, headers=AUTH)
            assert r.json()["config"]["top_k"] == 5 and r.json()["found"] is True
            r = await c.post("/v1/restore_config", json={"confirm": True, "path": "missing.json"}, headers=AUTH)
            assert r.json()["found"] is False and r.json()["config"]["top_k"] == 3  # documented defaults
            for bad in ["../x.json", "/etc/passwd.json", "%2e%2e/x.json", "sub/../../x.json", "x.txt"]:
                r = await c.post("/v1/restore_config", json={"confirm": True, "path": bad}, headers=AUTH)
                assert r.status_code == 400, bad
                r = await c.post("/v1/save_config", json={"confirm": True, "path": bad}, headers=AUTH)
                assert r.status_code == 400, bad
            assert sorted(p.name for p in (tmp_path / "config").iterdir()) == ["api_config.json"]
    run(go())


def test_cors_off_by_default_and_configurable(tmp_path, artifact, run):
    async def go():
        async with running_app(api_settings(tmp_path)) as c:
            r = await c.options("/v1/info", headers={"Origin": "http://evil", "Access-Control-Request-Method": "GET"})
            assert "access-control-allow-origin" not in r.headers
        async with running_app(api_settings(tmp_path, cors_origins=["http://line.example"])) as c:
            r = await c.get("/v1/info", headers={"Origin": "http://line.example"})
            assert r.headers["access-control-allow-origin"] == "http://line.example"
    run(go())


def test_empty_or_short_admin_token_never_opens_the_admin_routes(monkeypatch):
    """`WASTESORT_API='{"admin_token": ""}'` used to pass the start-up check and match an empty header."""
    from wastesort_api.main import create_app

    monkeypatch.setenv("WASTESORT_API", '{"admin_token": ""}')
    assert Settings().api.admin_token is None
    with pytest.raises(WastesortError, match="refusing to start"):
        create_app(Settings())
    monkeypatch.setenv("WASTESORT_API", '{"admin_token": "   "}')
    assert Settings().api.admin_token is None
    monkeypatch.setenv("WASTESORT_API", '{"admin_token": "short"}')
    with pytest.raises(ValueError, match="at least 16 characters"):
        Settings()
