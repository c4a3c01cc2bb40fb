"""Fine-tuning recipe: AdamW + layer-wise LR decay, warmup + cosine (or exponential) schedule,
label smoothing, EMA of weights, class balancing, early stopping on val, checkpoint + resume.

``run()`` is a plain function: the CLI, the Celery task and the tests all call it.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import timm.models
import timm.optim
import timm.utils
import torch
import yaml
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler
from tqdm import tqdm

from wastesort import CLASSES, WastesortError
from wastesort.card import DataConfig, ModelCard, write_card
from wastesort.data import Sample, class_counts, fingerprint
from wastesort.preprocess import eval_transform
from wastesort.recipe import TrainConfig
from wastesort.settings import get_settings
from wastesort_trainer.augment import train_transform
from wastesort_trainer.backgrounds import BackgroundPool, load_pool
from wastesort_trainer.composite import TRAIN_PASTE, Compositor, occlude
from wastesort_trainer.evaluation import Alter, ImageCache, ImageDataset, evaluate
from wastesort_trainer.features import fit_probe
from wastesort_trainer.models import (
    LoadedModel,
    blend_weights,
    create_backbone,
    default_data_config,
    default_weights,
    load_classifier,
    pick_device,
    save_artifact,
)
from wastesort_trainer.robustness import calibrate_uncertainty, run_sets
from wastesort_trainer.segment import MaskCache

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], bool]


class Cancelled(WastesortError):
    """Training stopped because the caller asked for it (job cancelled)."""


@dataclass
class TrainResult:
    model: torch.nn.Module
    card: ModelCard
    history: list[dict[str, Any]]
    val_report: dict[str, Any]
    out_dir: Path
    stopped_early: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def cpu_has_bf16() -> bool:
    """Native bf16 matmul/conv on this CPU (otherwise autocast would emulate it, slower than fp32)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse instead of handing every large block back to the kernel.

    A training step allocates activation tensors of 50+ MB; glibc serves each from a fresh mmap and unmaps it
    on free, so the next step faults in and zeroes ~1.3 GB of new pages. On the 2-core AVX2 machine that was
    360 M page faults and 589 s of system time in a 46-minute default run. With mmap off and trimming only
    above 2 GB, `benchmarks.profile_train` measured -7% a step and -28% for validation (-9% an epoch), for
    ~0.6 GB more resident memory (docs/benchmarks.md). No-op where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_max = -1, -4
        return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def class_weights(train: Sequence[Sample]) -> np.ndarray:
    """Inverse class frequency, 1.0 for a balanced set; 0 for a class with no images (nothing to weigh)."""
    counts = class_counts(train).astype(float)
    return np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(CLASSES), 0.0)


def balanced_sampler(train: Sequence[Sample], seed: int) -> WeightedRandomSampler:
    """Draw every class equally often, with replacement: a trash photo (96 of 1,769) comes back ~3x an
    epoch, each time with a fresh background and augmentation, instead of counting 3x in the loss."""
    inv = class_weights(train)
    w = torch.tensor([inv[s.label] for s in train], dtype=torch.double)
    return WeightedRandomSampler(w, num_samples=len(train), replacement=True,
                                 generator=torch.Generator().manual_seed(seed))


def _loader(ds: Dataset, *, batch_size: int, workers: int, sampler=None, shuffle=False, seed=0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, shuffle=shuffle if sampler is None else False,
                      num_workers=workers, generator=g, persistent_workers=workers > 0,
                      pin_memory=torch.cuda.is_available())


def _lr_factor(cfg: TrainConfig, step: int, steps_per_epoch: int, epochs: int) -> float:
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return (step + 1) / warm
    if cfg.schedule == "exp":
        return cfg.lr_decay ** (step / steps_per_epoch)
    total = epochs * steps_per_epoch
    t = min(1.0, (step - warm) / max(1.0, total - warm))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _set_lr(opt: torch.optim.Optimizer, base_lr: float, factor: float) -> float:
    for g in opt.param_groups:
        g["lr"] = base_lr * factor * g.get("lr_scale", 1.0)
    return base_lr * factor


