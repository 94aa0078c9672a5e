"""Incident response: the run-failure sensor that opens incidents and the sensor that carries
out their remedies. Both run by default when the Dagster daemon runs (``dagster dev``)."""

from __future__ import annotations

import dagster as dg

from assets.canary import canary_job
from assets.market_research import market_research_job
from orchestration_project.operations.healing import (
    ACTION_TAG,
    INCIDENT_TAG,
    ROOT_TAG,
    Healer,
    unfinished_assets,
)
from orchestration_project.operations.incident_report import write_pending_reports
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir

HEALED_JOBS = [market_research_job, canary_job]


@dg.run_failure_sensor(
    name="incident_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Opens (or joins) an incident for every failed run, classifies the failure "
    "and plans its remedy.",
)
def incident_sensor(
    context: dg.RunFailureSensorContext, coordination: CoordinationResource
) -> None:
    """Open an incident for the failed run and plan its remedy (see ``healing.py``)."""
    incident = Healer(coordination.store()).on_run_failure(
        context.instance, context.dagster_run.run_id
    )
    context.log.info(
        f"incident {incident.incident_id}: {incident.failure_class}, status {incident.status}"
    )


@dg.sensor(
    name="remedy_sensor",
    jobs=HEALED_JOBS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Launches due re-executions from failure, verifies recoveries with the asset "
    "checks and writes post-incident reports.",
)
def remedy_sensor(
    context: dg.SensorEvaluationContext,
    coordination: CoordinationResource,
    reports_dir: ReportsDir,
):
    """Re-execute what failed once its backoff has passed; close recovered incidents."""
    healer = Healer(coordination.store())
    instance = context.instance
    for due in healer.due_reexecutions():
        parent = instance.get_run_by_id(due["parent_run_id"])
        if parent is None:
            continue
        keys = unfinished_assets(instance, parent.run_id)
        healer.mark_launched(due["action_id"], None)
        yield dg.RunRequest(
            run_key=f"remedy-{due['action_id']}",
            job_name=parent.job_name,
            asset_selection=keys or None,
            tags={
                INCIDENT_TAG: due["incident_id"],
                ACTION_TAG: str(due["action_id"]),
                ROOT_TAG: parent.tags.get(ROOT_TAG) or parent.root_run_id or parent.run_id,
                "orchestration/parent_run_id": parent.run_id,
            },
        )
    healer.check_recoveries(instance)
    healer.scan_checks(instance)  # failed non-blocking checks of successful runs
    write_pending_reports(instance, healer, reports_dir.folder("incidents"))


defs = dg.Definitions(sensors=[incident_sensor, remedy_sensor])
