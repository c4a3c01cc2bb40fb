"""Where an epoch of a training preset goes on this machine (issue #22): loading + augmentation vs forward,
backward and optimiser, plus validation, from the stage timers every training run records in its history.

Runs the real recipe (``wastesort_trainer.train.run``) for ``--steps`` steps of one epoch, then scales the
per-step figures to a whole epoch and to the preset's epochs. Object masks are cut once per machine and
cached on disk; a first run on a new machine includes that in its wall time, not in the per-step figures.

Run: ``python -m benchmarks.profile_train --preset default --steps 12``
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from wastesort.data import by_split, load_samples
from wastesort.recipe import PRESETS, TrainConfig
from wastesort.settings import get_settings
from wastesort_trainer.report import machine, save_json_report
from wastesort_trainer.train import run

STAGES = ("data", "forward", "backward", "optimizer")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="default")
    ap.add_argument("--steps", type=int, default=12, help="training steps measured")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="recipe overrides (JSON values)")
    ap.add_argument("--report", default=None, help="JSON path (default reports/profile_train_<preset>.json)")
    args = ap.parse_args(argv)
    overrides = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    cfg = TrainConfig(**{**PRESETS[args.preset], **overrides})
    samples = load_samples(get_settings().data.root)
    train, val = by_split(samples, "train"), by_split(samples, "val")
    probe = cfg.model_copy(update={"epochs": 1, "max_steps_per_epoch": args.steps, "calibrate": False, "tta": False})
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(probe, train, val, Path(tmp), resume=False, show_bar=False)
    row = result.history[0]
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    per_step = {k: row[f"seconds_{k}"] / row["steps"] for k in STAGES}
    epoch_s = sum(per_step.values()) * steps_per_epoch + row["seconds_validate"]
    out = {"machine": machine(), "preset": args.preset, "overrides": overrides, "steps_measured": row["steps"],
           "per_step_s": {k: round(v, 3) for k, v in per_step.items()},
           "step_s": round(sum(per_step.values()), 3), "steps_per_epoch": steps_per_epoch,
           "validate_s": row["seconds_validate"], "epoch_min": round(epoch_s / 60, 2),
           "epochs": cfg.epochs, "training_min_estimate": round(cfg.epochs * epoch_s / 60, 1),
           "probe_wall_s": round(time.time() - started, 1)}
    total = sum(per_step.values())
    print(f"{args.preset}: {cfg.architecture} at {cfg.input_size} px, batch {cfg.batch_size}, "
          f"freeze_groups {cfg.freeze_groups}, augment {cfg.augment}, paste_p {cfg.paste_p}")
    for k, v in per_step.items():
        print(f"  {k:10s} {v:6.3f} s/step  {100 * v / total:5.1f}%")
    print(f"  step {total:.3f} s x {steps_per_epoch} steps + validation {row['seconds_validate']:.1f} s = "
          f"{out['epoch_min']:.2f} min/epoch; x {cfg.epochs} epochs ~ {out['training_min_estimate']} min "
          "(plus model load, final TTA check and calibration)")
    print(out["machine"])
    save_json_report(args.report or f"reports/profile_train_{args.preset}.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
