"""The executor every job runs its steps with, chosen by configuration (``DAGSTER_EXECUTOR``).

``in_process`` (default): every step of a run in the run worker's own process — the local
default, no broker, nothing to start.

``celery``: each step is a Celery task on the broker named by ``CELERY_BROKER_URL`` (results
in ``CELERY_BACKEND_URL``), executed by ``celery -A dagster_celery.app worker`` processes
(``scripts/stack up`` starts two). Both URLs are read by Dagster at run time from the
environment (``{"env": ...}`` config), so a broker password never enters a job definition, run
config or the event log. Tasks are acknowledged late (``task_acks_late``) and rejected back to
the queue when the process executing them dies (``task_reject_on_worker_lost``), so a step whose
worker is SIGKILLed is redelivered to another worker instead of being lost; each worker takes
one task at a time (``worker_prefetch_multiplier=1``). ``CELERY_VISIBILITY_TIMEOUT_S`` (default
3600) bounds how long an unacknowledged task of a worker that vanished entirely (its main
process killed) waits before the broker restores it: it must stay above the longest step.

The workers read the same settings from the ``dagster_celery_config`` module that
``scripts/stack`` writes (see :func:`celery_worker_settings`), so the two sides agree.
"""

import os
from typing import Any

import dagster as dg

EXECUTORS = ("in_process", "celery")
"""The values of ``DAGSTER_EXECUTOR``."""


def celery_worker_settings() -> dict[str, Any]:
    """The Celery app settings both the executor and the workers use (besides the broker and
    backend URLs): late acknowledgement, redelivery when a worker dies, one task at a time."""
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # ...but a run worker (resources.run_launcher) is acknowledged on receipt: when it dies
        # its task must end FAILURE, which run monitoring reads as "resume the run", not go back
        # to the queue and start a duplicate run worker
        "task_annotations": {
            name: {"acks_late": False, "reject_on_worker_lost": False}
            for name in ("execute_job", "resume_job")
        },
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT_S", "3600")),
            # an idle worker waits on the broker in one 10 s BRPOP instead of re-asking every
            # second: Redis hands a task to the client that has waited longest, so with long
            # waits consecutive steps go round the idle workers instead of back to the worker
            # that just finished (with 1 s waits, 8 steps in a row often all ran on one)
            "polling_interval": 10,
            # reconnect patiently when the broker restarts
            "max_retries": 30,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        # a broker restart must not fail the run: the run worker polls results and publishes
        # tasks through it, so both retry recoverable connection errors for about a minute
        "result_backend_always_retry": True,
        "result_backend_max_retries": 30,
        "result_backend_base_sleep_between_retries_ms": 200,
        "result_backend_max_sleep_between_retries_ms": 2000,
        "task_publish_retry_policy": {
            "max_retries": 30,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 2,
        },
    }


def job_executor() -> dg.ExecutorDefinition:
    """The executor named by ``DAGSTER_EXECUTOR`` (default ``in_process``).

    Raises:
        ValueError: ``DAGSTER_EXECUTOR`` is not one of :data:`EXECUTORS`, or is ``celery``
            without ``CELERY_BROKER_URL``.
    """
    kind = os.environ.get("DAGSTER_EXECUTOR", "in_process").strip().lower() or "in_process"
    if kind not in EXECUTORS:
        raise ValueError(f"DAGSTER_EXECUTOR={kind!r} is not one of {list(EXECUTORS)}")
    if kind == "in_process":
        return dg.in_process_executor
    if not os.environ.get("CELERY_BROKER_URL"):
        raise ValueError("DAGSTER_EXECUTOR=celery needs CELERY_BROKER_URL (e.g. redis://...)")
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_executor_config(), name="celery")


def celery_executor_config() -> dict[str, Any]:
    """The Celery executor's configuration: broker and backend as environment references
    (resolved in the run worker; the backend falls back to the broker), and
    :func:`celery_worker_settings` as the Celery app's ``config_source``."""
    backend_var = "CELERY_BACKEND_URL" if os.environ.get("CELERY_BACKEND_URL") else None
    return {
        "broker": {"env": "CELERY_BROKER_URL"},
        "backend": {"env": backend_var or "CELERY_BROKER_URL"},
        "config_source": celery_worker_settings(),
    }
