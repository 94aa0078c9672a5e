"""The optimisation domain's Dagster definitions: the fetch-route model trained on the
platform's fetch history, tracked in MLflow, promoted on held-out evidence; and the capacity
plan (workload forecast, pool limits applied through the instance); the language-engine tier
router (``llm_router@champion``) trained on routing history."""

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
from assets.optimization.llm_router import llm_router_assets, llm_router_job

defs = dg.Definitions(
    assets=[*optimization_assets, capacity_plan, *llm_router_assets],
    jobs=[route_model_job, capacity_job, llm_router_job],
    schedules=[route_model_schedule, capacity_schedule],
)

__all__ = [
    "capacity_job",
    "capacity_plan",
    "capacity_schedule",
    "defs",
    "llm_router_assets",
    "llm_router_job",
    "optimization_assets",
    "route_model_job",
    "route_model_schedule",
]
