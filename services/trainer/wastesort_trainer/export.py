"""ONNX export with a parity check: the API serves the .onnx, so it must agree with PyTorch."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wastesort import WastesortError
from wastesort.card import INT8_FILE, ONNX_FILE, ModelCard, read_card, write_card
from wastesort.data import Sample
from wastesort.preprocess import Transform, load_image_file

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-3


class ExportError(WastesortError):
    """ONNX export failed or does not match PyTorch."""


def export_onnx(model: torch.nn.Module, card: ModelCard, folder: Path, *,
                sample: np.ndarray | None = None) -> float:
    """Write ``folder/model.onnx`` (dynamic batch) and return the max |logit| difference vs PyTorch."""
    import onnxruntime as ort

    size = card.pretrained_cfg.input_size
    model = model.float().cpu().eval().to(memory_format=torch.contiguous_format)
    dummy = torch.zeros(1, 3, size, size)
    path = folder / ONNX_FILE
    tmp = path.with_suffix(".onnx.tmp")
    torch.onnx.export(model, (dummy,), str(tmp), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                      dynamo=False)
    if sample is None:
        sample = np.random.default_rng(0).standard_normal((4, 3, size, size)).astype(np.float32)
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = sess.run(["logits"], {"input": sample})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(sample)).numpy()
    diff = float(np.abs(got - want).max())
    if diff > PARITY_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"ONNX output differs from PyTorch by {diff:.2e} (> {PARITY_TOLERANCE})")
    tmp.replace(path)
    log.info("exported %s (parity max abs diff %.2e)", path, diff)
    return diff



INT8_TOLERANCE_POINTS = 0.5
CheckSet = tuple[np.ndarray, np.ndarray]  # preprocessed images (N, 3, H, W), labels (N,)


def check_set(samples: Sequence[Sample], transform: Transform) -> CheckSet:
    """Photos through the served model's own preprocessing, held in memory: every engine scores the same input."""
    return (np.stack([transform(load_image_file(s.path)) for s in samples]), np.array([s.label for s in samples]))


def batched_accuracy(logits_of: Callable[[np.ndarray], np.ndarray], images: np.ndarray, labels: np.ndarray,
                     batch: int = 16) -> float:
    """Top-1 accuracy of any engine (``batch -> logits``) over a preprocessed set."""
    logits = np.concatenate([logits_of(images[i:i + batch]) for i in range(0, len(images), batch)])
    return float(np.mean(logits.argmax(1) == labels))


def _ov_logits(compiled: Any) -> Callable[[np.ndarray], np.ndarray]:
    return lambda batch: compiled(batch)[0]


def export_int8(folder: Path, calibration: np.ndarray, checks: dict[str, CheckSet], *,
                tolerance: float = INT8_TOLERANCE_POINTS, control: str | None = None) -> dict[str, Any]:
    """Quantize ``folder/model.onnx`` to int8 (NNCF post-training quantization on ``calibration``, which
    must be training images only), write the OpenVINO IR beside it and record the verdict in the card.

    The variant is accepted only if no check set loses more than ``tolerance`` points against f32: an
    int8 model that is faster but wrong more often is not a variant the API should serve. Both models
    are scored here with f32 inference precision so bf16 CPUs do not blur the comparison.

    ``control`` names a check set for NNCF's accuracy control: the layers whose quantization costs most on
    that set go back to f32 until it is within ``tolerance`` (minutes, not seconds). That set then no longer
    judges independently; the verdict records it, and the other sets still do.
    """
    try:
        import nncf
    except ImportError as exc:  # pragma: no cover - nncf ships with the trainer extra
        raise ExportError("int8 export needs nncf: pip install '.[trainer]'") from exc
    import openvino as ov

    if not (folder / ONNX_FILE).is_file():
        raise ExportError(f"{folder} has no {ONNX_FILE}: run `wastesort export {folder}` first")
    if len(calibration) == 0:
        raise ExportError("int8 calibration needs at least one training image")
    core = ov.Core()
    f32 = core.read_model(str(folder / ONNX_FILE))
    started = time.perf_counter()
    calib = nncf.Dataset(list(calibration), lambda x: x[None])
    if control is None:
        quantized = nncf.quantize(f32, calib, subset_size=len(calibration))
    else:
        images, labels = checks[control]
        quantized = nncf.quantize_with_accuracy_control(
            f32, calib, nncf.Dataset(list(range(len(labels)))), subset_size=len(calibration),
            validation_fn=lambda compiled, items: batched_accuracy(_ov_logits(compiled), images[(idx := list(items))],
                                                                   labels[idx]),
            max_drop=tolerance / 100, drop_type=nncf.DropType.ABSOLUTE)
    seconds = time.perf_counter() - started
    scores: dict[str, dict[str, float]] = {}
    compiled = {name: core.compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
                for name, m in (("f32", f32), ("int8", quantized))}
    for set_name, (images, labels) in checks.items():
        acc = {name: batched_accuracy(_ov_logits(c), images, labels) for name, c in compiled.items()}
        scores[set_name] = {"n": len(labels), "f32": round(100 * acc["f32"], 2), "int8": round(100 * acc["int8"], 2),
                            "change_points": round(100 * (acc["int8"] - acc["f32"]), 2)}
    accepted = all(s["change_points"] >= -tolerance for s in scores.values())
    path = folder / INT8_FILE
    tmp = path.with_name("model_int8.tmp.xml")
    ov.save_model(quantized, str(tmp))  # writes .xml and .bin; moved into place xml last
    tmp.with_suffix(".bin").replace(path.with_suffix(".bin"))
    tmp.replace(path)
    verdict = {"accepted": accepted, "tolerance_points": tolerance, "checks": scores, "controlled_on": control,
               # fewer than plain quantization places: the layers accuracy control left in f32
               "quantizers": sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops()),
               "calibration_images": len(calibration), "quantize_seconds": round(seconds, 1),
               "bytes": path.stat().st_size + path.with_suffix(".bin").stat().st_size}
    card = read_card(folder)
    card.metrics["int8"] = verdict
    write_card(card, folder)
    log.info("int8 variant %s: %s", "accepted" if accepted else "refused", scores)
    return verdict
