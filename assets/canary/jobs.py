"""The canary's job and its half-hourly schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.canary.assets import GROUP, JOB_NAME
from resources.executor import job_executor

canary_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.groups(GROUP).materializable(),
    description="Synthetic canary: fetch every source, extract, store — monitoring and soak.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

canary_schedule = dg.ScheduleDefinition(
    name="canary_every_30_minutes",
    job=canary_job,
    cron_schedule="*/30 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Synthetic monitoring: the canary workflow end to end every half hour.",
)
