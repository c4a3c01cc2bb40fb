"""Everything a replica holds, built once in the lifespan and kept on ``app.state.ws``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wastesort.settings import Settings
from wastesort.store import ModelStore
from wastesort_api.batcher import Batcher
from wastesort_api.metrics import Metrics
from wastesort_api.review import ReviewQueue
from wastesort_api.runner import ModelRunner
from wastesort_api.runtime_config import RuntimeConfig


@dataclass
class AppState:
    settings: Settings
    config: RuntimeConfig
    store: ModelStore
    runner: ModelRunner
    batcher: Batcher
    metrics: Metrics
    review: ReviewQueue
    celery: Any
    cancel_flags: Any
