"""Build ``.gpu/``: what a lent GPU machine needs to train there, inside the 64 MiB it can carry.

The device machine has PyTorch, timm and OpenCV but neither our other dependencies nor ``../shared``.
The bundle holds: Python 3.12 wheels of the missing packages, TrashNet losslessly re-packed (jpegtran),
the training part of the backgrounds at <= 448 px (the held-out part as 8x8 placeholders, so that the
split by source, which only looks at names, stays the same), and Lite2's ImageNet weights in timm
layout with the conv/linear tensors in fp16 and the ImageNet head left out (so ~10 MB).

    python experiments/gpu_probe/bundle.py   (.gpu/ is git-ignored)
    # device run (carry .gpu):
    #   python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl
    #   PYTHONPATH=/tmp/site TRAIN_LIMIT=400 bash experiments/gpu_probe/go.sh python3
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import timm
import torch
from safetensors.torch import save_file

from wastesort.settings import get_settings
from wastesort_trainer.backgrounds import list_background_files, split_background_files
from wastesort_trainer.models import _pypi_lite_state_dict

WHEELS = ["pydantic==2.14.4", "pydantic-core==2.50.5", "pydantic-settings==2.16.3", "python-dotenv==1.2.4",
          "annotated-types==0.8.0", "typing-inspection==0.4.5", "albumentations==2.0.8", "albucore==0.0.24",
          "simsimd==6.5.16", "stringzilla==5.3.2"]


def main(out: Path = Path(".gpu")) -> None:
    settings = get_settings()
    out.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                    "-d", str(out / "whl"), *WHEELS], check=True)
    src = settings.data.root
    for f in src.rglob("*"):
        t = out / "data" / "trashnet" / f.relative_to(src)
        if f.is_dir():
            continue
        t.parent.mkdir(parents=True, exist_ok=True)
        if f.suffix.lower() == ".jpg" and shutil.which("jpegtran"):
            subprocess.run(["jpegtran", "-copy", "none", "-optimize", "-progressive", "-outfile", str(t), str(f)],
                           check=True)
        else:
            shutil.copy(f, t)
    bsrc, bdst = settings.data.backgrounds, out / "data" / "backgrounds"
    bdst.mkdir(parents=True, exist_ok=True)
    for name in ("sources.csv", "README.md"):
        shutil.copy(bsrc / name, bdst / name)
    for part, files in split_background_files(list_background_files(bsrc)).items():
        for f in files:
            t = bdst / f.path.relative_to(bsrc)
            t.parent.mkdir(parents=True, exist_ok=True)
            img = cv2.imread(str(f.path))
            if part == "test":
                img = np.full((8, 8, 3), 128, np.uint8)
            elif (s := 448 / max(img.shape[:2])) < 1:
                img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(t), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    sd = _pypi_lite_state_dict("efficientnet-lite2", timm.create_model("tf_efficientnet_lite2", num_classes=1000))
    small = {k: (v.half() if v.ndim > 1 else v.float()).contiguous() for k, v in sd.items()
             if not k.startswith("classifier")}
    # a head of the wrong shape makes the loader re-initialise it to zeros, as with the full weights
    small |= {"classifier.weight": torch.zeros(1, 1280, dtype=torch.float16),
              "classifier.bias": torch.zeros(1, dtype=torch.float16)}
    save_file(small, str(out / "lite2_fp16.safetensors"))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {total / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