def cutmix(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Paste one box (area share ~ U(0, 1)) from a shuffled copy of the batch; returns partner labels, lam.

    ``lam`` is the share of each image that is still its own, so the loss is
    ``lam * CE(y) + (1 - lam) * CE(y_partner)``.
    """
    n, _, h, w = x.shape
    perm = torch.randperm(n, generator=gen).to(x.device)
    cut = math.sqrt(1.0 - float(torch.rand((), generator=gen)))
    bh, bw = int(h * cut), int(w * cut)
    cy, cx = int(torch.randint(h, (), generator=gen)), int(torch.randint(w, (), generator=gen))
    y0, y1 = max(cy - bh // 2, 0), min(cy + bh // 2, h)
    x0, x1 = max(cx - bw // 2, 0), min(cx + bw // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    return x, y[perm], 1.0 - (y1 - y0) * (x1 - x0) / (h * w)


def build_model(cfg: TrainConfig) -> tuple[torch.nn.Module, ModelCard]:
    """Pretrained backbone (scratch modes) or a published model's weights (finetune mode), with its card."""
    if cfg.init_from:
        loaded = load_classifier(cfg.init_from)
        card = ModelCard(architecture=loaded.card.architecture, pretrained_cfg=loaded.card.pretrained_cfg,
                         weights_source=f"artifact:{cfg.init_from}")
        return loaded.model, card
    weights = cfg.weights or default_weights(cfg.architecture)
    model = create_backbone(cfg.architecture, weights=weights, drop_rate=cfg.drop_rate,
                            drop_path_rate=cfg.drop_path_rate)
    return model, ModelCard(architecture=cfg.architecture, weights_source=weights,
                            pretrained_cfg=default_data_config(cfg.architecture, cfg.input_size))


def freeze_leading_groups(model: torch.nn.Module, n: int) -> None:
    """Stop gradients for the first ``n`` coarse groups (stem first); their BatchNorm statistics still adapt
    unless ``freeze_bn``."""
    if n <= 0:
        return
    matcher = getattr(model, "group_matcher", None)
    if matcher is None:
        raise WastesortError(f"{type(model).__name__} has no group_matcher: freeze_groups needs a timm model")
    groups = list(timm.models.group_parameters(model, matcher(coarse=True)).values())
    if n >= len(groups):
        raise WastesortError(f"freeze_groups={n} would freeze the whole model ({len(groups)} groups)")
    frozen = {name for names in groups[:n] for name in names}
    for name, param in model.named_parameters():
        if name in frozen:
            param.requires_grad_(False)
    log.info("froze %d parameter tensors in the first %d groups", len(frozen), n)


def set_train_mode(model: torch.nn.Module, *, freeze_bn: bool) -> None:
    """Training mode, with every BatchNorm layer left in eval mode when ``freeze_bn`` (its running statistics
    stay the pretrained ones, so the model stays interpolable with the probe: see ``TrainConfig.wise_alpha``)."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def start_from_probe(model: torch.nn.Module, card: ModelCard, train: Sequence[Sample], val: Sequence[Sample],
                     out_dir: Path, cache: ImageCache) -> None:
    """LP-FT's first half: fit a linear probe on the untouched features into ``model``'s head and keep that
    model as ``out_dir/probe`` (the other end of the WiSE-FT blend). A resumed run reuses the saved probe."""
    folder = out_dir / "probe"
    if (folder / "config.json").is_file():
        model.load_state_dict(load_classifier(folder).model.state_dict())
        return
    started = time.time()
    _, c, acc, scale = fit_probe(model, train, val, card.pretrained_cfg, cache=cache)
    probe_card = card.model_copy(deep=True)
    probe_card.description = "linear probe on the untouched pretrained features (LP-FT's starting point)"
    probe_card.metrics = {"val": {"accuracy": acc}, "C": c, "logit_scale": scale}
    save_artifact(model, probe_card, folder)
    log.info("LP-FT: linear probe C=%s, logit scale %.3f, val accuracy %.4f, in %.0f s", c, scale, acc,
             time.time() - started)


def start_point(model: torch.nn.Module) -> dict[torch.nn.Parameter, torch.Tensor]:
    """A copy of every trainable tensor as the run starts: where L2-SP pulls back to."""
    return {p: p.detach().clone() for p in model.parameters() if p.requires_grad}


@torch.no_grad()
def pull_to_start(opt: torch.optim.Optimizer, start: dict[torch.nn.Parameter, torch.Tensor], strength: float) -> None:
    """L2-SP's decoupled step: each tensor moves its group's lr x ``strength`` of the way back to its start, so
    the pull follows the schedule and the layer-wise decay (a lower layer moves less and is pulled less)."""
    for group in opt.param_groups:
        rate = group["lr"] * strength
        for p in group["params"]:
            if p in start:
                p.lerp_(start[p], rate)


@dataclass
class Progress:
    """Where a run stands between epochs: what a checkpoint saves and a resumed run starts from."""

    epoch: int = 0  # epochs done
    step: int = 0
    best_acc: float = -1.0
    best_loss: float = float("inf")
    bad_epochs: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    planned: int | None = None  # epochs the time budget allows; run() sets it to cfg.epochs at the start


# what finalize costs after the last epoch, in val passes: plain + flip-TTA, and the shifted-val
# calibration (the default run on the family 23 model 1 EPYC: 119 s after its last epoch, val pass 16 s)
FINALIZE_VAL_PASSES = 2
CALIBRATE_VAL_PASSES = 6


def plan_epochs(cfg: TrainConfig, done: int, elapsed_s: float, epoch_s: float, val_s: float,
                planned: int | None = None) -> int:
    """How many epochs the run can have and still write its model inside ``cfg.time_budget_min``, at the
    pace of its last epoch. Never more than ``planned`` (the schedule only ever shortens) nor fewer than
    ``done``: a slow machine gets a shorter cosine schedule instead of a run that overshoots by half."""
    limit = planned or cfg.epochs
    if not cfg.time_budget_min:
        return limit
    reserve = val_s * (FINALIZE_VAL_PASSES + (CALIBRATE_VAL_PASSES if cfg.calibrate else 0))
    left = cfg.time_budget_min * 60 - elapsed_s - reserve
    return max(done, min(limit, done + int(left // max(epoch_s, 1e-6))))


@dataclass
class Trainee:
    """The objects one run trains: model, optimiser, EMA copy, loss and the step's switches."""

    cfg: TrainConfig
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    ema: Any
    criterion: torch.nn.Module
    device: torch.device
    use_amp: bool
    mix_gen: torch.Generator
    start: dict[torch.nn.Parameter, torch.Tensor] | None = None  # L2-SP's anchor (cfg.sp_decay > 0)


def train_one_epoch(t: Trainee, loader: DataLoader, steps: int, progress: Progress, *, desc: str,
                    should_stop: StopFn | None = None, show_bar: bool = True) -> dict[str, float]:
    """One pass over ``steps`` batches; returns mean loss, accuracy, the last learning rate and where the
    wall time went (loading + augmenting vs forward, backward and optimiser: on a 2-core CPU they compete)."""
    cfg, model, device = t.cfg, t.model, t.device
    set_train_mode(model, freeze_bn=cfg.freeze_bn)
    tot_loss, tot_ok, seen, lr = 0.0, 0, 0, 0.0
    spent = dict.fromkeys(("data", "forward", "backward", "optimizer"), 0.0)
    bar = tqdm(total=steps, desc=desc, disable=not show_bar, leave=False, dynamic_ncols=True)
    batches, done = iter(loader), 0
    for _ in range(steps):
        tick = time.perf_counter()
        try:
            x, y = next(batches)
        except StopIteration:
            break
        tick = _lap(spent, "data", tick)
        if should_stop and should_stop():
            raise Cancelled("training cancelled")
        lr = _set_lr(t.opt, cfg.lr, _lr_factor(cfg, progress.step, steps, progress.planned or cfg.epochs))
        x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        y = y.to(device, non_blocking=True)
        mixed = cfg.cutmix_p > 0 and float(torch.rand((), generator=t.mix_gen)) < cfg.cutmix_p
        if mixed:
            x, y_other, lam = cutmix(x, y, t.mix_gen)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=t.use_amp):
            logits = model(x)
            loss = t.criterion(logits.float(), y)
            if mixed:
                loss = lam * loss + (1 - lam) * t.criterion(logits.float(), y_other)
        tick = _lap(spent, "forward", tick)
        t.opt.zero_grad(set_to_none=True)
        loss.backward()
        tick = _lap(spent, "backward", tick)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        t.opt.step()
        if t.start is not None:
            pull_to_start(t.opt, t.start, cfg.sp_decay)
        progress.step += 1
        if t.ema is not None:
            t.ema.update(model, step=progress.step)
        _lap(spent, "optimizer", tick)
        done += 1
        tot_loss += loss.item() * len(y)
        tot_ok += int((logits.argmax(1) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{tot_loss / seen:.3f}", acc=f"{tot_ok / seen:.3f}", lr=f"{lr:.1e}")
        bar.update()
    bar.close()
    return {"train_loss": tot_loss / max(seen, 1), "train_acc": tot_ok / max(seen, 1), "lr": lr,
            "steps": done, **{f"seconds_{k}": round(v, 3) for k, v in spent.items()}}


def _lap(spent: dict[str, float], stage: str, since: float) -> float:
    """Add the time since ``since`` to ``stage``; the clock for the next stage (CPU timings: no CUDA sync)."""
    now = time.perf_counter()
    spent[stage] += now - since
    return now


def validate(candidates: dict[str, torch.nn.Module], val: Sequence[Sample], data_cfg: DataConfig,
             cache: ImageCache) -> tuple[str, dict[str, Any]]:
    """Score the live weights and the EMA copy on val; (the better one's name, its report)."""
    reports = {k: evaluate(m, val, data_cfg, cache=cache) for k, m in candidates.items()}
    pick = max(reports, key=lambda k: (reports[k]["accuracy"], -reports[k]["loss"]))
    return pick, reports[pick]


def save_checkpoint(path: Path, t: Trainee, progress: Progress) -> None:
    """Everything needed to resume after the epoch just finished, written atomically."""
    tmp = path.with_suffix(".pt.tmp")
    torch.save({"model": t.model.state_dict(), "opt": t.opt.state_dict(),
                "ema": t.ema.module.state_dict() if t.ema is not None else None, "epoch": progress.epoch - 1,
                "step": progress.step, "history": progress.history, "best_acc": progress.best_acc,
                "best_loss": progress.best_loss, "bad_epochs": progress.bad_epochs, "planned": progress.planned,
                "rng": torch.get_rng_state()}, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, t: Trainee) -> Progress:
    ck = torch.load(path, map_location=t.device, weights_only=False)
    t.model.load_state_dict(ck["model"])
    t.opt.load_state_dict(ck["opt"])
    if t.ema is not None and ck.get("ema") is not None:
        t.ema.module.load_state_dict(ck["ema"])
    torch.set_rng_state(ck["rng"])
    log.info("resumed from %s at epoch %d", path, ck["epoch"] + 2)
    return Progress(epoch=ck["epoch"] + 1, step=ck["step"], best_acc=ck["best_acc"], best_loss=ck["best_loss"],
                    bad_epochs=ck["bad_epochs"], history=ck["history"], planned=ck.get("planned"))


def finalize(cfg: TrainConfig, out_dir: Path, val: Sequence[Sample], cache: ImageCache, device: torch.device,
             progress: Progress, started: float, stopped_early: bool) -> TrainResult:
    """Reload the best weights, decide flip-TTA and the uncertainty rule on val, write the card."""
    best = load_classifier(out_dir / "best", device)
    if cfg.wise_alpha is not None:
        wise_ft(best, out_dir, cfg.wise_alpha)
    val_report = evaluate(best.model, val, best.card.pretrained_cfg, cache=cache)
    use_tta = False
    if cfg.tta:  # flip TTA only when it helps on val (it can hurt: TrashNet photos have a lit side)
        tta_report = evaluate(best.model, val, best.card.pretrained_cfg, tta=True, cache=cache)
        if (tta_report["accuracy"], -tta_report["loss"]) > (val_report["accuracy"], -val_report["loss"]):
            val_report, use_tta = tta_report, True
    best.card.metrics["val"] = _short(val_report)
    best.card.metrics["val_tta"] = use_tta
    if cfg.calibrate:
        best.card.metrics["uncertainty"] = calibrate_on_val(best.model, val, best.card.pretrained_cfg, cache)
    best.card.metrics["epochs"] = {"run": progress.epoch, "planned": progress.planned,
                                   "time_budget_min": cfg.time_budget_min}
    best.card.metrics["train_seconds"] = round(time.time() - started, 1)
    write_card(best.card, out_dir / "best")
    (out_dir / "history.json").write_text(json.dumps(progress.history, indent=2))
    return TrainResult(best.model, best.card, progress.history, val_report, out_dir, stopped_early,
                       time.time() - started)


def run(cfg: TrainConfig, train: Sequence[Sample], val: Sequence[Sample], out_dir: Path | str, *,
        progress: ProgressFn | None = None, should_stop: StopFn | None = None, resume: bool = True,
        show_bar: bool = True) -> TrainResult:
    """Train, keep the best-val weights, write ``out_dir/best`` (artifact) and ``out_dir/last.pt`` (resume)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "train_config.yaml").write_text(yaml.safe_dump(cfg.model_dump(), sort_keys=False))
    if not train or not val:
        raise WastesortError(f"need training and validation images (got {len(train)} train, {len(val)} val)")
    if cfg.freeze_bn and cfg.lr > 1e-3:
        log.warning("lr %.0e with frozen BatchNorm: at 1e-3 and 3e-3 the first steps wrecked the features "
                    "(docs/experiments.md); 3e-4 is the default, or add --no-freeze-bn", cfg.lr)
    seed_everything(cfg.seed)
    keep_freed_memory()
    device = pick_device()
    torch.set_num_threads(os.cpu_count() or 1)
    started = time.time()

    model, card = build_model(cfg)
    data_cfg = card.pretrained_cfg
    cache = ImageCache()
    if cfg.head_init == "probe" and not cfg.init_from:  # a published model's head is already fitted
        if progress:
            progress({"stage": "probe", "images": len(train) + len(val)})
        start_from_probe(model, card, train, val, out_dir, cache)
    model = model.to(device).to(memory_format=torch.channels_last)
    freeze_leading_groups(model, cfg.freeze_groups)
    loss_weight = (torch.tensor(class_weights(train), dtype=torch.float32, device=device)
                   if cfg.balance == "loss" else None)
    t = Trainee(
        cfg=cfg, model=model, device=device, mix_gen=torch.Generator().manual_seed(cfg.seed + 1),
        ema=timm.utils.ModelEmaV3(model, decay=cfg.ema_decay, use_warmup=True) if cfg.ema_decay else None,
        opt=timm.optim.create_optimizer_v2(model, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay,
                                           layer_decay=cfg.layer_decay),
        criterion=torch.nn.CrossEntropyLoss(weight=loss_weight, label_smoothing=cfg.label_smoothing),
        use_amp=(cfg.amp and device.type == "cuda") or (cfg.cpu_bf16 and device.type == "cpu" and cpu_has_bf16()),
        start=start_point(model) if cfg.sp_decay else None)

    sampler = balanced_sampler(train, cfg.seed) if cfg.balance == "sampler" else None
    workers = cfg.workers if cfg.workers >= 0 else (min(8, os.cpu_count() or 1) if device.type == "cuda" else 0)
    alter = (background_replacement(train, cfg.paste_p, cfg.occlude_p, scale=cfg.paste_scale)
             if cfg.paste_p or cfg.occlude_p else None)

    def loader_at(size: int) -> DataLoader:
        dcfg = data_cfg.model_copy(update={"input_size": size})
        aug = (train_transform(dcfg, strength=cfg.augment, motion_blur_p=cfg.motion_blur_p, patch_p=cfg.patch_p)
               if cfg.augment != "none" else eval_transform(dcfg))
        return _loader(ImageDataset(train, aug, cache, alter), batch_size=cfg.batch_size, workers=workers,
                       sampler=sampler, shuffle=True, seed=cfg.seed)

    train_size = data_cfg.input_size
    train_dl = loader_at(train_size)
    steps = len(train_dl) if cfg.max_steps_per_epoch is None else min(len(train_dl), cfg.max_steps_per_epoch)
    ckpt_path = out_dir / "last.pt"
    state = load_checkpoint(ckpt_path, t) if resume and ckpt_path.is_file() else Progress()
    state.planned = state.planned or cfg.epochs  # a checkpoint from before the time budget has none

    card.train_config = cfg.model_dump()
    card.dataset = {"train": len(train), "val": len(val), "train_fingerprint": fingerprint(train),
                    "train_counts": dict(zip(CLASSES, class_counts(train).tolist(), strict=True))}
    stopped_early = False
    epoch_began = time.time()
    for epoch in range(state.epoch, cfg.epochs):
        if epoch >= state.planned:
            break
        low = epoch < cfg.low_res_epochs and cfg.low_res_size < data_cfg.input_size
        size = cfg.low_res_size if low else data_cfg.input_size
        if size != train_size:  # progressive resizing: cheap low-res epochs first, full size to finish
            train_size, train_dl = size, loader_at(size)
        fit = train_one_epoch(t, train_dl, steps, state, desc=f"epoch {epoch + 1}/{state.planned}",
                              should_stop=should_stop, show_bar=show_bar)
        candidates = {"model": model} | ({"ema": t.ema.module} if t.ema is not None else {})
        tick = time.perf_counter()
        pick, rep = validate(candidates, val, data_cfg, cache)
        row = {"epoch": epoch + 1, "train_loss": fit["train_loss"], "train_acc": fit["train_acc"],
               "val_loss": rep["loss"], "val_acc": rep["accuracy"], "val_macro_f1": rep["macro_f1"],
               "weights": pick, "lr": fit["lr"], "train_size": train_size,
               "seconds": round(time.time() - started, 1),
               **{k: v for k, v in fit.items() if k.startswith("seconds_") or k == "steps"},
               "seconds_validate": round(time.perf_counter() - tick, 3)}
        state.history.append(row)
        state.epoch = epoch + 1
        now = time.time()
        epoch_s, epoch_began = now - epoch_began, now
        planned = plan_epochs(cfg, state.epoch, now - started, epoch_s, row["seconds_validate"], state.planned)
        shortened = planned < state.planned
        state.planned = row["planned_epochs"] = planned
        improved = (rep["accuracy"], -rep["loss"]) > (state.best_acc, -state.best_loss)
        if improved:
            state.best_acc, state.best_loss, state.bad_epochs = rep["accuracy"], rep["loss"], 0
            card.metrics = {"val": _short(rep), "best_epoch": epoch + 1, "weights": pick}
            save_artifact(candidates[pick], card, out_dir / "best")
        else:
            state.bad_epochs += 1
        msg = (f"epoch {epoch + 1}/{planned}  train loss {row['train_loss']:.3f} acc {row['train_acc']:.3f}  "
               f"val loss {rep['loss']:.3f} acc {rep['accuracy']:.4f} f1 {rep['macro_f1']:.4f} ({pick})"
               f"{'  *best*' if improved else ''}  [{row['seconds']:.0f}s; epoch: data {row['seconds_data']:.0f}s, "
               f"fwd {row['seconds_forward']:.0f}s, bwd {row['seconds_backward']:.0f}s, "
               f"opt {row['seconds_optimizer']:.0f}s, val {row['seconds_validate']:.0f}s]")
        if shortened:
            msg += (f"\ntime budget {cfg.time_budget_min:g} min: {planned} of {cfg.epochs} epochs fit at "
                    f"{epoch_s:.0f} s an epoch; the cosine schedule now ends at epoch {planned}")
        tqdm.write(msg) if show_bar else log.info(msg)
        if progress:
            progress({"stage": "train", "epoch": epoch + 1, "epochs": planned, **row})
        save_checkpoint(ckpt_path, t, state)
        if state.bad_epochs >= cfg.patience:
            stopped_early = True
            tqdm.write(f"early stop: val accuracy did not improve for {cfg.patience} epochs")
            break
    if should_stop and should_stop():  # cancelled after the last step: calibration is minutes more
        raise Cancelled("training cancelled")
    return finalize(cfg, out_dir, val, cache, device, state, started, stopped_early)


def wise_ft(best: LoadedModel, out_dir: Path, alpha: float) -> None:
    """Blend the best fine-tuned weights with the probe (WiSE-FT) into ``best`` and ``out_dir/best``. The
    fine-tuned end is kept as ``out_dir/finetuned`` and read back from there on a rerun, so finalizing twice
    does not blend twice; the card records alpha and both ends' val accuracy (from their own cards)."""
    device = next(best.model.parameters()).device
    tuned_dir = out_dir / "finetuned"
    if not (tuned_dir / "config.json").is_file():
        save_artifact(best.model, best.card, tuned_dir)
    tuned, probe = load_classifier(tuned_dir, device), load_classifier(out_dir / "probe", device)
    best.model.load_state_dict(blend_weights(probe.model, tuned.model, alpha))
    best.card.metrics["wise_ft"] = {"alpha": alpha, "finetuned_val_accuracy": tuned.card.metrics["val"]["accuracy"],
                                    "probe_val_accuracy": probe.card.metrics["val"]["accuracy"]}
    save_artifact(best.model, best.card, out_dir / "best")
    log.info("WiSE-FT: %.2f x fine-tuned + %.2f x probe", alpha, 1 - alpha)


def background_replacement(train: Sequence[Sample], p: float, occlude_p: float = 0.0,
                           scale: tuple[float, float] = TRAIN_PASTE.scale) -> Alter:
    """Paste each training object on a random training-part background with probability ``p``, then
    (with probability ``occlude_p``) one or two other training objects on top of it."""
    settings = get_settings()
    masks = MaskCache(settings.data.cache_dir / "masks")
    masks.warm([s.path for s in train], workers=min(4, os.cpu_count() or 1))
    compositor = Compositor(load_pool(settings.data.backgrounds, "train") if p > 0 else BackgroundPool(), p,
                            dataclasses.replace(TRAIN_PASTE, scale=tuple(scale)))
    others = ImageCache()

    def alter(img: np.ndarray, i: int) -> np.ndarray:
        # python's random is reseeded per DataLoader worker, so workers do not repeat each other
        rng = np.random.default_rng(random.getrandbits(64))
        img = compositor(img, masks.get(train[i].path, img), rng)
        if occlude_p > 0 and rng.random() < occlude_p:
            picks = rng.choice(len(train), size=int(rng.integers(1, 3)))
            img = occlude(img, [(others.get(train[j].path), masks.get(train[j].path)) for j in picks], rng)
        return img

    return alter


def calibrate_on_val(model: torch.nn.Module, val: Sequence[Sample], data_cfg: DataConfig,
                     cache: ImageCache) -> dict[str, Any]:
    """The API's uncertainty signal and threshold, chosen on val moved off the board (never on test)."""
    settings = get_settings()
    masks = MaskCache(settings.data.cache_dir / "masks")
    results = run_sets(model, val, data_cfg, masks=masks, pool=load_pool(settings.data.backgrounds, "train"),
                       cache=cache, progress=False)
    chosen = calibrate_uncertainty(results)
    log.info("uncertainty: %s < %.3f flags %.0f%% of errors, %.0f%% of right answers on shifted val",
             chosen["signal"], chosen["threshold"], 100 * (chosen["errors_flagged"] or 0),
             100 * (chosen["correct_flagged"] or 0))
    return chosen


def _short(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in ("accuracy", "macro_f1", "min_precision", "min_recall", "loss", "per_class",
                                   "confusion_matrix", "n") if k in report}

