"""The operations job and its five-minute schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.operations.assets import GROUP as OPERATIONS_GROUP
from assets.operations.prediction import failure_predictor
from resources.executor import job_executor

operations_job = dg.define_asset_job(
    "operations_job",
    # The failure predictor trains for minutes on recorded scenarios: materialised on demand
    # (or by its own job), not every five minutes.
    selection=dg.AssetSelection.groups(OPERATIONS_GROUP).materializable()
    - dg.AssetSelection.assets(failure_predictor),
    description="Ingest run metadata, compute health, evaluate alerts, update incidents and "
    "the SLO scorecard.",
    executor_def=job_executor(),
    tags={"domain": OPERATIONS_GROUP},
)

failure_predictor_job = dg.define_asset_job(
    "failure_predictor_job",
    selection=dg.AssetSelection.assets(failure_predictor),
    description="Record degradation scenarios, train the failure predictor, register it in "
    "MLflow (failure_predictor@champion) with its held-out evaluation.",
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
