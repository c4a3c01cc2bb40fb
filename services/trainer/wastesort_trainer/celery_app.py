"""The worker's Celery app: the shared factory plus this package's tasks.

Run: ``celery -A wastesort_trainer.celery_app worker --loglevel=INFO``
"""

import logging

from celery.signals import worker_ready

from wastesort.queue import make_celery, requeue_orphans
from wastesort.settings import get_settings

app = make_celery(get_settings())
app.conf.include = ["wastesort_trainer.tasks"]


@worker_ready.connect
def _recover(**_: object) -> None:
    for job_id in requeue_orphans(app):
        logging.getLogger(__name__).warning("job %s was interrupted (worker died): queued again", job_id)
