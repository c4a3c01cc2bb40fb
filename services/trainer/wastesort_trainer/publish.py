"""Turn a finished training run into a served model: ONNX export, card, quality gate, store.

The CLI (``wastesort train --publish``), the starter model and the worker's jobs all publish through
:func:`publish_run`, so no path skips the gate or ships a model without its ONNX file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from wastesort.card import ModelCard, write_card
from wastesort.data import Sample
from wastesort.store import ModelStore
from wastesort_trainer.evaluation import evaluate
from wastesort_trainer.export import export_onnx

log = logging.getLogger(__name__)

REPORTED = ("accuracy", "macro_f1", "min_precision", "min_recall", "per_class", "n")


@dataclass
class Finished:
    """What publishing needs of a run: the best model, its card and its folder."""

    model: torch.nn.Module
    card: ModelCard
    folder: Path


def export_artifact(run: Finished) -> float:
    """Write model.onnx beside the weights (parity-checked) and record the check on the card."""
    diff = export_onnx(run.model, run.card, run.folder)
    run.card.metrics["onnx_max_abs_diff"] = diff
    write_card(run.card, run.folder)
    return diff


def gate(new_acc: float, current_acc: float | None, *, margin: float, force: bool) -> tuple[bool, str]:
    """Promote unless the new model is worse on val than the current one by more than ``margin``."""
    if force:
        return True, "forced"
    if current_acc is None:
        return True, "no current model with val metrics"
    if new_acc >= current_acc - margin:
        return True, f"val accuracy {new_acc:.4f} within {margin} of current {current_acc:.4f}"
    return False, f"val accuracy {new_acc:.4f} worse than current {current_acc:.4f} by more than {margin}"


def publish_run(run: Finished, store: ModelStore, *, mode: str, version: str | None = None, force: bool = False,
                gate_margin: float = 0.01, test: Sequence[Sample] | None = None,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Export, describe, gate and publish one run; CURRENT moves only when the gate passes."""
    export_artifact(run)
    if test:  # a report for people: nothing (gate, promotion) reads it
        rep = evaluate(run.model, test, run.card.pretrained_cfg, tta=bool(run.card.metrics.get("val_tta")))
        run.card.metrics["test"] = {k: rep[k] for k in REPORTED}
    current = store.current()
    run.card.mode, run.card.parent, run.card.version = mode, current, version
    write_card(run.card, run.folder)
    cur_acc = None
    if current is not None:
        cur_acc = (store.manifest(current).get("metrics", {}).get("val") or {}).get("accuracy")
    promote, reason = gate(run.card.metrics["val"]["accuracy"], cur_acc, margin=gate_margin, force=force)
    published = store.publish(run.folder, mode=mode, version=version, parent=current, promote=promote,
                              extra={**(extra or {}), "gate": reason})
    log.info("published %s (promoted=%s: %s)", published, promote, reason)
    return {"version": published, "promoted": promote, "gate": reason, "parent": current}
