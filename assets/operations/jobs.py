"""The operations job and its five-minute schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.operations.assets import GROUP as OPERATIONS_GROUP

operations_job = dg.define_asset_job(
    "operations_job",
    selection=dg.AssetSelection.groups(OPERATIONS_GROUP).materializable(),
    description="Ingest run metadata, compute health, evaluate alerts, update incidents and "
    "the SLO scorecard.",
    executor_def=dg.in_process_executor,
    tags={"domain": OPERATIONS_GROUP},
)

operations_schedule = dg.ScheduleDefinition(
    name="operations_every_5_minutes",
    job=operations_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh run metadata, health, alerts, incidents and the SLO scorecard.",
)
