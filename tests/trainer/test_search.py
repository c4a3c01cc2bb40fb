import csv

from tests.utils.factories import TRASHNET
from wastesort.data import load_samples
from wastesort.recipe import PRESETS, TrainConfig
from wastesort_trainer.search import run_search


def test_optuna_search_scores_on_val_reports_test_for_chosen_only_and_kfold(tmp_path):
    base = TrainConfig(**PRESETS["tiny"])
    result = run_search(load_samples(TRASHNET), mode="optuna", trials=2, folds=2, base=base, out_dir=tmp_path,
                        limit=12, explicit={"epochs", "input_size", "tta"})
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 2
    chosen = [r for r in rows if r["chosen"] == "True"]
    assert len(chosen) == 1
    assert chosen[0]["test_accuracy"] != "" and all(r["test_accuracy"] == "" for r in rows if r not in chosen)
    best_val = max(float(r["val_accuracy"]) for r in rows)
    assert float(chosen[0]["val_accuracy"]) == best_val
    assert (tmp_path / "results.md").read_text().startswith("| trial |")
    assert (tmp_path / "search.png").stat().st_size > 0
    summary = result["kfold"]
    assert set(summary) == {"val_accuracy", "val_macro_f1", "val_min_recall"}
    assert 0 <= summary["val_accuracy"]["mean"] <= 1 and summary["val_accuracy"]["std"] >= 0
    assert (tmp_path / "kfold" / "kfold.json").is_file()
