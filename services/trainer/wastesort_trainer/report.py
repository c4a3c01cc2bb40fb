"""Run folders: config, metrics JSON, training curve and confusion-matrix PNGs for one trained model."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from wastesort.card import ModelCard
from wastesort_trainer.metrics import plot_confusion, plot_history


def machine() -> dict[str, object]:
    """What every reported time or speed is stamped with: machines differ (AVX-512/bf16 or AVX2 only)."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    def first(key: str) -> str:
        return next((line.split(":", 1)[1].strip() for line in flags.splitlines()
                     if line.split(":", 1)[0].strip() == key), "?")

    return {"nproc": os.cpu_count(), "cpu": first("model name") or platform.processor(),
            "cpu_family_model": f"{first('cpu family')}/{first('model')}",  # "AMD EPYC" alone spans 4 generations
            "avx512": "avx512f" in flags, "bf16": "avx512_bf16" in flags or "amx_bf16" in flags,
            "vnni": "avx512_vnni" in flags or "avx_vnni" in flags,  # int8 dot products: what int8 speed needs
            "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")}


def write_eval_report(run_dir: Path, card: ModelCard, reports: dict[str, dict[str, Any]],
                      history: list[dict[str, Any]] | None = None) -> Path:
    """``reports`` maps a split name ('val', 'test') to classification_report output."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for split, rep in reports.items():
        plot_confusion(
            np.array(rep["confusion_matrix"]), card.label_names,
            run_dir / f"confusion_{split}.png",
            title=f"{card.architecture} on the {split} split: accuracy {rep['accuracy']:.4f}, "
                  f"macro-F1 {rep['macro_f1']:.4f} (n={rep['n']})",
        )
    if history:
        plot_history(history, run_dir / "training_curve.png")
    out = run_dir / "metrics.json"
    out.write_text(json.dumps({"model": card.model_dump(exclude={"metrics"}), "reports": reports}, indent=2))
    return out


def save_json_report(path: Path | str, data: dict[str, Any]) -> Path:
    """Benchmark and measurement scripts all end here: one JSON file, its path printed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str))
    print(f"report: {path}")
    return path


def format_report(name: str, rep: dict[str, Any]) -> str:
    lines = [f"{name}: accuracy {rep['accuracy']:.4f}  macro-F1 {rep['macro_f1']:.4f}  (n={rep['n']})",
             f"  {'class':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>7}"]
    for cls, m in rep["per_class"].items():
        lines.append(f"  {cls:<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} {m['support']:>7}"
                     f"  ({round(m['recall'] * m['support'])}/{m['support']} right)")
    if rep.get("error_auroc"):
        lines.append("  error-detection AUROC: " + ", ".join(
            f"{k} {v:.3f}" for k, v in rep["error_auroc"].items() if v is not None))
    return "\n".join(lines)
