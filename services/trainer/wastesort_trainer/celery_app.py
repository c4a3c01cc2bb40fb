"""The worker's Celery app: the shared factory plus this package's tasks.

Run: ``celery -A wastesort_trainer.celery_app worker --loglevel=INFO``
"""

from wastesort.queue import make_celery
from wastesort.settings import get_settings

app = make_celery(get_settings())
app.conf.include = ["wastesort_trainer.tasks"]
