"""ONNX export with a parity check: the API serves the .onnx, so it must agree with PyTorch."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from wastesort import WastesortError
from wastesort.models import ONNX_FILE, ModelCard

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


INT8_FILE = "model.int8.onnx"


def quantize_int8(folder: Path, calibration: np.ndarray) -> Path:
    """Static int8 quantization (QDQ, per-channel weights) calibrated on preprocessed training images.

    EfficientNet-Lite was designed for int8 (ReLU6, no squeeze-excite); on AVX-512 VNNI CPUs the int8
    graph runs faster than fp32. Callers must check accuracy on val before serving it.
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"input": calibration[i:i + 8]} for i in range(0, len(calibration), 8)])

        def get_next(self):
            return next(self.batches, None)

    src = folder / ONNX_FILE
    prep = folder / "model.prep.onnx.tmp"
    out = folder / INT8_FILE
    quant_pre_process(str(src), str(prep), skip_symbolic_shape=True)
    tmp = folder / "model.int8.onnx.tmp"
    quantize_static(str(prep), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    prep.unlink(missing_ok=True)
    tmp.replace(out)
    return out
