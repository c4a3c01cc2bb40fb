"""How well the operator's loop adapts a model to one site: label k photos a class, adapt, test on the rest.

Folds rotate through each class's photos (fold f labels photos f*k .. f*k+k-1 of a shuffled class), so
every photo of the site is tested; repeats reshuffle. The features are extracted once and every fold
runs :func:`wastesort_trainer.adapt.adapt_head`, the job's own code; one real ``adapt`` job is then run
through :func:`wastesort_trainer.retrain.run_retrain` on a scratch store to time the job end to end.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wastesort import CLASSES
from wastesort.data import Sample, by_split, load_samples, stratified_head, validate
from wastesort_trainer.adapt import REPLAY, SiteData, adapt_head
from wastesort_trainer.evaluation import ImageCache
from wastesort_trainer.features import Head, accuracy, extract
from wastesort_trainer.models import LoadedModel


def shot_folds(y: np.ndarray, k: int, seed: int) -> list[np.ndarray]:
    """Labelled index sets, k per class, rotating through each shuffled class (as many folds as the
    smallest class needs to have each of its photos labelled once)."""
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    n_folds = math.ceil(min(len(p) for p in perms) / k)
    return [np.concatenate([p[[(f * k + j) % len(p) for j in range(k)]] for p in perms]) for f in range(n_folds)]


def _per_class(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {CLASSES[c]: float((pred[y == c] == c).mean()) for c in np.unique(y)}


def bench(loaded: LoadedModel, site: Sequence[Sample], data_root: Path, shots: Sequence[int], *,
          repeats: int = 2, max_val_drop: float = 0.02) -> dict[str, Any]:
    cfg, cache, model = loaded.card.pretrained_cfg, ImageCache(), loaded.model.eval()
    base_samples = load_samples(data_root)
    parts = {"replay": stratified_head(by_split(base_samples, "train"), REPLAY),
             "val": by_split(base_samples, "val"), "test": by_split(base_samples, "test"), "site": list(site)}
    x, y, seconds = {}, {}, {}
    for name, samples in parts.items():
        started = time.time()
        x[name] = extract(model, samples, cfg, cache=cache)
        y[name] = np.array([s.label for s in samples])
        seconds[name] = round(time.time() - started, 1)
        print(f"features: {name} ({len(samples)} photos) in {seconds[name]} s", flush=True)
    mirror = extract(model, parts["site"], cfg, cache=cache, mirrored=True)
    base = Head.of(model)
    base_site = base.logits(x["site"]).argmax(1)
    out: dict[str, Any] = {
        "site_photos": len(site), "site_counts": np.bincount(y["site"], minlength=len(CLASSES)).tolist(),
        "base": {"site_accuracy": accuracy(base.logits(x["site"]), y["site"]),
                 "site_per_class": _per_class(base_site, y["site"]),
                 "test_accuracy": accuracy(base.logits(x["test"]), y["test"])},
        "feature_seconds": seconds, "shots": {}}
    for k in shots:
        rows = []
        for seed in range(repeats):
            for lab in shot_folds(y["site"], k, seed):
                rest = np.setdiff1d(np.arange(len(y["site"])), lab)
                a = adapt_head(base, x["replay"], y["replay"], SiteData(x["site"][lab], y["site"][lab], mirror[lab]),
                               x["val"], y["val"], max_val_drop=max_val_drop)
                pred = a.head.logits(x["site"][rest]).argmax(1)
                rows.append({"seed": seed, "site_accuracy": float((pred == y["site"][rest]).mean()),
                             "base_site_accuracy": float((base_site[rest] == y["site"][rest]).mean()),
                             "test_accuracy": accuracy(a.head.logits(x["test"]), y["test"]),
                             "per_class": _per_class(pred, y["site"][rest]), "share": a.share, "C": a.c,
                             "fit_seconds": round(a.seconds, 1)})
        acc = np.array([r["site_accuracy"] for r in rows])
        test = np.array([r["test_accuracy"] for r in rows])
        out["shots"][str(k)] = {
            "folds": len(rows), "site_accuracy_mean": float(acc.mean()), "site_accuracy_std": float(acc.std()),
            "site_accuracy_min": float(acc.min()), "site_accuracy_max": float(acc.max()),
            "base_site_accuracy_mean": float(np.mean([r["base_site_accuracy"] for r in rows])),
            "test_change_mean": float(test.mean() - out["base"]["test_accuracy"]),
            "per_class_mean": {c: float(np.mean([r["per_class"][c] for r in rows])) for c in rows[0]["per_class"]},
            "fit_seconds_mean": float(np.mean([r["fit_seconds"] for r in rows])), "rows": rows}
        s = out["shots"][str(k)]
        print(f"k={k}: site {s['site_accuracy_mean']:.3f} ± {s['site_accuracy_std']:.3f} over {len(rows)} folds "
              f"(base {s['base_site_accuracy_mean']:.3f}), TrashNet test {s['test_change_mean']:+.3f}", flush=True)
    return out


def time_job(model_folder: Path, site: Sequence[Sample], k: int, data_root: Path) -> dict[str, Any]:
    """One real adapt job (k photos a class) on a scratch store: the wall time an operator waits."""
    from wastesort.queue import RetrainRequest
    from wastesort.settings import Settings, StoreSettings, TrainerSettings
    from wastesort.store import LocalStore
    from wastesort_trainer.retrain import run_retrain

    tmp = Path(tempfile.mkdtemp(prefix="adapt-bench-"))
    try:
        y = np.array([s.label for s in site])
        for i in shot_folds(y, k, seed=0)[0]:
            dest = tmp / "site" / CLASSES[site[i].label]
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(site[i].path, dest / site[i].path.name)
        store = LocalStore(tmp / "store")
        store.publish(model_folder, mode="base", version="base")
        settings = Settings(var_dir=tmp / "var", store=StoreSettings(uri=f"file:{tmp / 'store'}"),
                            trainer=TrainerSettings(runs_dir=tmp / "runs"), data={"root": data_root})
        started = time.time()
        res = run_retrain(RetrainRequest(mode="adapt", new_data=str(tmp / "site")), job_id="adapt-bench",
                          settings=settings, store=store)
        return {"k": k, "photos": int(k * len(np.unique(y))), "seconds": round(time.time() - started, 1),
                "promoted": res["promoted"], "gate": res["gate"], "judged": res["judged"]}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = sorted(int(k) for k in result["shots"])
    mean = [result["shots"][str(k)]["site_accuracy_mean"] for k in ks]
    std = [result["shots"][str(k)]["site_accuracy_std"] for k in ks]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(ks, mean, yerr=std, marker="o", capsize=4, label="adapted (mean ± std over folds)")
    ax.axhline(result["base"]["site_accuracy"], color="grey", ls="--", label="before adapting")
    ax.set(xlabel="labelled site photos per class (k)", ylabel="accuracy on the site's other photos",
           ylim=(0, 1), xticks=ks, title=f"adapting to {result['site']}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_site(root: Path) -> list[Sample]:
    samples, _ = validate(load_samples(root), root)
    return samples
