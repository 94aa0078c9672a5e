"""Test helpers: running the project's jobs, and re-executing them from failure, in this process.

The remedy sensor launches recoveries through the Dagster daemon; processes without a daemon
(the soak benchmark, the CLI, tests) use :func:`in_process_launcher`, which performs a real
Dagster re-execution from failure (``ReexecutionOptions.from_failure``) on the same instance.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg


def _job(name: str) -> dg.JobDefinition:
    from orchestration_project.definitions import defs

    return defs.resolve_job_def(name)


def canary_job_def() -> dg.JobDefinition:
    """The canary job, resolved from the project's definitions."""
    return _job("canary_job")


def market_research_job_def() -> dg.JobDefinition:
    """The market research job, resolved from the project's definitions."""
    return _job("market_research_job")


JOB_FACTORIES: dict[str, Callable[[], dg.JobDefinition]] = {
    "canary_job": canary_job_def,
    "market_research_job": market_research_job_def,
}


def run_job(
    instance: dg.DagsterInstance,
    job_name: str,
    *,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.JobExecutionResult:
    """Execute ``job_name`` in this process on ``instance`` (never raises for step errors)."""
    return dg.execute_job(
        dg.reconstructable(JOB_FACTORIES[job_name]),
        instance,
        run_config=run_config,
        tags=tags,
        raise_on_error=False,
    )


def in_process_launcher(instance: dg.DagsterInstance) -> Callable[[str, dict[str, str]], str]:
    """A launcher for ``Healer.run_due``: re-execute a failed run from failure, here."""

    def launch(parent_run_id: str, tags: dict[str, str]) -> str:
        parent = instance.get_run_by_id(parent_run_id)
        if parent is None:
            raise KeyError(f"no run {parent_run_id}")
        result = dg.execute_job(
            dg.reconstructable(JOB_FACTORIES[parent.job_name]),
            instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(parent_run_id, instance),
            tags=tags,
            raise_on_error=False,
        )
        return result.run_id

    return launch


def run_due(
    healer: Any, instance: dg.DagsterInstance, launch: Callable[[str, dict[str, str]], str]
) -> list[str]:
    """What the remedy sensor does, here: launch every due re-execution with
    ``launch(parent_run_id, tags) -> run_id`` and record it as launched once the run exists."""
    from orchestration_project.operations.healing import ACTION_TAG, INCIDENT_TAG

    launched = []
    for due in healer.due_reexecutions():
        tags = {INCIDENT_TAG: due["incident_id"], ACTION_TAG: str(due["action_id"])}
        run_id = launch(due["parent_run_id"], tags)
        healer.mark_launched(due["action_id"], run_id)
        launched.append(run_id)
    return launched


def poll(healer: Any, instance: dg.DagsterInstance) -> list[str]:
    """What the run-failure sensor and the remedy sensor's recovery check do, here: handle
    every failed run of the instance (idempotent), then check recoveries and failed checks."""
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    handled = []
    for rec in sorted(records, key=lambda r: r.update_timestamp):
        healer.on_run_failure(instance, rec.dagster_run.run_id)
        handled.append(rec.dagster_run.run_id)
    healer.check_recoveries(instance)
    healer.scan_checks(instance)
    return handled


class Clock:
    """A clock the test moves forward by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
