import numpy as np
import pytest

from tests.utils.factories import TRASHNET, jpeg_bytes
from wastesort.patches import colour_patches
from wastesort.preprocess import DataConfig, ImageError, decode_image, eval_transform, load_image_file, train_transform


def test_eval_transform_golden_values():
    """Lite models: mean = std = 0.5, so a pixel p maps to p/127.5 - 1; the centre crop keeps the short side."""
    img = np.zeros((60, 80, 3), dtype=np.uint8)
    img[:, :, 0] = 255
    img[:, :, 2] = 51
    out = eval_transform(DataConfig(input_size=30, crop_pct=1.0))(img)
    assert out.shape == (3, 30, 30) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(out[1], -1.0, atol=1e-5)
    np.testing.assert_allclose(out[2], 51 / 127.5 - 1, atol=1e-5)


def test_real_image_through_both_paths_has_model_shape():
    img = load_image_file(TRASHNET / "glass" / "glass1.jpg")
    cfg = DataConfig(input_size=96)
    assert eval_transform(cfg)(img).shape == (3, 96, 96)
    aug = train_transform(cfg)
    a, b = aug(img), aug(img)
    assert a.shape == (3, 96, 96) and not np.allclose(a, b)


@pytest.mark.parametrize("data,match", [(b"", "empty"), (b"hello", "not a readable image"),
                                        (jpeg_bytes()[:100], "not a readable image")])
def test_decode_rejects_bad_bytes(data, match):
    with pytest.raises(ImageError, match=match):
        decode_image(data)


def test_decode_rejects_pixel_bombs():
    with pytest.raises(ImageError, match="over the limit"):
        decode_image(jpeg_bytes(size=(200, 200)), max_pixels=100 * 100)


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
    common = [n for n in robust if n not in ("CoarseDropout", "Normalize")]
    assert field[: len(common)] == common and field[-1] == "Normalize"
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
    assert _ops(blurred) == [*plain[:-2], "MotionBlur", "CoarseDropout", "Normalize"]
    assert blurred.pipeline.transforms[-3].p == 0.3
    field = train_transform(cfg, strength="field").pipeline.transforms
    assert type(field[-3]).__name__ == "MotionBlur" and field[-3].p == 0.25


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
    assert _ops(both) == [*plain[:-2], "MotionBlur", "ColourPatches", "CoarseDropout", "Normalize"]
    assert both.pipeline.transforms[-3].p == 0.4
    img = load_image_file(TRASHNET / "metal" / "metal1.jpg")
    always = train_transform(cfg, strength="basic", patch_p=1.0)
    a, b = always(img), always(img)
    assert a.shape == (3, 96, 96) and np.isfinite(a).all() and not np.allclose(a, b)
