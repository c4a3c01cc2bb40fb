import cv2
import numpy as np
import pytest

from tests.utils.factories import TRASHNET, jpeg_bytes
from wastesort.card import DataConfig
from wastesort.preprocess import ImageError, decode_image, eval_transform, load_image_file


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


@pytest.mark.parametrize("data,match", [(b"", "empty"), (b"hello", "not a readable image"),
                                        (jpeg_bytes()[:100], "not a readable image")])
def test_decode_rejects_bad_bytes(data, match):
    with pytest.raises(ImageError, match=match):
        decode_image(data)


def test_decode_rejects_pixel_bombs():
    with pytest.raises(ImageError, match="over the limit"):
        decode_image(jpeg_bytes(size=(200, 200)), max_pixels=100 * 100)




def test_eval_transform_matches_the_albumentations_pipeline_it_replaced():
    """The API path is plain OpenCV now; it must feed a model what the trainer's old pipeline did."""
    import albumentations as A

    img = load_image_file(TRASHNET / "paper" / "paper1.jpg")
    for cfg in (DataConfig(input_size=224), DataConfig(input_size=176), DataConfig(input_size=96, crop_pct=0.875)):
        short = int(round(cfg.input_size / cfg.crop_pct))
        old = A.Compose([A.SmallestMaxSize(max_size=short, interpolation=cv2.INTER_CUBIC),
                         A.CenterCrop(cfg.input_size, cfg.input_size),
                         A.Normalize(mean=cfg.mean, std=cfg.std, max_pixel_value=255.0)])(image=img)["image"]
        np.testing.assert_allclose(eval_transform(cfg)(img), old.transpose(2, 0, 1), atol=1e-5)
