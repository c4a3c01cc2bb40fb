"""Test factories: small real image sets and tiny trained artifacts."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from wastesort import CLASSES
from wastesort.data import Sample, by_split, load_samples
from wastesort.settings import SHARED_MATERIAL

TRASHNET = SHARED_MATERIAL / "trashnet"


def real_samples(split: str, per_class: int) -> list[Sample]:
    """The first ``per_class`` real TrashNet images of each class in ``split``."""
    out: list[Sample] = []
    samples = by_split(load_samples(TRASHNET), split)
    for c in range(len(CLASSES)):
        out += [s for s in samples if s.label == c][:per_class]
    return out


def class_folder(dest: Path, per_class: int, split: str = "train", classes=CLASSES) -> Path:
    """A plain ``class/xxx.jpg`` folder copied from real TrashNet images (new-data style)."""
    for s in real_samples(split, per_class):
        if CLASSES[s.label] in classes:
            (dest / CLASSES[s.label]).mkdir(parents=True, exist_ok=True)
            shutil.copy(s.path, dest / CLASSES[s.label] / s.path.name)
    return dest


def jpeg_bytes(size=(64, 48), seed: int = 0) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


def make_artifact(dest: Path, architecture: str = "tf_efficientnet_lite0", input_size: int = 64) -> Path:
    """A tiny but really trained model folder (2 steps on real images), with ONNX, for API/store tests."""
    from wastesort.recipe import PRESETS, TrainConfig
    from wastesort_trainer.export import export_onnx
    from wastesort_trainer.train import run

    cfg = TrainConfig(**{**PRESETS["tiny"], "architecture": architecture, "input_size": input_size})
    result = run(cfg, real_samples("train", 2), real_samples("val", 1), dest, show_bar=False)
    export_onnx(result.model, result.card, dest / "best")
    return dest / "best"


def make_fitted_artifact(dest: Path) -> tuple[Path, list[Sample]]:
    """A tiny model fitted to 12 real photos until it knows them: for end-to-end checks that a page shows
    the right class. Not a measure of accuracy (that is `make evaluate`)."""
    from wastesort.recipe import TrainConfig
    from wastesort_trainer.export import export_onnx
    from wastesort_trainer.train import run

    photos = real_samples("train", 2)
    cfg = TrainConfig(architecture="tf_efficientnet_lite0", input_size=96, epochs=12, batch_size=12, lr=3e-3,
                      augment="none", paste_p=0.0, calibrate=False, ema_decay=0.0, label_smoothing=0.0, tta=False,
                      warmup_epochs=1, head_init="random", freeze_bn=False,  # fast memorising, not the recipe
                      drop_rate=0.0, drop_path_rate=0.0, patience=12, layer_decay=None)
    result = run(cfg, photos, photos, dest, show_bar=False)
    export_onnx(result.model, result.card, dest / "best")
    return dest / "best", photos
