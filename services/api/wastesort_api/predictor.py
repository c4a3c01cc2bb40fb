"""The one owner of inference: image bytes in, predictions out.

decode + transform (threads) -> micro-batcher -> softmax, top-k, uncertainty rule -> metrics and the
review queue. Routes only validate the request, await :meth:`Predictor.predict` and serialise; the
error types below map to 400/503/504 there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from wastesort import WastesortError
from wastesort.confidence import confidence_signals, is_uncertain, review_score, softmax
from wastesort.preprocess import ImageError, UnsupportedFormat, decode_image
from wastesort.settings import RuntimeConfig
from wastesort_api.batcher import Batcher, Overloaded, Stale
from wastesort_api.metrics import Metrics
from wastesort_api.review import ReviewQueue
from wastesort_api.runner import ModelRunner, ServedModel
from wastesort_api.schemas import ClassProbability, PredictionOut

log = logging.getLogger(__name__)

__all__ = ["BadImages", "NoModel", "Overloaded", "Predictor", "Stale"]


class NoModel(WastesortError):
    """Nothing published yet (or the first load failed): callers retry later."""


class BadImages(WastesortError):
    """One or more inputs are not usable images; nothing of the request was predicted."""

    def __init__(self, errors: list[tuple[str, str]], *, unsupported: bool = False):
        super().__init__("; ".join(f"{name}: {msg}" for name, msg in errors))
        self.errors = errors
        self.unsupported = unsupported  # every bad input is a real image in a format we refuse


@dataclass
class Predictor:
    runner: ModelRunner
    batcher: Batcher
    metrics: Metrics
    review: ReviewQueue
    config: RuntimeConfig  # replaced whole by /change and /restore_config; read per request
    max_pixels: int
    # Decoding has its own threads and a bound on images in flight: 32 x 40-megapixel PNGs once queued
    # ahead of every model call in the shared pool and turned other clients' requests into 504s.
    max_decoding: int = 64
    decode_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    _decoding: int = 0

    def __post_init__(self) -> None:
        self._decoder = ThreadPoolExecutor(self.decode_threads, thread_name_prefix="decode")

    def model(self) -> ServedModel:
        model = self.runner.current
        if model is None:
            raise NoModel("no model is loaded yet (publish one to the store)")
        return model

    async def predict(self, inputs: list[tuple[str, bytes]]) -> tuple[str, list[PredictionOut]]:
        """(model version, one prediction per input). All inputs run on one model snapshot, even
        across a hot swap; one unreadable image refuses the whole request before any model call."""
        model = self.model()
        if self._decoding + len(inputs) > self.max_decoding:
            self.metrics.rejected.labels(reason="decode_full").inc()
            raise Overloaded(f"{self._decoding} images already being decoded (at most {self.max_decoding})")
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        self._decoding += len(inputs)
        try:
            prepared = await asyncio.gather(*(loop.run_in_executor(self._decoder, self._prepare, data, model)
                                              for _, data in inputs), return_exceptions=True)
        finally:
            self._decoding -= len(inputs)
        failed = [(name, r) for (name, _), r in zip(inputs, prepared, strict=True) if isinstance(r, ImageError)]
        if failed:
            raise BadImages([(name, str(r)) for name, r in failed],
                            unsupported=all(isinstance(r, UnsupportedFormat) for _, r in failed))
        for r in prepared:
            if isinstance(r, BaseException):
                raise r
        preds = await asyncio.gather(*(self._one(model, name, data, x, started)
                                       for (name, data), x in zip(inputs, prepared, strict=True)))
        return model.version, list(preds)

    def _keep_for_review(self, data: bytes, meta: dict) -> str | None:
        """Saving for review never fails a prediction: a full disk costs the review item, counted."""
        try:
            return self.review.add(data, meta)
        except Exception:  # noqa: BLE001 - the answer matters more than the review copy
            log.warning("could not keep an uncertain photo for review", exc_info=True)
            self.metrics.review_dropped.labels(reason="error").inc()
            return None

    def _prepare(self, data: bytes, model: ServedModel) -> np.ndarray:
        return model.transform(decode_image(data, max_pixels=self.max_pixels))

    async def _one(self, model: ServedModel, name: str, data: bytes, x: np.ndarray,
                   started: float) -> PredictionOut:
        logits = await self.batcher.submit(x, model)
        cfg = self.config
        probs = softmax(logits)
        order = np.argsort(-probs)
        labels = model.card.label_names
        signals = {k: float(v[0]) for k, v in confidence_signals(logits).items()}
        uncertain = is_uncertain(signals, calibration=model.card.metrics.get("uncertainty"), rule=cfg.uncertain_rule,
                                 threshold=cfg.uncertain_threshold, margin=cfg.uncertain_margin)
        label = labels[order[0]]
        self.metrics.predictions.labels(label=label).inc()
        review_id = None
        if uncertain:
            self.metrics.uncertain.inc()
        sampled = not uncertain and random.random() < cfg.review_confident_share
        if cfg.review_enabled and (uncertain or sampled):
            review_id = await asyncio.to_thread(self._keep_for_review, data, {
                "filename": name, "label": label, "confidence": signals["max_prob"], "margin": signals["margin"],
                "score": review_score(signals, model.card.metrics.get("uncertainty")),
                "reason": "uncertain" if uncertain else "sampled", "model_version": model.version,
                "probabilities": dict(zip(labels, map(float, probs), strict=True))})
        return PredictionOut(
            filename=name, label=label, confidence=signals["max_prob"], margin=signals["margin"],
            uncertain=uncertain, model_version=model.version, review_id=review_id,
            top_k=[ClassProbability(label=labels[i], probability=float(probs[i])) for i in order[:cfg.top_k]],
            latency_ms=round((time.perf_counter() - started) * 1000, 2))
