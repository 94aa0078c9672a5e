"""The content calendar: the content-marketing job and its daily schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.content_marketing.assets import GROUP
from resources.executor import job_executor

content_marketing_job = dg.define_asset_job(
    "content_marketing_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Briefs → drafts per strategy → checked channel outputs → publication → the "
    "strategies' experiment results → the promoted strategy.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

content_calendar = dg.ScheduleDefinition(
    name="content_calendar",
    job=content_marketing_job,
    cron_schedule="0 8 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The content calendar: every morning after the 06:00 market research, write "
    "and publish the day's content and read the experiments.",
)

__all__ = ["content_calendar", "content_marketing_job"]
