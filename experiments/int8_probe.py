"""int8 probe (issue #22): OpenVINO NNCF post-training quantization of a served model, calibrated on TrashNet
train images only, compared with f32 on TrashNet test and the field set, plus latency at batch 1 and 8.

Run: ``PYTHONPATH=<nncf> python -m experiments.int8_probe MODEL_FOLDER [--calib 300]`` (nncf is not a project
dependency yet).
"""

from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import nncf
import numpy as np
import openvino as ov

from wastesort.card import read_card
from wastesort.data import by_split, load_samples
from wastesort.preprocess import eval_transform, load_image_file
from wastesort.settings import get_settings
from wastesort_trainer.report import machine


def accuracy(compiled, xs: np.ndarray, ys: list[int]) -> float:
    logits = np.concatenate([compiled(xs[i:i + 16])[0] for i in range(0, len(xs), 16)])
    return float(np.mean(logits.argmax(1) == np.array(ys)))


def latency_ms(compiled, x: np.ndarray, n: int = 60) -> tuple[float, float]:
    for _ in range(5):
        compiled(x)
    t = []
    for _ in range(n):
        s = time.perf_counter()
        compiled(x)
        t.append(1000 * (time.perf_counter() - s))
    return round(float(np.percentile(t, 50)), 2), round(float(np.percentile(t, 99)), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--calib", type=int, default=300)
    args = ap.parse_args()
    folder = Path(args.model)
    card = read_card(folder)
    tf = eval_transform(card.pretrained_cfg)
    names = card.label_names
    settings = get_settings()
    samples = load_samples(settings.data.root)
    rng = np.random.default_rng(0)
    train = by_split(samples, "train")
    calib = [tf(load_image_file(train[i].path)) for i in rng.choice(len(train), args.calib, replace=False)]
    test = by_split(samples, "test")
    sets = {
        "trashnet_test": (np.stack([tf(load_image_file(s.path)) for s in test]), [s.label for s in test]),
        "field": (np.stack([tf(load_image_file(f)) for f in sorted(glob.glob(f"{settings.data.field}/*/*.jp*g"))]),
                  [names.index(Path(f).parent.name) for f in sorted(glob.glob(f"{settings.data.field}/*/*.jp*g"))]),
    }
    core = ov.Core()
    f32 = core.read_model(str(folder / "model.onnx"))
    t = time.perf_counter()
    q = nncf.quantize(f32, nncf.Dataset(calib, lambda x: x[None]), subset_size=args.calib)
    quant_s = time.perf_counter() - t
    out = {"machine": machine(), "model": str(folder), "calibration_images": args.calib,
           "quantize_s": round(quant_s, 1)}
    for name, model in (("f32", f32), ("int8", q)):
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        r = {k: round(100 * accuracy(compiled, xs, ys), 2) for k, (xs, ys) in sets.items()}
        r["batch1_p50_p99_ms"] = latency_ms(compiled, sets["trashnet_test"][0][:1])
        r["batch8_p50_p99_ms"] = latency_ms(compiled, sets["trashnet_test"][0][:8])
        out[name] = r
        print(name, r, flush=True)
    Path("reports").mkdir(exist_ok=True)
    Path("reports/int8_probe.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
