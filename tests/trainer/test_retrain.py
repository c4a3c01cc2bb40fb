"""The three modes as plain function calls (no Celery): real tiny training on real images."""

import pytest

from tests.api.conftest import api_settings
from tests.utils.factories import class_folder, jpeg_bytes
from wastesort import WastesortError
from wastesort.queue import RetrainRequest
from wastesort.store import LocalStore
from wastesort_trainer.retrain import build_training_set, run_retrain, version_for

TINY = {"preset": "tiny", "limit": 12}


def test_three_modes_publish_with_lineage_and_gate(tmp_path):
    settings = api_settings(tmp_path)
    store = LocalStore(tmp_path / "store")
    new = class_folder(tmp_path / "new", per_class=1, split="test")
    (new / "glass" / "broken.jpg").write_bytes(jpeg_bytes()[:50])

    with pytest.raises(WastesortError, match="needs a current model"):
        run_retrain(RetrainRequest(mode="finetune", new_data=str(new), **TINY), job_id="j0", settings=settings,
                    store=store)

    r1 = run_retrain(RetrainRequest(mode="scratch", **TINY), job_id="job1", settings=settings, store=store)
    assert r1["promoted"] and store.current() == version_for("job1") and r1["parent"] is None

    r2 = run_retrain(RetrainRequest(mode="finetune", new_data=str(new), force=True, **TINY), job_id="job2",
                     settings=settings, store=store)
    m2 = store.manifest(r2["version"])
    assert m2["parent"] == r1["version"] and m2["mode"] == "finetune"
    assert m2["data"]["new_data"]["skipped"] == 1 and "broken.jpg" in m2["data"]["new_data"]["problems"][0]
    assert m2["data"]["replay"] == 6 and m2["data"]["train"] == 12  # 6 new + 6 replayed base images
    assert r2["gate"] == "forced" and store.current() == r2["version"]
    assert m2["metrics"]["test"]["n"] == 12 and 0 <= m2["metrics"]["test"]["accuracy"] <= 1

    r3 = run_retrain(RetrainRequest(mode="scratch_plus_new", new_data=str(new), gate_margin=0.0, **TINY),
                     job_id="job3", settings=settings, store=store)
    m3 = store.manifest(r3["version"])
    assert m3["data"]["train"] == 12 + 6 and m3["parent"] == r2["version"]
    assert ("promoted" in r3) and (store.current() == r3["version"]) == r3["promoted"]

    # a job delivered twice publishes once
    again = run_retrain(RetrainRequest(mode="scratch", **TINY), job_id="job1", settings=settings, store=store)
    assert again["already_published"] and len(store.list_versions()) == 3


def test_quality_gate_refuses_a_worse_model(tmp_path, artifact):
    settings = api_settings(tmp_path)
    store = LocalStore(tmp_path / "store")
    store.publish(artifact, mode="scratch", version="good")
    m = store.manifest("good")
    m["metrics"]["val"]["accuracy"] = 1.0  # pretend current is perfect
    store._put_bytes("versions/good/manifest.json", __import__("json").dumps(m).encode())
    r = run_retrain(RetrainRequest(mode="scratch", **TINY), job_id="worse", settings=settings, store=store)
    assert not r["promoted"] and "worse than current" in r["gate"]
    assert store.current() == "good" and store.exists(r["version"])


def test_new_data_modes_need_data(tmp_path):
    settings = api_settings(tmp_path)
    with pytest.raises(WastesortError, match="needs new_data"):
        build_training_set(RetrainRequest(mode="scratch_plus_new", **TINY), settings, 0)


def test_cli_publish_goes_through_the_same_gate(tmp_path, artifact, monkeypatch, capsys):
    """`wastesort train --publish` used to make any run current; it now shares the worker's gate."""
    import json

    from wastesort.settings import get_settings
    from wastesort_trainer.cli import main

    store = LocalStore(tmp_path / "store")
    store.publish(artifact, mode="scratch", version="good")
    m = store.manifest("good")
    m["metrics"]["val"]["accuracy"] = 1.0
    store._put_bytes("versions/good/manifest.json", json.dumps(m).encode())
    monkeypatch.setenv("WASTESORT_STORE__URI", f"file:{tmp_path / 'store'}")
    monkeypatch.setenv("WASTESORT_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    try:
        assert main(["train", "--preset", "tiny", "--limit", "12", "--out", str(tmp_path / "run"), "--publish"]) == 0
        assert "NOT made current" in capsys.readouterr().out and store.current() == "good"
        assert main(["train", "--preset", "tiny", "--limit", "12", "--out", str(tmp_path / "run2"), "--publish",
                     "--force"]) == 0
        current = store.current()
        assert current not in (None, "good") and "onnx_max_abs_diff" in store.manifest(current)["metrics"]
    finally:
        get_settings.cache_clear()


def test_a_job_cancelled_after_its_last_training_step_publishes_nothing(tmp_path):
    import pytest

    from wastesort_trainer.train import Cancelled

    settings = api_settings(tmp_path)
    store = LocalStore(tmp_path / "store")
    seen: list[str] = []

    def progress(meta):
        seen.append(meta.get("stage", ""))

    # the flag goes up once the last epoch is reported: training itself never sees it
    with pytest.raises(Cancelled):
        run_retrain(RetrainRequest(mode="scratch", **TINY), job_id="cancelled", settings=settings, store=store,
                    progress=progress, should_stop=lambda: "train" in seen)
    assert store.list_versions() == [] and store.current() is None
