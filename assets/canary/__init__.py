"""The canary domain's Dagster definitions: a synthetic workflow that exercises fetching,
extraction, storage and self-healing end to end (what the soak benchmark runs)."""

from __future__ import annotations

import dagster as dg

from assets.canary.assets import canary_assets
from assets.canary.jobs import canary_job, canary_schedule

defs = dg.Definitions(assets=canary_assets, jobs=[canary_job], schedules=[canary_schedule])

__all__ = ["canary_assets", "canary_job", "canary_schedule", "defs"]
