"""The site QA job and its hourly schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.site_qa.assets import GROUP
from resources.executor import job_executor

site_qa_job = dg.define_asset_job(
    "site_qa_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Run the scripted user journeys through the Playwright MCP server's tools and "
    "report broken links, console errors, failed requests, slow pages and accessibility "
    "changes; a failed journey fails its check, which opens an incident.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

site_qa_hourly = dg.ScheduleDefinition(
    name="site_qa_hourly",
    job=site_qa_job,
    cron_schedule="17 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The journeys every hour, so a broken page is an incident within the hour.",
)

__all__ = ["site_qa_hourly", "site_qa_job"]
