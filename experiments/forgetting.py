"""Measure what replay buys in ``finetune``: the seed fine-tuned on the new data alone.

New data that covers only some classes (what a review queue produces) pulls a model towards those
classes. This fine-tunes the store's current model on such a folder twice, with ``replay_ratio=0``
(the seed) and with the default replay, and reports val accuracy and per-class recall of each next
to the starting model's.

Run: ``python -m experiments.forgetting --classes glass metal --per-class 40 --epochs 2``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from wastesort import CLASSES
from wastesort.data import by_split, load_samples
from wastesort.queue import RetrainRequest
from wastesort.settings import Settings, TrainerSettings, get_settings
from wastesort.store import LocalStore, StoreError, open_store
from wastesort_trainer.report import save_json_report
from wastesort_trainer.retrain import run_retrain


def make_new_data(root: Path, dest: Path, classes: list[str], per_class: int) -> Path:
    """A class folder from the TRAIN split only (val stays the judge, test is never touched)."""
    train = by_split(load_samples(root), "train")
    for c in classes:
        (dest / c).mkdir(parents=True, exist_ok=True)
        for s in [s for s in train if CLASSES[s.label] == c][-per_class:]:
            shutil.copy(s.path, dest / c / s.path.name)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", nargs="+", default=["glass", "metal"])
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--replay-ratio", type=float, default=1.0)
    ap.add_argument("--report", default="reports/forgetting.json")
    args = ap.parse_args(argv)

    settings = get_settings()
    store = open_store(settings.store)
    work = Path(tempfile.mkdtemp(prefix="wastesort-forgetting-"))
    try:
        current, base_folder = store.fetch_current(work / "cache")
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    start = store.manifest(current)["metrics"]["val"]
    new = make_new_data(settings.data.root, work / "new", args.classes, args.per_class)
    report = {"start": {"version": current, "val_accuracy": start["accuracy"],
                        "recall": {c: m["recall"] for c, m in start["per_class"].items()}},
              "new_data": {"classes": args.classes, "per_class": args.per_class}, "runs": {}}
    for name, ratio in (("new_data_only", 0.0), ("with_replay", args.replay_ratio)):
        local = LocalStore(work / name / "store")
        local.publish(base_folder, mode="scratch", version="base")
        s = Settings(data=settings.data, store=settings.store,
                     trainer=TrainerSettings(runs_dir=work / name / "runs", queue_dir=work / name / "q"))
        res = run_retrain(RetrainRequest(mode="finetune", new_data=str(new), replay_ratio=ratio, force=True,
                                         preset="default", overrides={"epochs": args.epochs, "warmup_epochs": 0.3}),
                          job_id=name, settings=s, store=local)
        val = local.manifest(res["version"])["metrics"]["val"]
        report["runs"][name] = {"replay_ratio": ratio, "train_images": res["data"]["train"],
                                "val_accuracy": val["accuracy"],
                                "recall": {c: m["recall"] for c, m in val["per_class"].items()}}
        print(f"{name:<14} replay {ratio:.1f}: val accuracy {val['accuracy']:.4f}  "
              + " ".join(f"{c}={m['recall']:.2f}" for c, m in val["per_class"].items()), flush=True)
    print(f"start          val accuracy {start['accuracy']:.4f}")
    save_json_report(args.report, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
