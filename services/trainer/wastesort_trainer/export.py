"""ONNX export with a parity check: the API serves the .onnx, so it must agree with PyTorch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from wastesort import WastesortError
from wastesort.card import ONNX_FILE, ModelCard

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

