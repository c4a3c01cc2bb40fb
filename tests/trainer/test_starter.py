"""The starter model is a normal artifact whose head is the fitted logistic regression, published through
the same gate as any run."""

from __future__ import annotations

import numpy as np

from tests.utils.factories import real_samples
from wastesort.card import read_card
from wastesort.store import LocalStore
from wastesort_trainer.evaluation import predict_logits
from wastesort_trainer.features import probe_head
from wastesort_trainer.models import load_classifier
from wastesort_trainer.publish import publish_run
from wastesort_trainer.starter import fit_starter


def test_probe_head_folds_the_standardisation_into_the_weights():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (6, 16))
    y = np.repeat(np.arange(6), 20)
    x = centres[y] * 5 + 40 + rng.normal(0, 1, (len(y), 16))  # far from zero mean, unit-free scale
    head, c, acc = probe_head(x[::2], y[::2], x[1::2], y[1::2])
    assert acc == 1.0 and c in (0.1, 0.3, 1.0, 3.0)
    assert ((x[1::2] @ head.weight.T + head.bias).argmax(1) == y[1::2]).all()  # raw features in, right answers


def test_starter_artifact_serves_its_fitted_head_and_publishes(tmp_path):
    train, val = real_samples("train", 3), real_samples("val", 1)
    done = fit_starter(train, val, tmp_path / "run", architecture="tf_efficientnet_lite0", input_size=96)
    card = read_card(done.folder)
    assert card.description.startswith("starter") and card.train_config["recipe"] == "starter"
    reloaded = load_classifier(done.folder)
    logits = predict_logits(reloaded.model, train, card.pretrained_cfg)
    assert (logits.argmax(1) == np.array([s.label for s in train])).mean() >= 0.8  # a real fit, not a zero head
    store = LocalStore(tmp_path / "store")
    res = publish_run(done, store, mode="starter")
    assert res["promoted"] and store.current() == res["version"]
    assert "model.onnx" in store.manifest(res["version"])["files"]
