"""The production stack's run launcher: run workers as Celery tasks, resumable after a crash.

Dagster's default launcher starts each run worker as a child process of the code server; when
that process dies, nothing can tell it apart from a slow run and nothing can start it again.
``dagster_celery``'s :class:`~dagster_celery.launcher.CeleryRunLauncher` instead sends each run
(and each resumption) to a Celery queue of its own, served by ``celery -A dagster_celery.app
worker -Q dagster-runs`` (``scripts/stack`` starts one, ``runworker``). The task's state in the
result backend is the run worker's health, which Dagster's run monitoring polls: a run worker
killed mid-run leaves its task ``FAILURE`` (Celery's ``WorkerLostError``), and the monitor
resumes the run on a new run worker, up to ``run_monitoring.max_resume_run_attempts`` times.

This subclass fixes dagster-celery 0.29's ``resume_run`` (it sent the resumption with the
wrong keyword, so every resumption failed), stops the dead run worker's step tasks before a
resumption executes the steps again (:meth:`CeleryRunLauncher.stop_orphan_steps`), and fixes
two readings of the task state that would make the monitor resume a healthy run (the monitor
resumes on anything but RUNNING or SUCCESS):

- ``PENDING``, which a resumption's task shows until a run worker takes it from the queue, is
  RUNNING here: the run has a worker on its way. A run that never starts is caught by
  ``run_monitoring.start_timeout_seconds``, a run that never ends by ``max_runtime_seconds``.
- A result backend that cannot be reached (Redis restarting) says nothing about the run worker:
  RUNNING, and the next poll asks again.

It also gives the launcher's Celery app the same connection-retry settings as the workers
(:func:`resources.executor.celery_worker_settings`). The run tasks themselves are acknowledged
on receipt, not late (``task_annotations`` there): a run task redelivered after its worker died
would only log "Ignoring a duplicate run" and report SUCCESS, hiding the death from the monitor.

Limit: the task state lives in the result backend, so the death of a whole ``runworker``
process (not one of its pool processes) leaves its tasks ``STARTED``; run the Celery worker
under a supervisor (systemd, Kubernetes), and keep ``max_runtime_seconds`` as the backstop.
"""

import time
from typing import Any

from dagster import _check as check
from dagster._core.launcher import CheckRunHealthResult, ResumeRunContext, WorkerStatus
from dagster._grpc.types import ResumeRunArgs
from dagster._serdes import ConfigurableClassData, pack_value
from dagster_celery.config import TASK_RESUME_JOB_NAME
from dagster_celery.launcher import CeleryRunLauncher as _CeleryRunLauncher
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from dagster_celery.tasks import create_resume_job_task

from resources.executor import celery_worker_settings

RUN_QUEUE = "dagster-runs"
"""The Celery queue run workers are sent to (steps go to ``dagster``)."""


