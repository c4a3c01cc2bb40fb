"""The micro-batcher's refusals: 503 when its queue is full, 504 when an image waited too long, and a
model that answers the wrong number of rows fails its whole batch instead of mixing up answers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from wastesort.card import ModelCard
from wastesort.preprocess import eval_transform
from wastesort_api.batcher import Batcher, Overloaded, Stale
from wastesort_api.metrics import Metrics
from wastesort_api.runner import ServedModel


def served(engine) -> ServedModel:
    card = ModelCard(architecture="tf_efficientnet_lite0")
    return ServedModel("v1", card, engine, eval_transform(card.pretrained_cfg), "onnx")


def six_logits(batch: np.ndarray) -> np.ndarray:
    return np.tile(np.arange(6, dtype=np.float32), (len(batch), 1)) + batch.reshape(len(batch), -1)[:, :1]


X = np.zeros((3, 4, 4), np.float32)


def test_answers_each_caller_with_its_own_row(run):
    async def go():
        metrics = Metrics()
        b = Batcher(limits=lambda: (8, 20), max_queue=16, metrics=metrics)
        b.start()
        try:
            outs = await asyncio.gather(*(b.submit(X + i, served(six_logits)) for i in range(5)))
        finally:
            await b.stop()
        return outs, metrics

    outs, metrics = run(go())
    assert [float(o[0]) for o in outs] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert metrics.batch_size._sum.get() == 5  # every image went through the model exactly once


def test_full_queue_refuses_at_once_and_counts_it(run):
    async def go():
        metrics = Metrics()
        b = Batcher(limits=lambda: (8, 5), max_queue=2, metrics=metrics)  # not started: nothing drains it
        model = served(six_logits)
        waiting = [asyncio.ensure_future(b.submit(X, model)) for _ in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded, match="2 images already waiting"):
            await b.submit(X, model)
        for w in waiting:
            w.cancel()
        return metrics.rejected.labels(reason="queue_full")._value.get()

    assert run(go()) == 1


def test_an_image_that_waited_too_long_is_answered_stale_not_run(run):
    calls = []

    def engine(batch):
        calls.append(len(batch))
        return six_logits(batch)

    async def go():
        b = Batcher(limits=lambda: (8, 5), max_queue=8, metrics=Metrics(), stale_after_s=0.05)
        pending = asyncio.ensure_future(b.submit(X, served(engine)))
        await asyncio.sleep(0.15)  # the model loop starts late: the image is stale by then
        b.start()
        try:
            with pytest.raises(Stale):
                await pending
        finally:
            await b.stop()

    run(go())
    assert calls == []


def test_wrong_row_count_fails_the_whole_batch(run):
    async def go():
        b = Batcher(limits=lambda: (8, 30), max_queue=8, metrics=Metrics())
        b.start()
        model = served(lambda batch: np.zeros((len(batch) + 1, 6), np.float32))
        try:
            return await asyncio.gather(*(b.submit(X, model) for _ in range(3)), return_exceptions=True)
        finally:
            await b.stop()

    results = run(go())
    assert len(results) == 3
    assert all(isinstance(r, RuntimeError) and "rows for" in str(r) for r in results)
