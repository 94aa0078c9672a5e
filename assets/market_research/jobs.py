"""The market-research job and its daily schedule (running by default)."""

from __future__ import annotations

import dagster as dg

from assets.market_research.assets import GROUP

market_research_job = dg.define_asset_job(
    "market_research_job",
    selection=dg.AssetSelection.groups(GROUP).materializable(),
    description="Research the market end to end: crawl, capture, extract, resolve, report.",
    # One process for the whole run: the steps are a chain, and process start-up per step
    # (Dagster + Great Expectations imports) would cost more than the work on 2 cores.
    executor_def=dg.in_process_executor,
    tags={"domain": GROUP},
)

market_research_schedule = dg.ScheduleDefinition(
    name="market_research_daily",
    job=market_research_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh the market research every morning at 06:00 UTC.",
)
