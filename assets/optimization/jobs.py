"""The route-model job and its daily schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.optimization.assets import GROUP

route_model_job = dg.define_asset_job(
    "route_model_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Build the fetch-route training set from the fetch history, train a challenger, "
    "log it to MLflow and promote it to route_success@champion only on held-out evidence.",
    executor_def=dg.in_process_executor,
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

__all__ = ["route_model_job", "route_model_schedule"]
