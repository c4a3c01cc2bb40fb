"""The settings an operator may change at run time (/change), save and restore, validated by type."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wastesort.settings import ApiSettings


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    top_k: int = Field(3, ge=1, le=6)
    # "model": the served model's calibrated signal and threshold (falls back to manual without one)
    uncertain_rule: Literal["model", "manual"] = "model"
    uncertain_threshold: float = Field(0.6, ge=0, le=1)
    uncertain_margin: float = Field(0.2, ge=0, le=1)
    max_batch_size: int = Field(8, ge=1, le=256)
    max_wait_ms: float = Field(5.0, ge=0, le=1000)
    review_enabled: bool = True

    @classmethod
    def from_settings(cls, s: ApiSettings) -> RuntimeConfig:
        return cls(top_k=s.top_k, uncertain_rule=s.uncertain_rule, uncertain_threshold=s.uncertain_threshold,
                   uncertain_margin=s.uncertain_margin,
                   max_batch_size=s.max_batch_size, max_wait_ms=s.max_wait_ms)


class ConfigChangeError(ValueError):
    pass


def changed(cfg: RuntimeConfig, param: str, value: Any) -> RuntimeConfig:
    """A validated copy with one field changed; the original is untouched on any error."""
    if param not in RuntimeConfig.model_fields:
        raise ConfigChangeError(f"unknown parameter {param!r}; known: {', '.join(RuntimeConfig.model_fields)}")
    try:
        return RuntimeConfig.model_validate({**cfg.model_dump(), param: value})
    except ValidationError as exc:
        raise ConfigChangeError(f"{param}: {exc.errors()[0]['msg']}") from exc


def save(cfg: RuntimeConfig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(cfg.model_dump(), indent=2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(path: Path, defaults: RuntimeConfig) -> tuple[RuntimeConfig, bool]:
    """(config, found). A missing file gives the documented defaults, as the seed did."""
    if not path.is_file():
        return defaults, False
    try:
        return RuntimeConfig.model_validate(json.loads(path.read_text())), True
    except (ValidationError, json.JSONDecodeError) as exc:
        raise ConfigChangeError(f"{path.name} is not a valid config: {exc}") from exc
