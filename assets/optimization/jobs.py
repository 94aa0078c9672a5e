"""The optimisation jobs and their schedules (running by default): the route model daily, the
capacity plan hourly."""

from __future__ import annotations

import dagster as dg

from assets.optimization.assets import GROUP, optimization_assets
from assets.optimization.capacity import capacity_plan
from resources.executor import job_executor

route_model_job = dg.define_asset_job(
    "route_model_job",
    selection=dg.AssetSelection.assets(*optimization_assets),
    description="Build the fetch-route training set from the fetch history, train a challenger, "
    "log it to MLflow and promote it to route_success@champion only on held-out evidence.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

route_model_schedule = dg.ScheduleDefinition(
    name="route_model_daily",
    job=route_model_job,
    cron_schedule="30 7 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Retrain the fetch-route model on the day's fetch history (after the 06:00 "
    "market research).",
)

capacity_job = dg.define_asset_job(
    "capacity_job",
    selection=dg.AssetSelection.assets(capacity_plan),
    description="Forecast the workload from the run history and apply the pool limits it "
    "recommends (bounded, recorded, revertible).",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

capacity_schedule = dg.ScheduleDefinition(
    name="capacity_hourly",
    job=capacity_job,
    cron_schedule="50 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-plan pool limits every hour, before the hour's runs start.",
)

__all__ = ["capacity_job", "capacity_schedule", "route_model_job", "route_model_schedule"]
