"""The one inference preprocessing path: decode, then resize/crop/normalise as the model card says.

Trainer validation, evaluation, ONNX export and the API all call these functions, so a model is
always fed exactly what it was validated on. Plain OpenCV + numpy (no torch, no albumentations): the
API image stays small. Training augmentation (``wastesort_trainer.augment``) ends in :func:`normalise`.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from wastesort import WastesortError
from wastesort.card import DataConfig

INTERPOLATION = {"bicubic": cv2.INTER_CUBIC, "bilinear": cv2.INTER_LINEAR, "area": cv2.INTER_AREA}
DEFAULT_MAX_PIXELS = 40_000_000
# Longest over shortest side. Resizing the short side to the model's input blows a 10000x1 strip up to
# 2,240,000x224 pixels (seconds of CPU and a GB of memory for a 109-byte PNG); no camera shoots that.
MAX_ASPECT = 12.0

Transform = Callable[[np.ndarray], np.ndarray]


class ImageError(WastesortError):
    """An input that is not a usable image (empty, truncated, not an image, too many pixels)."""


class UnsupportedFormat(ImageError):
    """A real image in a format we do not decode faithfully (TIFF, PSD, EPS, GIF, ...): the API says 415."""


# Formats decoded faithfully here (MPO: the multi-picture JPEG some phones write). Pillow opens many more,
# but float TIFFs came out black, and EPS runs Ghostscript: a list, not whatever Pillow can open.
FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP")
BACKDROP = 255  # alpha is flattened onto white: TrashNet's poster board, what the model was trained on


def _to_rgb(im: Image.Image) -> np.ndarray:
    """Any mode of the accepted formats -> uint8 RGB, 16-bit scaled (not clipped) and alpha composited."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        arr = arr / 257.0 if arr.max(initial=0) > 255 else arr  # 16-bit range -> 8-bit range
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (BACKDROP, BACKDROP, BACKDROP, 255))
        return np.asarray(Image.alpha_composite(backdrop, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Bytes -> HWC uint8 RGB, honouring EXIF rotation (phone photos) and refusing decompression bombs."""
    if not data:
        raise ImageError("empty file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in FORMATS:
                raise UnsupportedFormat(f"{im.format} images are not accepted; send one of {', '.join(FORMATS)}")
            w, h = im.size
            if w * h > max_pixels:
                raise ImageError(f"image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}")
            if max(w, h) > MAX_ASPECT * max(1, min(w, h)):
                raise ImageError(f"image is {w}x{h}: sides more than {MAX_ASPECT:g} to 1 are refused")
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:  # noqa: BLE001 - malformed EXIF (struct.error and kin): keep the pixels as stored
                pass
            return _to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"image has too many pixels ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - any decoder failure on client bytes is the client's bad file
        raise ImageError(f"not a readable image ({exc.__class__.__name__}: {exc})") from exc


def load_image_file(path: Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    return decode_image(Path(path).read_bytes(), max_pixels=max_pixels)


def normalise(image: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """HWC uint8 -> CHW float32, ``(x / 255 - mean) / std`` per channel."""
    mean = np.asarray(cfg.mean, dtype=np.float32) * 255.0
    std = np.asarray(cfg.std, dtype=np.float32) * 255.0
    out = (image.astype(np.float32) - mean) / std
    return np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32)


def resize_short_side(image: np.ndarray, size: int, interpolation: str) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / min(h, w)
    if scale == 1.0:
        return image
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    return cv2.resize(image, (new_w, new_h), interpolation=INTERPOLATION[interpolation])


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


def eval_transform(cfg: DataConfig) -> Transform:
    """Deterministic resize of the short side + centre crop + normalise."""
    short = int(round(cfg.input_size / cfg.crop_pct))

    def run(image: np.ndarray) -> np.ndarray:
        resized = resize_short_side(image, short, cfg.interpolation)
        return normalise(centre_crop(resized, cfg.input_size), cfg)

    return run
