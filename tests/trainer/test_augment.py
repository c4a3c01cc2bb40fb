import numpy as np

from tests.utils.factories import TRASHNET
from wastesort.card import DataConfig
from wastesort.preprocess import eval_transform, load_image_file
from wastesort_trainer.augment import train_transform
from wastesort_trainer.patches import colour_patches


def test_real_image_through_both_paths_has_model_shape():
    img = load_image_file(TRASHNET / "glass" / "glass1.jpg")
    cfg = DataConfig(input_size=96)
    assert eval_transform(cfg)(img).shape == (3, 96, 96)
    aug = train_transform(cfg)
    a, b = aug(img), aug(img)
    assert a.shape == (3, 96, 96) and not np.allclose(a, b)


def _ops(transform) -> list[str]:
    names = []
    for t in transform.pipeline.transforms:
        names.append(type(t).__name__)
        names += [f"{type(t).__name__}/{type(c).__name__}" for c in getattr(t, "transforms", [])]
    return names


def test_field_augmentation_is_robust_plus_belt_blur_and_larger_occluders():
    cfg = DataConfig(input_size=96)
    robust, field = _ops(train_transform(cfg, strength="robust")), _ops(train_transform(cfg, strength="field"))
    assert "CoarseDropout" in robust and "CoarseDropout" not in field
    common = [n for n in robust if n != "CoarseDropout"]
    assert field[: len(common)] == common
    extra = field[len(common):]
    assert "MotionBlur" in extra and "OneOf/CoarseDropout" in extra and "OneOf/Erasing" in extra
    img = load_image_file(TRASHNET / "trash" / "trash1.jpg")
    aug = train_transform(cfg, strength="field")
    a, b = aug(img), aug(img)
    assert a.shape == (3, 96, 96) and np.isfinite(a).all() and not np.allclose(a, b)


def test_belt_motion_blur_joins_any_level_before_the_occluders_and_field_has_it_by_default():
    cfg = DataConfig(input_size=96)
    plain = _ops(train_transform(cfg, strength="robust"))
    blurred = train_transform(cfg, strength="robust", motion_blur_p=0.3)
    assert _ops(blurred) == [*plain[:-1], "MotionBlur", "CoarseDropout"]
    assert blurred.pipeline.transforms[-2].p == 0.3
    field = train_transform(cfg, strength="field").pipeline.transforms
    assert type(field[-2]).__name__ == "MotionBlur" and field[-2].p == 0.25


def test_colour_patches_hide_about_the_asked_share_and_repeat_with_a_seed():
    img = load_image_file(TRASHNET / "glass" / "glass1.jpg")[:224, :224].copy()
    a = colour_patches(img, np.random.default_rng(3), cover=(0.15, 0.2))
    assert a.shape == img.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, colour_patches(img, np.random.default_rng(3), cover=(0.15, 0.2)))
    assert not np.array_equal(a, colour_patches(img, np.random.default_rng(4), cover=(0.15, 0.2)))
    grey = np.full((224, 224, 3), 128, np.uint8)
    shares = [(colour_patches(grey, np.random.default_rng(k), cover=(0.15, 0.2)) != 128).any(2).mean()
              for k in range(40)]
    assert 0.1 <= np.mean(shares) <= 0.25 and max(shares) <= 0.6  # six patches at most, some off the frame
    assert np.array_equal(colour_patches(img, np.random.default_rng(0), cover=(0.0, 0.0)), img)


def test_colour_patches_join_the_pipeline_after_the_motion_blur_before_the_level_occluders():
    cfg = DataConfig(input_size=96)
    plain = _ops(train_transform(cfg, strength="robust"))
    both = train_transform(cfg, strength="robust", motion_blur_p=0.25, patch_p=0.4)
    assert _ops(both) == [*plain[:-1], "MotionBlur", "ColourPatches", "CoarseDropout"]
    assert both.pipeline.transforms[-2].p == 0.4
    img = load_image_file(TRASHNET / "metal" / "metal1.jpg")
    always = train_transform(cfg, strength="basic", patch_p=1.0)
    a, b = always(img), always(img)
    assert a.shape == (3, 96, 96) and np.isfinite(a).all() and not np.allclose(a, b)
