"""The model artifact format both services read: a folder with weights, ``model.onnx`` and ``config.json``.

``config.json`` is the model card (timm's config fields plus provenance). The API reads the card and the
ONNX file only; the trainer writes all three (``wastesort_trainer.models``). Nothing here needs torch.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from wastesort import CLASSES, WastesortError

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "config.json"
ONNX_FILE = "model.onnx"
# OpenVINO IR of the int8 variant (`wastesort export --int8`), beside model.onnx; card.metrics["int8"] says
# whether it passed its accuracy check
INT8_FILE = "model_int8.xml"


class CardError(WastesortError):
    """A model folder without a readable card."""


class DataConfig(BaseModel):
    """What a model expects at its input; stored in the model card, never hard-coded elsewhere."""

    input_size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    interpolation: str = "bicubic"
    # 1.0 keeps the whole short side: TrashNet objects often fill the frame, cropping cuts them.
    crop_pct: float = 1.0


class ModelCard(BaseModel):
    """Everything needed to rebuild and feed a trained model: timm's config.json fields plus provenance."""

    architecture: str
    num_classes: int = len(CLASSES)
    label_names: list[str] = Field(default_factory=lambda: list(CLASSES))
    pretrained_cfg: DataConfig = Field(default_factory=DataConfig)
    version: str | None = None
    parent: str | None = None
    mode: str | None = None
    # what the model is, in one line for people (the starter model says it is a linear probe)
    description: str | None = None
    weights_source: str | None = None
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    metrics: dict[str, Any] = Field(default_factory=dict)
    dataset: dict[str, Any] = Field(default_factory=dict)
    train_config: dict[str, Any] = Field(default_factory=dict)


def read_card(folder: Path) -> ModelCard:
    path = Path(folder) / CARD_FILE
    if not path.is_file():
        raise CardError(f"no model card at {path}")
    return ModelCard.model_validate(json.loads(path.read_text()))


def write_card(card: ModelCard, folder: Path) -> Path:
    path = Path(folder) / CARD_FILE
    path.write_text(card.model_dump_json(indent=2))
    return path
