"""Celery settings for the workers (``celery -A dagster_celery.app worker``).

``dagster_celery.app`` builds its Celery app from ``dagster_celery.defaults`` and then, when a
module named ``dagster_celery_config`` is importable, updates it with that module's names: put
this folder on ``PYTHONPATH`` (``scripts/stack``, ``deploy/compose.yaml`` and the Docker image do).
The broker and backend URLs (with their passwords) are read from the environment, never written
to a file; the other settings are the executor's own (:func:`resources.executor.celery_worker_settings`),
so workers and run workers agree on late acknowledgement and redelivery. Run workers
(``resources.run_launcher``) are Celery tasks too, on the ``dagster-runs`` queue.
"""

import os

from resources.executor import celery_worker_settings
from resources.run_launcher import allow_run_workers_to_wait_for_steps

allow_run_workers_to_wait_for_steps()  # run workers are tasks that wait for their steps' tasks
broker_url = os.environ["CELERY_BROKER_URL"]
result_backend = os.environ.get("CELERY_BACKEND_URL") or broker_url
globals().update(celery_worker_settings())
