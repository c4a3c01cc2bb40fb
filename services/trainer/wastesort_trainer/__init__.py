"""Training worker: Celery tasks over the plain functions in ``retrain``."""
