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


@dataclass
class SiteCheck:
    """Held-out site photos: the new model's accuracy on them and the current model's on the same photos.

    A site model is judged where it will work (site photos it was not fitted on), not on TrashNet val alone:
    a fine-tune on site photos once lowered that site's accuracy and still passed a val-only gate."""

    new: float
    current: float
    n: int
    how: str  # "cross-validation" | "held back"

    def as_dict(self) -> dict[str, Any]:
        return {"new_accuracy": round(self.new, 4), "current_accuracy": round(self.current, 4), "n": self.n,
                "how": self.how}


def gate(new_acc: float, current_acc: float | None, *, margin: float, force: bool,
         site: SiteCheck | None = None) -> tuple[bool, str]:
    """Promote unless the new model is worse on val than the current one by more than ``margin``; with site
    photos, also unless it is worse than the current model on the held-out site photos."""
    if force:
        return True, "forced"
    site_note = ""
    if site is not None:
        site_note = (f"; site photos ({site.how}, n={site.n}) {site.new:.4f} vs current {site.current:.4f}")
        if site.new < site.current:
            return False, f"worse than current on the site's held-out photos{site_note}"
    if current_acc is None:
        return True, "no current model with val metrics" + site_note
    if new_acc >= current_acc - margin:
        return True, f"val accuracy {new_acc:.4f} within {margin} of current {current_acc:.4f}{site_note}"
    return False, (f"val accuracy {new_acc:.4f} worse than current {current_acc:.4f} by more than {margin}"
                   f"{site_note}")


def publish_run(run: Finished, store: ModelStore, *, mode: str, version: str | None = None, force: bool = False,
                gate_margin: float = 0.02, test: Sequence[Sample] | None = None,
                extra: dict[str, Any] | None = None, site: SiteCheck | None = None,
                current_val: float | None = None) -> dict[str, Any]:
    """Export, describe, gate and publish one run; CURRENT moves only when the gate passes.

    ``current_val``: the current model's val accuracy measured the same way as the new one's (adapting
    measures both on the same features); by default the figure in the current model's manifest."""
    export_artifact(run)
    if test:  # a report for people: nothing (gate, promotion) reads it
        rep = evaluate(run.model, test, run.card.pretrained_cfg, tta=bool(run.card.metrics.get("val_tta")))
        run.card.metrics["test"] = {k: rep[k] for k in REPORTED}
    current = store.current()
    run.card.mode, run.card.parent, run.card.version = mode, current, version
    write_card(run.card, run.folder)
    cur_acc = current_val
    if cur_acc is None and current is not None:
        cur_acc = (store.manifest(current).get("metrics", {}).get("val") or {}).get("accuracy")
    new_val = run.card.metrics["val"]["accuracy"]
    promote, reason = gate(new_val, cur_acc, margin=gate_margin, force=force, site=site)
    judged = {"val": {"new_accuracy": round(new_val, 4),
                      "current_accuracy": None if cur_acc is None else round(cur_acc, 4), "margin": gate_margin},
              **({"site": site.as_dict()} if site else {})}
    published = store.publish(run.folder, mode=mode, version=version, parent=current, promote=promote,
                              extra={**(extra or {}), "gate": reason, "judged": judged})
    log.info("published %s (promoted=%s: %s)", published, promote, reason)
    return {"version": published, "promoted": promote, "gate": reason, "judged": judged, "parent": current}
