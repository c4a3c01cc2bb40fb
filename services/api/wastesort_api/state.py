"""Everything a replica holds, built once in the lifespan and kept on ``app.state.ws``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wastesort.settings import RuntimeConfig, Settings
from wastesort.store import ModelStore
from wastesort_api.batcher import Batcher
from wastesort_api.metrics import Metrics
from wastesort_api.predictor import Predictor
from wastesort_api.review import ReviewQueue
from wastesort_api.runner import ModelRunner


@dataclass
class AppState:
    settings: Settings
    store: ModelStore
    runner: ModelRunner
    batcher: Batcher
    metrics: Metrics
    predictor: Predictor
    review: ReviewQueue
    celery: Any
    jobs: Any  # wastesort.queue.JobControl

    @property
    def config(self) -> RuntimeConfig:
        """The live runtime config; the predictor owns it, routes replace it."""
        return self.predictor.config

    @config.setter
    def config(self, value: RuntimeConfig) -> None:
        self.predictor.config = value
