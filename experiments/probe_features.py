"""Which frozen-feature head transfers best to real photos (issue #20, part A)?

The starter (untouched ImageNet features + a logistic head fitted on plain TrashNet train photos) beats every
fine-tuned model on the field set. This asks whether the head itself can be taught to look past the white
board without touching the backbone: fit it on features of *augmented* training photos (cut from the board
and pasted on training backgrounds, the recipe's colour patches and blur) instead of the plain photos, at
one or more input sizes. Each variant is scored on TrashNet val and the field set; C is chosen on val.

    .venv/bin/python -m experiments.probe_features --copies 4 --sizes 224 260

Features are cached under var/cache/features so variants can be re-scored without re-extracting.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

from wastesort import CLASSES
from wastesort.data import by_split, load_samples
from wastesort.settings import get_settings
from wastesort_trainer.augment import train_transform
from wastesort_trainer.evaluation import ImageCache, ImageDataset, error_detection
from wastesort_trainer.features import PooledFeatures, extract, logistic_head
from wastesort_trainer.models import create_backbone, default_data_config, default_weights
from wastesort_trainer.report import machine, save_json_report
from wastesort_trainer.train import background_replacement

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)


@torch.no_grad()
def augmented_features(model: torch.nn.Module, train, data_cfg, cache: ImageCache, *, seed: int,
                       paste_p: float, patch_p: float, motion_blur_p: float) -> np.ndarray:
    torch.manual_seed(seed)
    random.seed(seed)  # background_replacement draws its per-photo generators from python's random
    alter = background_replacement(train, paste_p) if paste_p else None
    ds = ImageDataset(train, train_transform(data_cfg, strength="robust", motion_blur_p=motion_blur_p,
                                             patch_p=patch_p), cache, alter)
    feats = PooledFeatures(model).eval()
    return torch.cat([feats(x.contiguous(memory_format=torch.channels_last))
                      for x, _ in DataLoader(ds, batch_size=32)]).numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--architecture", default="tf_efficientnet_lite2")
    ap.add_argument("--sizes", type=int, nargs="+", default=[224])
    ap.add_argument("--copies", type=int, default=4, help="augmented passes over train")
    ap.add_argument("--paste-p", type=float, default=0.5)
    ap.add_argument("--patch-p", type=float, default=0.5)
    ap.add_argument("--motion-blur-p", type=float, default=0.25)
    ap.add_argument("--field-crops", type=float, nargs="*", default=[0.8, 0.65],
                    help="also score the field set through a centre zoom (crop_pct < 1: the object fills more)")
    ap.add_argument("--report", default="reports/probe_features.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    settings = get_settings()
    trashnet = load_samples(settings.data.root)
    train, val = by_split(trashnet, "train"), by_split(trashnet, "val")
    field = load_samples(settings.data.field)
    y = {"train": np.array([s.label for s in train]), "val": np.array([s.label for s in val]),
         "field": np.array([s.label for s in field])}
    model = create_backbone(args.architecture, weights=default_weights(args.architecture)).eval()
    model = model.to(memory_format=torch.channels_last)
    cache_dir = settings.data.cache_dir / "features"
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = ImageCache()
    feats: dict[int, dict[str, np.ndarray]] = {}
    for size in args.sizes:
        cfg = default_data_config(args.architecture, size)
        f: dict[str, np.ndarray] = {}
        for name, samples in (("train", train), ("val", val), ("field", field)):
            path = cache_dir / f"{args.architecture}-{size}-{name}.npy"
            if not path.is_file():
                t0 = time.time()
                np.save(path, extract(model, samples, cfg, cache=cache))
                print(f"{size} px {name}: {len(samples)} photos in {time.time() - t0:.0f} s", flush=True)
            f[name] = np.load(path)
        for crop in args.field_crops:
            path = cache_dir / f"{args.architecture}-{size}-field-crop{crop}.npy"
            if not path.is_file():
                np.save(path, extract(model, field, cfg.model_copy(update={"crop_pct": crop}), cache=cache))
            f[f"field@{crop}"] = np.load(path)
        aug = []
        for k in range(args.copies):
            tag = f"p{args.paste_p}-q{args.patch_p}-m{args.motion_blur_p}-s{k}"
            path = cache_dir / f"{args.architecture}-{size}-train-aug-{tag}.npy"
            if not path.is_file():
                t0 = time.time()
                np.save(path, augmented_features(model, train, cfg, cache, seed=k, paste_p=args.paste_p,
                                                 patch_p=args.patch_p, motion_blur_p=args.motion_blur_p))
                print(f"{size} px augmented copy {k}: {time.time() - t0:.0f} s", flush=True)
            aug.append(np.load(path))
        f["aug"] = np.concatenate(aug) if aug else np.zeros((0, f["train"].shape[1]), np.float32)
        feats[size] = f

    def fit_and_score(xtr: np.ndarray, ytr: np.ndarray, xval: np.ndarray, xfield: np.ndarray,
                      zooms: dict[str, np.ndarray] | None = None) -> dict:
        best = None
        for c in C_GRID:
            head = logistic_head(xtr, ytr, c=c)
            va = float(np.mean(head.logits(xval).argmax(1) == y["val"]))
            if best is None or va > best[1]:
                best = (head, va, c)
        head, va, c = best
        lf = head.logits(xfield)
        pred = lf.argmax(1)
        per = {CLASSES[k]: f"{int(np.sum((pred == k) & (y['field'] == k)))}/{int(np.sum(y['field'] == k))}"
               for k in range(len(CLASSES))}
        zoomed = {}
        probs = [torch.from_numpy(lf).softmax(1).numpy()]
        for name, xz in (zooms or {}).items():
            lz = head.logits(xz)
            probs.append(torch.from_numpy(lz).softmax(1).numpy())
            zoomed[name] = round(100 * float(np.mean(lz.argmax(1) == y["field"])), 2)
        if zooms:
            zoomed["mean of whole frame + zooms"] = round(100 * float(np.mean(np.mean(probs, 0).argmax(1)
                                                                            == y["field"])), 2)
        return {"C": c, "val": round(100 * va, 2), "field": round(100 * float(np.mean(pred == y["field"])), 2),
                "field_per_class": per, "field_auroc": error_detection(lf, y["field"]).get("max_prob"),
                "field_zoomed": zoomed}

    rows = {}
    ycopies = np.tile(y["train"], args.copies)
    for size, f in feats.items():
        zooms = {k: v for k, v in f.items() if k.startswith("field@")}
        rows[f"{size} plain"] = fit_and_score(f["train"], y["train"], f["val"], f["field"], zooms)
        if args.copies:
            rows[f"{size} augmented x{args.copies}"] = fit_and_score(f["aug"], ycopies, f["val"], f["field"], zooms)
            rows[f"{size} plain + augmented"] = fit_and_score(np.concatenate([f["train"], f["aug"]]),
                                                              np.concatenate([y["train"], ycopies]),
                                                              f["val"], f["field"], zooms)
    if len(feats) > 1:
        cat = {k: np.concatenate([feats[s][k] for s in feats], axis=1) for k in ("train", "val", "field", "aug")}
        rows["concat sizes, plain + augmented"] = fit_and_score(np.concatenate([cat["train"], cat["aug"]]),
                                                                np.concatenate([y["train"], ycopies]),
                                                                cat["val"], cat["field"])
    for name, r in rows.items():
        print(f"{name:36s} C={r['C']:<5} val {r['val']:6.2f}  field {r['field']:6.2f}  auroc {r['field_auroc']}"
              f"  {r['field_per_class']}  zoomed {r['field_zoomed']}")
    save_json_report(args.report, {"machine": machine(), "args": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
