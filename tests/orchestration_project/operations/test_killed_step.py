"""A step process killed by a signal is detected, classified as resource exhaustion and met
with lower concurrency plus a re-execution — with Dagster's real multiprocess executor."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.failures import RESOURCE
from orchestration_project.operations.healing import (
    LOWER_CONCURRENCY,
    REEXECUTE,
    Healer,
    RemedyPolicy,
    read_run_failure,
)
from tests.orchestration_project.operations.killed_step_job import killed_step_job_factory


def test_a_killed_step_process_lowers_concurrency_and_is_retried(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    instance = dg.DagsterInstance.local_temp(str(home))
    result = dg.execute_job(
        dg.reconstructable(killed_step_job_factory), instance, raise_on_error=False
    )
    assert not result.success

    failure = read_run_failure(instance, result.run_id)
    assert failure.step_key == "doomed_step"
    assert failure.error_class == "ChildProcessCrashException"
    assert failure.failure_class == RESOURCE

    healer = Healer(
        CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}"),
        policy=RemedyPolicy(backoff_base_s=5.0),
    )
    before = healer.settings.max_parallel("killed_step_job", 8)
    incident = healer.on_run_failure(instance, result.run_id)
    assert incident.status == "remediating"
    assert healer.settings.max_parallel("killed_step_job", 8) == before // 2
    actions = healer.actions(incident.incident_id)
    assert list(actions["action"]) == ["failure_detected", LOWER_CONCURRENCY, REEXECUTE]
    planned = actions[actions["action"] == REEXECUTE].iloc[0]
    assert planned["status"] == "planned"
    assert planned["due_at"] > planned["at"]  # backoff before the retry
