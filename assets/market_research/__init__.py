"""The market-research domain's Dagster definitions: sources → pages → snapshots → facts →
resolved facts → competitor matrix → report, with their checks, job and schedule."""

from __future__ import annotations

import dagster as dg

from assets.market_research.assets import market_research_assets
from assets.market_research.jobs import (
    all_sites_tags,
    market_research_job,
    market_research_schedule,
    register_sites,
    research_sites_sensor,
    source_sites,
)

defs = dg.Definitions(
    assets=market_research_assets,
    jobs=[market_research_job],
    schedules=[market_research_schedule],
    sensors=[research_sites_sensor],
)

__all__ = [
    "all_sites_tags",
    "defs",
    "market_research_assets",
    "market_research_job",
    "market_research_schedule",
    "register_sites",
    "research_sites_sensor",
    "source_sites",
]
