"""The optimisation domain's Dagster definitions: the fetch-route model trained on the
platform's fetch history, tracked in MLflow, promoted on held-out evidence."""

from __future__ import annotations

import dagster as dg

from assets.optimization.assets import optimization_assets
from assets.optimization.jobs import route_model_job, route_model_schedule

defs = dg.Definitions(
    assets=optimization_assets, jobs=[route_model_job], schedules=[route_model_schedule]
)

__all__ = ["defs", "optimization_assets", "route_model_job", "route_model_schedule"]
