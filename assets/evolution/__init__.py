"""The evolution domain's Dagster definitions: gradual rollouts of new versions of workflow
steps (``rollout_decisions`` and ``rollout_job``; ``sensors.evolution.rollout_sensor`` drives
them)."""

import dagster as dg

from assets.evolution.assets import (
    GROUP,
    JOB_NAME,
    RolloutConfig,
    rollout_decisions,
    rollout_observations,
)
from resources.executor import job_executor

rollout_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(rollout_decisions),
    description="Start declared rollouts and decide the current stage of every running one "
    "(promote, hold or roll back, with the evidence); launched by rollout_sensor.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

evolution_assets = [rollout_observations, rollout_decisions]

defs = dg.Definitions(assets=evolution_assets, jobs=[rollout_job])

__all__ = [
    "RolloutConfig",
    "defs",
    "evolution_assets",
    "rollout_decisions",
    "rollout_job",
    "rollout_observations",
]
