"""API fixtures: the real app over httpx's ASGI transport, a real (tiny, trained) model in a real store."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from wastesort.settings import ApiSettings, Settings, StoreSettings, TrainerSettings
from wastesort.store import LocalStore

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def api_settings(tmp: Path, **api) -> Settings:
    """Every folder under ``tmp`` (the var dir), the store at ``tmp/store``, a fast store watcher."""
    return Settings(var_dir=tmp, store=StoreSettings(uri=f"file:{tmp / 'store'}"),
                    api=ApiSettings(admin_token=TOKEN, watch_interval_s=0.2, **api),
                    trainer=TrainerSettings(runs_dir=tmp / "runs"))


@contextlib.asynccontextmanager
async def running_app(settings: Settings):
    from wastesort_api.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            client.app = app
            yield client


@pytest.fixture
def published(tmp_path, artifact) -> Settings:
    settings = api_settings(tmp_path)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")
    return settings
