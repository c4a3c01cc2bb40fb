"""One settings object: every working folder under one var dir, runtime knobs defined once."""

from __future__ import annotations

from wastesort.settings import ApiSettings, RuntimeConfig, Settings


def test_every_unset_folder_lives_under_the_var_dir_of_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WASTESORT_VAR_DIR", raising=False)
    monkeypatch.delenv("WASTESORT_DATA__CACHE_DIR", raising=False)
    s = Settings()
    var = tmp_path / "var"
    assert s.var_dir == var  # never inside an installed package, whatever the install
    assert s.store.uri == f"file:{var / 'models'}" and s.data.cache_dir == var / "cache"
    assert {s.api.allowed_root, s.api.samples_dir, s.api.review_dir, s.api.config_dir, s.api.model_cache_dir} == {
        var / "images", var / "samples", var / "review", var / "config", var / "model-cache"}
    assert (s.trainer.queue_dir, s.trainer.runs_dir) == (var / "queue", var / "jobs")
    assert s.trainer.result_backend == f"db+sqlite:///{var / 'queue' / 'results.sqlite'}"


def test_a_folder_set_on_its_own_wins_over_the_var_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("WASTESORT_VAR_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("WASTESORT_API__REVIEW_DIR", str(tmp_path / "shared-review"))
    s = Settings()
    assert s.api.review_dir == tmp_path / "shared-review" and s.api.config_dir == tmp_path / "state" / "config"


def test_runtime_knobs_are_defined_once_and_set_from_the_environment(monkeypatch):
    monkeypatch.setenv("WASTESORT_API__RUNTIME__TOP_K", "5")
    monkeypatch.setenv("WASTESORT_API__RUNTIME__UNCERTAIN_RULE", "manual")
    s = Settings()
    assert s.api.runtime.top_k == 5 and s.api.runtime.uncertain_rule == "manual"
    assert not set(RuntimeConfig.model_fields) & set(ApiSettings.model_fields)
