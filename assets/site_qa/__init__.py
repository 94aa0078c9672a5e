"""The site QA domain's Dagster definitions: scripted user journeys through the Playwright MCP
server → journey results with a check per journey → findings; hourly, running by default."""

from __future__ import annotations

import dagster as dg

from assets.site_qa.assets import site_qa_assets
from assets.site_qa.jobs import site_qa_hourly, site_qa_job

defs = dg.Definitions(assets=site_qa_assets, jobs=[site_qa_job], schedules=[site_qa_hourly])

__all__ = ["defs", "site_qa_assets", "site_qa_hourly", "site_qa_job"]
