"""Hyperparameter search scored on the validation split only, plus k-fold cross-validation.

``grid`` is the seed's grid (initial LR x exponential LR decay x batch size); ``optuna`` searches the
recipe's main knobs with TPE. The test split is touched once, for the chosen trial, so the table's test
column is a report, never a selection signal.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wastesort import CLASSES
from wastesort.data import Sample, by_split, stratified_head, validate
from wastesort.recipe import TrainConfig
from wastesort_trainer.evaluation import evaluate
from wastesort_trainer.train import run

log = logging.getLogger(__name__)

GRID = {"lr": [1e-3, 3e-3], "lr_decay": [0.8, 0.9], "batch_size": [16, 32]}
# Trials are short by default so a whole grid fits in well under an hour on 2 cores; pass --epochs /
# --input-size to search at full budget.
TRIAL_BUDGET = {"epochs": 2, "input_size": 160, "tta": False, "warmup_epochs": 0.3, "calibrate": False}


def _trial(cfg: TrainConfig, train: Sequence[Sample], val: Sequence[Sample], out: Path) -> dict[str, Any]:
    res = run(cfg, train, val, out, show_bar=False)
    rep = res.val_report
    return {"val_accuracy": rep["accuracy"], "val_macro_f1": rep["macro_f1"], "val_min_recall": rep["min_recall"],
            "val_loss": rep["loss"], "minutes": round(res.seconds / 60, 2), "model": str(out / "best")}


def _write_table(rows: list[dict[str, Any]], keys: list[str], out_dir: Path) -> None:
    cols = ["trial", *keys, "val_accuracy", "val_macro_f1", "val_min_recall", "val_loss", "test_accuracy",
            "test_macro_f1", "minutes", "chosen"]
    with (out_dir / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    def fmt(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else ("" if v is None else str(v))

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    (out_dir / "results.md").write_text("\n".join(lines) + "\n\nChosen on val accuracy (then val loss); test is "
                                        "computed for the chosen trial only.\n")


def _plot(rows: list[dict[str, Any]], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.8), 4))
    colors = ["tab:orange" if r.get("chosen") else "tab:blue" for r in rows]
    ax.bar([str(r["trial"]) for r in rows], [r["val_accuracy"] for r in rows], color=colors)
    ax.set_xlabel("trial")
    ax.set_ylabel("val accuracy")
    ax.set_ylim(min(r["val_accuracy"] for r in rows) - 0.05, 1.0)
    ax.set_title("Search (orange: chosen on val)")
    fig.tight_layout()
    fig.savefig(out_dir / "search.png", dpi=90)
    plt.close(fig)


def kfold(base: TrainConfig, samples: Sequence[Sample], folds: int, out_dir: Path, seed: int = 0,
          limit: int | None = None) -> dict[str, Any]:
    """Stratified k-fold over train+val with one config: mean and std of each val metric."""
    from sklearn.model_selection import StratifiedKFold

    pool = stratified_head([s for s in samples if s.split in ("train", "val")], limit)
    y = np.array([s.label for s in pool])
    per_fold = []
    for k, (tr, va) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)):
        print(f"fold {k + 1}/{folds}: {len(tr)} train, {len(va)} val", flush=True)
        r = _trial(base, [pool[i] for i in tr], [pool[i] for i in va], out_dir / f"fold{k + 1}")
        per_fold.append(r)
    summary = {}
    for m in ("val_accuracy", "val_macro_f1", "val_min_recall"):
        vals = np.array([r[m] for r in per_fold])
        summary[m] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}
        print(f"  {m}: {vals.mean():.4f} +- {summary[m]['std']:.4f}")
    (out_dir / "kfold.json").write_text(json.dumps({"folds": per_fold, "summary": summary}, indent=2))
    return summary


def run_search(samples: Sequence[Sample], *, mode: str, base: TrainConfig, out_dir: Path, trials: int = 8,
               folds: int = 0, limit: int | None = None, explicit: set[str] | None = None) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    root = samples[0].path.parent.parent if samples else ""
    train, _ = validate(stratified_head(by_split(samples, "train"), limit), root)
    val, _ = validate(stratified_head(by_split(samples, "val"), limit), root)
    explicit = explicit or set()
    budget = {k: v for k, v in TRIAL_BUDGET.items() if k not in explicit}
    base = base.model_copy(update=budget)
    rows: list[dict[str, Any]] = []

    if mode == "grid":
        keys = list(GRID)
        for i, values in enumerate(itertools.product(*GRID.values())):
            params = dict(zip(keys, values, strict=True)) | {"schedule": "exp"}
            print(f"trial {i + 1}/{len(list(itertools.product(*GRID.values())))}: {params}", flush=True)
            cfg = base.model_copy(update=params)
            rows.append({"trial": i + 1, **params, **_trial(cfg, train, val, out_dir / f"trial{i + 1}")})
            print(f"  val accuracy {rows[-1]['val_accuracy']:.4f}", flush=True)
    elif mode == "optuna":
        import optuna

        keys = ["lr", "layer_decay", "label_smoothing", "weight_decay", "batch_size", "augment"]

        def objective(trial: optuna.Trial) -> float:
            params = {"lr": trial.suggest_float("lr", 5e-4, 6e-3, log=True),
                      "layer_decay": trial.suggest_float("layer_decay", 0.8, 1.0),
                      "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
                      "weight_decay": trial.suggest_float("weight_decay", 1e-3, 0.1, log=True),
                      "batch_size": trial.suggest_categorical("batch_size", [16, 32]),
                      "augment": trial.suggest_categorical("augment", ["basic", "strong", "robust"])}
            n = trial.number + 1
            print(f"trial {n}/{trials}: {params}", flush=True)
            r = _trial(base.model_copy(update=params), train, val, out_dir / f"trial{n}")
            rows.append({"trial": n, **params, **r})
            print(f"  val accuracy {r['val_accuracy']:.4f}", flush=True)
            return r["val_accuracy"] - 1e-3 * r["val_loss"]  # accuracy first, loss breaks ties

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=base.seed))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(objective, n_trials=trials)
    else:
        raise ValueError(f"unknown search mode {mode!r}")

    best = max(rows, key=lambda r: (r["val_accuracy"], -r["val_loss"]))
    best["chosen"] = True
    from wastesort_trainer.models import load_classifier

    test, _ = validate(stratified_head(by_split(samples, "test"), limit), root)
    loaded = load_classifier(best["model"])
    rep = evaluate(loaded.model, test, loaded.card.pretrained_cfg, labels=CLASSES)
    best["test_accuracy"], best["test_macro_f1"] = rep["accuracy"], rep["macro_f1"]
    _write_table(rows, keys, out_dir)
    _plot(rows, out_dir)
    print((out_dir / "results.md").read_text())
    result: dict[str, Any] = {"mode": mode, "chosen": best, "trials": rows}
    if folds:
        chosen_cfg = base.model_copy(update={k: best[k] for k in keys} | (
            {"schedule": "exp"} if mode == "grid" else {}))
        result["kfold"] = kfold(chosen_cfg, samples, folds, out_dir / "kfold", seed=base.seed, limit=limit)
    (out_dir / "search.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"search report: {out_dir}")
    return result
