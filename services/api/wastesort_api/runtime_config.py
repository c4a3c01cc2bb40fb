"""Change, save and restore a replica's :class:`~wastesort.settings.RuntimeConfig`, validated by type.

The knobs themselves are defined once, in the shared settings; this module only moves them around.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from wastesort.settings import RuntimeConfig


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
