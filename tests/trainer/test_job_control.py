"""Poison jobs and double deliveries, on both job-control backends (folder and a real redis-server)."""

from __future__ import annotations

import pytest
from celery.exceptions import Ignore

from tests.api.conftest import api_settings
from wastesort.queue import MAX_DELIVERIES, JobControl
from wastesort.settings import Settings, TrainerSettings
from wastesort.store import LocalStore
from wastesort_trainer.tasks import PoisonJob, guarded_retrain

TINY = {"mode": "scratch", "preset": "tiny", "limit": 12}


@pytest.fixture(params=["folder", "redis"])
def control(request, tmp_path) -> JobControl:
    if request.param == "folder":
        return JobControl(api_settings(tmp_path))
    url, _ = request.getfixturevalue("redis_server")
    return JobControl(Settings(trainer=TrainerSettings(broker_url=url, result_backend=url)))


def test_a_job_that_keeps_killing_its_worker_is_failed_not_retried_forever(control, tmp_path):
    for _ in range(MAX_DELIVERIES):  # three deliveries that each died mid-job
        control.count_delivery("poison")
    with pytest.raises(PoisonJob, match=f"delivered {MAX_DELIVERIES + 1} times"):
        guarded_retrain(TINY, job_id="poison", control=control)


def test_a_second_delivery_of_a_running_job_is_left_alone(control):
    with control.lock("job") as first:
        with control.lock("job") as second:
            assert first and not second
        with pytest.raises(Ignore):
            guarded_retrain(TINY, job_id="job", control=control)
    with control.lock("job") as again:
        assert again  # released when the first delivery ends


def test_a_cancelled_job_is_not_started(control):
    control.cancel("gone")
    assert guarded_retrain(TINY, job_id="gone", control=control)["cancelled"] is True


def test_guarded_retrain_runs_an_ordinary_job_once(tmp_path, monkeypatch):
    from wastesort.settings import get_settings

    settings = api_settings(tmp_path)
    monkeypatch.setenv("WASTESORT_STORE__URI", settings.store.uri)
    monkeypatch.setenv("WASTESORT_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        res = guarded_retrain(TINY, job_id="ok", control=JobControl(get_settings()))
    finally:
        get_settings.cache_clear()
    assert res["promoted"] and LocalStore(tmp_path / "store").current() == res["version"]