class CeleryRunLauncher(_CeleryRunLauncher):
    """Starts each run (and each resumption after a run worker died) as a Celery task on the
    ``dagster-runs`` queue; reports the task's state to run monitoring as the run worker's
    health, reading a queued task as running and an unreachable backend as no news."""

    def __init__(
        self,
        default_queue: str = RUN_QUEUE,
        broker: str | None = None,
        backend: str | None = None,
        include: list[str] | None = None,
        config_source: dict | None = None,
        inst_data: ConfigurableClassData | None = None,
    ) -> None:
        super().__init__(
            default_queue=default_queue,
            broker=broker,
            backend=backend,
            include=include,
            config_source={**celery_worker_settings(), **(config_source or {})},
            inst_data=inst_data,
        )

    def resume_run(self, context: ResumeRunContext) -> None:
        """Send a resumption of the run to a new run worker.

        dagster-celery 0.29's own ``resume_run`` calls its ``resume_job`` task with the keyword
        of ``execute_job`` (``execute_job_args_packed``), so every resumption fails at once with
        a ``TypeError``; this sends the task's own keyword (``resume_job_args_packed``).
        """
        run = context.dagster_run
        self.stop_orphan_steps(run)
        args = ResumeRunArgs(
            job_origin=check.not_none(run.job_code_origin),
            run_id=run.run_id,
            instance_ref=self._instance.get_ref(),
            set_exit_code_on_failure=True,
        )
        task = create_resume_job_task(self.celery)
        self._launch_celery_task_run(
            run=run,
            task_signature=task.si(resume_job_args_packed=pack_value(args)),
            routing_key=TASK_RESUME_JOB_NAME,
        )

    def stop_orphan_steps(self, run: Any, *, wait_s: float = 30.0) -> list[str]:
        """Stop the step tasks the dead run worker left on the workers; return their ids.

        The Celery executor keeps no step state, so a resumed run executes every step again.
        A step its dead run worker had sent, still executing or reserved on a worker, would
        then run beside its new attempt: two crawls sharing one crawl id split the frontier
        between them, and each attempt's output misses the other's pages. So before resuming,
        the run's ``execute_plan`` tasks that the workers report (active or reserved) are
        revoked and their processes SIGKILLed (revoked tasks are acknowledged, not
        redelivered), and this waits until no worker reports them (at most ``wait_s``).
        A task still waiting in the broker's queue is not seen; the dead run worker sent each
        step only once its inputs were done, so that is a step no worker had free time for.
        """
        inspect = self.celery.control.inspect(timeout=2.0)

        def reported() -> dict[str, str]:
            found: dict[str, str] = {}
            for view in (inspect.active, inspect.reserved):
                try:
                    by_worker = view() or {}
                except Exception:  # a worker or the broker not answering: nothing seen
                    by_worker = {}
                for worker, tasks in by_worker.items():
                    for task in tasks or []:
                        if task.get("name") == "execute_plan" and run.run_id in repr(
                            task.get("kwargs")
                        ):
                            found[task["id"]] = worker
            return found

        orphans = reported()
        if not orphans:
            return []
        self.celery.control.revoke(list(orphans), terminate=True, signal="SIGKILL")
        deadline = time.monotonic() + wait_s
        while set(reported()) & set(orphans) and time.monotonic() < deadline:
            time.sleep(0.5)
        self._instance.report_engine_event(
            f"Stopped {len(orphans)} step task(s) of the dead run worker before resuming: "
            + ", ".join(f"{task_id} on {worker}" for task_id, worker in sorted(orphans.items())),
            run,
            cls=self.__class__,
        )
        return list(orphans)

    def check_run_worker_health(self, run: Any) -> CheckRunHealthResult:
        """The run worker's health from its Celery task's state (see the module docstring)."""
        task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
        if not task_id:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run has no Celery task id")
        try:
            state = self.celery.AsyncResult(task_id).state
        except Exception as exc:  # the backend is down: no news about the worker
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"result backend unreachable ({type(exc).__name__})"
            )
        if state in ("STARTED", "PENDING", "RECEIVED", "RETRY"):
            return CheckRunHealthResult(WorkerStatus.RUNNING, f"Celery task {state}")
        if state == "SUCCESS":
            return CheckRunHealthResult(WorkerStatus.SUCCESS)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"Celery task {state}")


def allow_run_workers_to_wait_for_steps() -> None:
    """Let a Celery pool process wait for other tasks' results, as a run worker must.

    Celery forbids ``AsyncResult.get()`` inside a task (a task waiting for tasks of its own pool
    can deadlock it), but a run worker is exactly a task that waits for its steps' tasks. Here
    the two never share a pool: run workers take the ``dagster-runs`` queue, steps the
    ``dagster`` queue, each served by its own workers. So every pool process of these workers
    clears the guard when it starts (Celery's ``worker_process_init``); the workers' settings
    module (``deploy/celery/dagster_celery_config.py``) calls this. Steps never wait on results.
    """
    from celery._state import _set_task_join_will_block
    from celery.signals import worker_process_init

    def _allow(**_: Any) -> None:
        _set_task_join_will_block(False)

    worker_process_init.connect(_allow, weak=False)
