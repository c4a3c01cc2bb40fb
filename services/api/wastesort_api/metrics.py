"""All Prometheus collectors, on a registry per app (tests build many apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("wastesort_requests_total", "HTTP requests", ["endpoint", "method", "status"],
                                registry=r)
        self.request_seconds = Histogram("wastesort_request_seconds", "HTTP request latency", ["endpoint"],
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.predict_seconds = Histogram("wastesort_predict_seconds", "Model time per batch",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("wastesort_batch_size", "Images per model call",
                                    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64), registry=r)
        self.queue_depth = Gauge("wastesort_queue_depth", "Images waiting for the model", registry=r)
        self.model_info = Gauge("wastesort_model_info", "Served model version (value 1)", ["version"], registry=r)
        self.predictions = Counter("wastesort_predictions_total", "Predicted images per class", ["label"],
                                   registry=r)
        self.uncertain = Counter("wastesort_uncertain_total", "Predictions flagged uncertain", registry=r)
        self.load_failures = Counter("wastesort_model_load_failures_total",
                                     "Attempts to load a model version that failed (retried with back-off)", registry=r)
        self.swaps = Counter("wastesort_model_swaps_total", "Hot swaps to a new model version", registry=r)
        self.review_dropped = Counter("wastesort_review_dropped_total",
                                      "Uncertain photos not kept for review (bound: queue full; error: not saved)",
                                      ["reason"], registry=r)
        self.rejected = Counter("wastesort_rejected_total", "Requests refused for load", ["reason"], registry=r)

    def set_model(self, version: str) -> None:
        self.model_info.clear()
        self.model_info.labels(version=version).set(1)
