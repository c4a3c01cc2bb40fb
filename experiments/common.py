"""Small helpers the field-set experiments share."""

from __future__ import annotations

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, so a matrix product gives cosine similarities."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def add_model_rows(report: dict, folder: str, rows: dict[str, dict]) -> None:
    """Keep one model's result rows in the JSON report and print them as they come."""
    report.setdefault("models", {})[folder] = rows
    print(folder)
    for name, row in rows.items():
        print(f"  {name:10s} {row}")
