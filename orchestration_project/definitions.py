"""The one place that assembles the code location: every domain's assets, checks, jobs,
schedules and sensors, with the resources the environment switch chooses."""

from __future__ import annotations

import dagster as dg

from assets.market_research import market_research_assets
from assets.operations import operations_assets
from resources.environment import build_resources
from sensors.market_research import market_research_job, market_research_schedule

defs = dg.Definitions(
    assets=[*market_research_assets, *operations_assets],
    jobs=[market_research_job],
    schedules=[market_research_schedule],
    resources=build_resources(),
)
