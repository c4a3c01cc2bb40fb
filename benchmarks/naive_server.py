"""The seed's way of serving, kept only as the benchmark's baseline: Flask + PyTorch eager, one request
at a time, same model and same preprocessing as the real API.

Run: ``python -m benchmarks.naive_server MODEL_FOLDER PORT``
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from flask import Flask, jsonify, request

from wastesort.preprocess import decode_image, eval_transform
from wastesort_trainer.models import load_classifier


def make_app(folder: str) -> Flask:
    loaded = load_classifier(folder)
    transform = eval_transform(loaded.card.pretrained_cfg)
    app = Flask("naive")

    @app.post("/predict")
    def predict():
        out = []
        for f in request.files.getlist("files"):
            x = torch.from_numpy(transform(decode_image(f.read())))[None]
            with torch.no_grad():
                p = loaded.model(x).softmax(1)[0].numpy()
            out.append({"label": loaded.card.label_names[int(np.argmax(p))], "confidence": float(p.max())})
        return jsonify({"predictions": out})

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    make_app(sys.argv[1]).run(host="127.0.0.1", port=int(sys.argv[2]), threaded=False)
