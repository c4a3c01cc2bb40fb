"""Training augmentation (albumentations): what photos off the white board bring, drawn on the fly.

Ends in the shared :func:`wastesort.preprocess.normalise`, so a training crop is scaled exactly like the
API's input. Evaluation never augments: it uses :func:`wastesort.preprocess.eval_transform`.
"""

from __future__ import annotations

import albumentations as A
import cv2
import numpy as np

from wastesort.card import DataConfig
from wastesort.preprocess import INTERPOLATION, Transform, normalise
from wastesort_trainer.patches import ColourPatches


def _to_chw(pipeline: A.Compose, cfg: DataConfig) -> Transform:
    def run(image: np.ndarray) -> np.ndarray:
        return normalise(pipeline(image=image)["image"], cfg)

    run.pipeline = pipeline  # type: ignore[attr-defined]  # what it does, for tests and reports
    return run


def train_transform(cfg: DataConfig, *, strength: str = "robust", motion_blur_p: float = 0.0,
                    patch_p: float = 0.0) -> Transform:
    """On-the-fly augmentation.

    'strong' adds blur/noise/JPEG and cut-outs; 'robust' adds what photos off the white board bring:
    colour temperature, exposure and uneven light, perspective, heavier blur and noise, more and
    larger occluders (random erasing). 'field' is 'robust' plus what a moving belt and a cluttered bin
    add on top: a motion blur of its own (belt speed, not camera shake) and more, larger occluders,
    either several small flat-colour boxes or one large random-erasing patch. Background replacement
    happens before this (see :mod:`wastesort_trainer.composite`), on the decoded photo. None of these is the
    shift generator of :mod:`wastesort_trainer.shifts` (ellipses with noisy fill, full-resolution kernels):
    the robustness report measures transfer, not memorised corruptions. ``motion_blur_p`` adds that
    belt motion blur alone to any level (field has it at 0.25); ``patch_p`` adds flat-colour irregular
    patches (:mod:`wastesort_trainer.patches`) after it, before the level's own occluders.
    """
    interp = INTERPOLATION[cfg.interpolation]
    size = cfg.input_size
    ops: list[A.BasicTransform] = [
        A.RandomResizedCrop(size=(size, size), scale=(0.5, 1.0), ratio=(0.8, 1.25), interpolation=interp),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        A.Affine(scale=(0.9, 1.1), translate_percent=(-0.05, 0.05), rotate=(-20, 20),
                 border_mode=cv2.BORDER_REFLECT_101, p=0.4),
        A.ColorJitter(brightness=0.25, contrast=0.25, saturation=0.25, hue=0.03, p=0.6),
    ]
    if strength == "strong":
        ops += [
            A.ToGray(p=0.03),
            A.OneOf([A.GaussianBlur(sigma_limit=(0.3, 1.2)), A.GaussNoise(std_range=(0.02, 0.06)),
                     A.ImageCompression(quality_range=(50, 90))], p=0.2),
            A.CoarseDropout(num_holes_range=(1, 2), hole_height_range=(0.08, 0.2),
                            hole_width_range=(0.08, 0.2), fill="random_uniform", p=0.2),
        ]
    elif strength in ("robust", "field"):
        ops += [
            A.PlanckianJitter(p=0.3),
            A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.4),
            A.RandomGamma(gamma_limit=(60, 160), p=0.25),
            A.Illumination(intensity_range=(0.05, 0.2), p=0.25),
            A.Perspective(scale=(0.03, 0.1), p=0.25),
            A.ToGray(p=0.03),
            A.OneOf([A.GaussianBlur(sigma_limit=(0.3, 1.8)), A.MotionBlur(blur_limit=(3, 9)),
                     A.GaussNoise(std_range=(0.02, 0.1)), A.ISONoise(),
                     A.ImageCompression(quality_range=(20, 90))], p=0.4),
        ]
        if strength == "field":
            motion_blur_p = motion_blur_p or 0.25
    if motion_blur_p > 0:  # streaks up to ~8% of the side at 224 px, in any direction
        ops.append(A.MotionBlur(blur_limit=(5, 17), p=motion_blur_p))
    if patch_p > 0:
        ops.append(ColourPatches(p=patch_p))
    if strength == "robust":
        ops.append(A.CoarseDropout(num_holes_range=(1, 3), hole_height_range=(0.08, 0.3),
                                   hole_width_range=(0.08, 0.3), fill="random_uniform", p=0.35))
    elif strength == "field":
        ops.append(A.OneOf([A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.08, 0.35),
                                            hole_width_range=(0.08, 0.35), fill="random_uniform"),
                            A.Erasing(scale=(0.05, 0.3), ratio=(0.3, 3.3), fill="random")], p=0.5))
    return _to_chw(A.Compose(ops), cfg)
