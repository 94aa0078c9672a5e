"""The one place that assembles the code location: every domain's assets, checks, jobs,
schedules and sensors, with the resources the environment switch chooses."""

from __future__ import annotations

import dagster as dg

from assets.canary import canary_assets, canary_job
from assets.market_research import market_research_assets
from assets.operations import operations_assets
from resources.environment import build_resources
from sensors.market_research import market_research_job, market_research_schedule
from sensors.operations import (
    canary_schedule,
    incident_sensor,
    operations_job,
    operations_schedule,
    remedy_sensor,
)

defs = dg.Definitions(
    assets=[*market_research_assets, *operations_assets, *canary_assets],
    jobs=[market_research_job, canary_job, operations_job],
    schedules=[market_research_schedule, operations_schedule, canary_schedule],
    sensors=[incident_sensor, remedy_sensor],
    resources=build_resources(),
)
