"""Site adaptation by fine-tuning the top of the network, against refitting the head alone (issue #20, part B).

Refitting only the linear head on 5 site photos a class reaches ~45-53% on the site's other photos: the
frozen features do not separate this site's classes. This fine-tunes the last ``--train-groups`` coarse
groups + head on the labelled site photos (robust augmentation, every batch half site, half TrashNet replay)
with BatchNorm frozen (a step costs a third of a train-mode step on this CPU), for ``--steps`` steps, and
scores the site's other photos and TrashNet val, over the same folds as ``wastesort adapt-bench``.

    .venv/bin/python -m experiments.adapt_finetune MODEL --shots 5 --steps 60
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import timm.optim
import torch

from wastesort.data import by_split, load_samples, stratified_head
from wastesort.settings import get_settings
from wastesort_trainer.adapt_bench import shot_folds
from wastesort_trainer.augment import train_transform
from wastesort_trainer.evaluation import ImageCache, ImageDataset, predict_logits
from wastesort_trainer.models import load_classifier
from wastesort_trainer.report import machine, save_json_report
from wastesort_trainer.train import freeze_leading_groups, set_train_mode


def endless(ds: ImageDataset, gen: torch.Generator):
    """(image, label) pairs, reshuffled each pass, for as long as asked."""
    while True:
        for i in torch.randperm(len(ds), generator=gen).tolist():
            yield ds[i]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--shots", type=int, nargs="+", default=[5])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--train-groups", type=int, default=3, help="trailing coarse groups trained (head included)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--replay", type=int, default=300)
    ap.add_argument("--report", default="reports/adapt_finetune.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    settings = get_settings()
    loaded = load_classifier(args.model)
    cfg = loaded.card.pretrained_cfg
    trashnet = load_samples(settings.data.root)
    replay = stratified_head(by_split(trashnet, "train"), args.replay)
    val = by_split(trashnet, "val")
    site = load_samples(settings.data.field)
    y_site, y_val = np.array([s.label for s in site]), np.array([s.label for s in val])
    cache = ImageCache()
    aug = train_transform(cfg, strength="robust")
    base_site = predict_logits(loaded.model, site, cfg, cache=cache).argmax(1)
    base_val = float(np.mean(predict_logits(loaded.model, val, cfg, cache=cache).argmax(1) == y_val))
    n_groups = len(timm.models.group_parameters(loaded.model, loaded.model.group_matcher(coarse=True)))
    rows = []
    for k in args.shots:
        for fold, labelled in enumerate(shot_folds(y_site, k, seed=0)):
            started = time.time()
            rest = np.setdiff1d(np.arange(len(site)), labelled)
            model = copy.deepcopy(loaded.model)
            freeze_leading_groups(model, n_groups - args.train_groups)
            opt = timm.optim.create_optimizer_v2(model, "adamw", lr=args.lr, weight_decay=0.02)
            crit = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
            gen = torch.Generator().manual_seed(fold)
            src = [endless(ImageDataset([site[i] for i in labelled], aug, cache), gen),
                   endless(ImageDataset(replay, aug, cache), gen)]
            half = args.batch // 2
            for _ in range(args.steps):
                items = [next(src[0]) for _ in range(half)] + [next(src[1]) for _ in range(half)]
                x = torch.stack([a for a, _ in items])
                y = torch.tensor([b for _, b in items])
                set_train_mode(model, freeze_bn=True)
                loss = crit(model(x.contiguous(memory_format=torch.channels_last)), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            seconds = time.time() - started
            model.eval()
            pred = predict_logits(model, [site[i] for i in rest], cfg, cache=cache).argmax(1)
            v = float(np.mean(predict_logits(model, val, cfg, cache=cache).argmax(1) == y_val))
            row = {"k": k, "fold": fold, "site_rest": round(float(np.mean(pred == y_site[rest])), 4),
                   "base_site_rest": round(float(np.mean(base_site[rest] == y_site[rest])), 4),
                   "val": round(v, 4), "base_val": round(base_val, 4), "seconds": round(seconds, 1)}
            rows.append(row)
            print(row, flush=True)
    for k in args.shots:
        sel = [r for r in rows if r["k"] == k]
        print(f"k={k}: site rest {np.mean([r['site_rest'] for r in sel]):.3f} (before "
              f"{np.mean([r['base_site_rest'] for r in sel]):.3f}), val {np.mean([r['val'] for r in sel]):.3f} "
              f"(before {base_val:.3f}), {np.mean([r['seconds'] for r in sel]):.0f} s a fold")
    save_json_report(args.report, {"machine": machine(), "args": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
