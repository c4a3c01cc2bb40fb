"""Where the model looks on the field photos: Grad-CAM of the predicted class for one or more models, as a
contact sheet (issue #20 asks why glass, paper and cardboard fail off the white board before choosing a lever).

Every field photo gets one tile per model: the centre crop the model sees, the Grad-CAM of its predicted
class over it (last conv block, 7 x 7 at 224 px), and "true -> predicted (probability)" in green when right,
red when wrong. The JSON report adds, per photo and model, the prediction and how much of the CAM lies in
the central half of the crop (objects lie mid-frame on the floor; mass at the edges means the floor or the
frame border drives the decision).

    .venv/bin/python -m experiments.field_cam runs/lpft/probe runs/lpft/best --names probe lpft
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from wastesort.data import CLASSES, load_samples
from wastesort.preprocess import eval_transform, load_image_file
from wastesort.settings import get_settings
from wastesort_trainer.models import load_classifier
from wastesort_trainer.report import machine, save_json_report

TILE = 224


def grad_cam(model: torch.nn.Module, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(softmax probabilities, CAM in [0, 1] at input size) for one image, CAM of the arg-max class."""
    acts: list[torch.Tensor] = []
    handle = model.bn2.register_forward_hook(lambda _m, _i, out: acts.append(out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    feat = acts[0]
    top = int(logits.argmax(1))
    grad, = torch.autograd.grad(logits[0, top], feat)
    cam = torch.relu((grad.mean((2, 3), keepdim=True) * feat).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam / cam.max().clamp_min(1e-8)
    return logits.softmax(1)[0].detach().numpy(), cam.detach().numpy()


def centre_share(cam: np.ndarray) -> float:
    """Share of the CAM's mass inside the central half (by side) of the crop."""
    h, w = cam.shape
    inner = cam[h // 4: h - h // 4, w // 4: w - w // 4].sum()
    return float(inner / max(cam.sum(), 1e-8))


def tile(pixels: np.ndarray, cam: np.ndarray, caption: str, right: bool) -> Image.Image:
    heat = np.stack([cam, np.zeros_like(cam), 1 - cam], -1) * 255
    mixed = (0.6 * pixels + 0.4 * heat).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(mixed)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, TILE, 14), fill=(0, 110, 0) if right else (170, 0, 0))
    draw.text((3, 1), caption, fill=(255, 255, 255))
    return im


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help="model folders (RUN/best, RUN/probe, ...)")
    ap.add_argument("--names", nargs="+", help="a short name per model (default: folder names)")
    ap.add_argument("--classes", nargs="+", choices=CLASSES, help="only these true classes")
    ap.add_argument("--out", default="reports/field_cam")
    args = ap.parse_args(argv)
    names = args.names or [Path(m).name for m in args.models]
    if len(names) != len(args.models):
        raise SystemExit("one name per model")
    torch.set_num_threads(2)
    samples = [s for s in load_samples(get_settings().data.field)
               if not args.classes or CLASSES[s.label] in args.classes]
    loaded = [load_classifier(m) for m in args.models]
    for m in loaded:
        m.model.eval()
    rows, tiles = [], []
    for s in samples:
        image = load_image_file(s.path)
        row: dict[str, object] = {"photo": s.path.name, "true": CLASSES[s.label]}
        for name, m in zip(names, loaded, strict=True):
            cfg = m.card.pretrained_cfg
            x = torch.from_numpy(eval_transform(cfg)(image))[None]
            probs, cam = grad_cam(m.model, x)
            pred = int(probs.argmax())
            pixels = (x[0].numpy().transpose(1, 2, 0) * np.array(cfg.std) + np.array(cfg.mean)) * 255
            pixels = np.asarray(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).resize((TILE, TILE)))
            cam = np.asarray(Image.fromarray((cam * 255).astype(np.uint8)).resize((TILE, TILE))) / 255.0
            caption = f"{name}: {CLASSES[s.label]} -> {CLASSES[pred]} {probs[pred]:.2f}"
            tiles.append(tile(pixels, cam, caption, pred == s.label))
            row[name] = {"pred": CLASSES[pred], "prob": round(float(probs[pred]), 3),
                         "centre_share": round(centre_share(cam), 3)}
        rows.append(row)
    per_row = 2 * len(names) if len(names) <= 2 else len(names)
    sheet = Image.new("RGB", (per_row * TILE, -(-len(tiles) // per_row) * TILE), "white")
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % per_row) * TILE, (i // per_row) * TILE))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out.with_suffix(".png"))
    print(f"sheet: {out.with_suffix('.png')}")
    summary = {}
    for name in names:
        right = [r[name]["centre_share"] for r in rows if r[name]["pred"] == r["true"]]
        wrong = [r[name]["centre_share"] for r in rows if r[name]["pred"] != r["true"]]
        summary[name] = {"right": len(right), "wrong": len(wrong),
                         "centre_share_right": round(float(np.mean(right)), 3) if right else None,
                         "centre_share_wrong": round(float(np.mean(wrong)), 3) if wrong else None}
        print(name, summary[name])
    save_json_report(out.with_suffix(".json"), {"models": dict(zip(names, args.models, strict=True)),
                                                "summary": summary, "photos": rows, "machine": machine()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
