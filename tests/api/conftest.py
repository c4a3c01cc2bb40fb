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
    return Settings(
        store=StoreSettings(uri=f"file:{tmp / 'store'}"),
        api=ApiSettings(admin_token=TOKEN, allowed_root=tmp / "images", samples_dir=tmp / "samples",
                        review_dir=tmp / "review", config_dir=tmp / "config", model_cache_dir=tmp / "cache",
                        watch_interval_s=0.2, **api),
        trainer=TrainerSettings(queue_dir=tmp / "queue", runs_dir=tmp / "runs",
                                result_backend=f"db+sqlite:///{tmp / 'queue' / 'results.sqlite'}"),
    )


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
