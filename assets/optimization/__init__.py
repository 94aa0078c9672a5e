"""The optimisation domain's Dagster definitions: the fetch-route model trained on the
platform's fetch history, tracked in MLflow, promoted on held-out evidence; and the capacity
plan (workload forecast, pool limits applied through the instance)."""

from __future__ import annotations

import dagster as dg

from assets.optimization.assets import optimization_assets
from assets.optimization.capacity import capacity_plan
from assets.optimization.jobs import (
    capacity_job,
    capacity_schedule,
    route_model_job,
    route_model_schedule,
)

defs = dg.Definitions(
    assets=[*optimization_assets, capacity_plan],
    jobs=[route_model_job, capacity_job],
    schedules=[route_model_schedule, capacity_schedule],
)

__all__ = [
    "capacity_job",
    "capacity_plan",
    "capacity_schedule",
    "defs",
    "optimization_assets",
    "route_model_job",
    "route_model_schedule",
]
