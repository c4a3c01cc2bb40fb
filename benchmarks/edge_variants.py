"""Edge variants (issue #22): each model folder x {OpenVINO f32, OpenVINO int8, ONNX Runtime f32}, through the
API's own engines: TrashNet test and field-set accuracy, file size, batch-1 latency and batch-8 throughput.

A folder without an int8 variant gets one first (``wastesort export --int8``: calibrated on train photos,
checked on val and the field set). Run one benchmark at a time on an otherwise idle machine.

Run: ``python -m benchmarks.edge_variants runs/lite0/best runs/lite1/best runs/lite2/best``
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from wastesort.card import INT8_FILE, ONNX_FILE, read_card
from wastesort.data import by_split, load_samples
from wastesort.preprocess import eval_transform
from wastesort.settings import get_settings
from wastesort_api.runner import OpenVinoEngine, ServedModel, load_served
from wastesort_trainer import cli
from wastesort_trainer.export import CheckSet, batched_accuracy, check_set
from wastesort_trainer.report import machine, save_json_report

ENGINES = {"openvino-f32": "OpenVINO f32", "openvino-int8": "OpenVINO int8", "onnx": "ONNX Runtime f32"}


def photo_sets(transform) -> dict[str, CheckSet]:
    settings = get_settings()
    sets = {"test": by_split(load_samples(settings.data.root), "test"), "field": load_samples(settings.data.field)}
    return {name: check_set(samples, transform) for name, samples in sets.items()}


def timed(fn, x: np.ndarray, runs: int) -> np.ndarray:
    for _ in range(3):
        fn(x)
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(x)
        out.append(1000 * (time.perf_counter() - t))
    return np.array(out)


def engine_for(folder: Path, engine: str, threads: int) -> ServedModel:
    """The API's own engines; the int8 IR is measured even where its accuracy check refused it (the API would
    then serve f32 instead), because the table is there to show what int8 costs and buys."""
    if engine != "openvino-int8":
        return load_served(folder, folder.name, engine=engine, threads=threads)
    card = read_card(folder)
    return ServedModel(folder.name, card, OpenVinoEngine(folder, threads, "f32", INT8_FILE),
                       eval_transform(card.pretrained_cfg), engine)


def measure(folder: Path, engine: str, sets: dict, threads: int) -> dict:
    served = engine_for(folder, engine, threads)
    row = {"engine": served.engine_name}
    for name, (x, y) in sets.items():
        row[f"{name}_acc"] = round(100 * batched_accuracy(served.predict, x, y), 2)
    one = timed(served.predict, sets["test"][0][:1], 100)
    eight = timed(served.predict, sets["test"][0][:8], 30)
    row |= {"batch1_p50_ms": round(float(np.percentile(one, 50)), 2),
            "batch1_p99_ms": round(float(np.percentile(one, 99)), 2),
            "batch8_images_per_s": round(8000 / float(np.median(eight)), 1)}
    files = [folder / INT8_FILE, (folder / INT8_FILE).with_suffix(".bin")] if engine.endswith("int8") else \
        [folder / ONNX_FILE]
    row["mb"] = round(sum(f.stat().st_size for f in files) / 1e6, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="model folders (with model.onnx)")
    ap.add_argument("--threads", type=int, default=0, help="engine threads (0: all cores, as the API)")
    ap.add_argument("--keep-sensitive", action="store_true", help="int8 with accuracy control (see wastesort export)")
    ap.add_argument("--report", default="reports/edge_variants.json")
    args = ap.parse_args(argv)
    rows = []
    for folder in args.models:
        if not (folder / INT8_FILE).is_file():
            cli.main(["export", str(folder), "--int8"] + (["--keep-sensitive"] if args.keep_sensitive else []))
        card = read_card(folder)
        sets = photo_sets(eval_transform(card.pretrained_cfg))
        for engine in ENGINES:
            row = {"model": card.architecture, "input_size": card.pretrained_cfg.input_size,
                   "folder": str(folder), "variant": ENGINES[engine],
                   **measure(folder, engine, sets, args.threads or os.cpu_count() or 1)}
            row["int8_accepted"] = (card.metrics.get("int8") or {}).get("accepted")
            rows.append(row)
            print(row, flush=True)
    print(f"\n{'model':24s} {'variant':18s} {'test':>7s} {'field':>7s} {'MB':>6s} {'b1 p50':>7s} {'b1 p99':>7s} "
          f"{'b8 img/s':>9s}")
    for r in rows:
        print(f"{r['model']:24s} {r['variant']:18s} {r['test_acc']:6.2f}% {r['field_acc']:6.2f}% {r['mb']:6.1f} "
              f"{r['batch1_p50_ms']:7.1f} {r['batch1_p99_ms']:7.1f} {r['batch8_images_per_s']:9.1f}")
    print(machine())
    save_json_report(args.report, {"machine": machine(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
