"""The operations domain's Dagster definitions: run metadata → health → alerts → incidents →
SLO scorecard and configuration recommendations, with the job and schedule that refresh them;
the failure predictor, trained on demand by its own job."""

from __future__ import annotations

import dagster as dg

from assets.operations.assets import operations_assets
from assets.operations.jobs import failure_predictor_job, operations_job, operations_schedule
from assets.operations.prediction import prediction_assets
from assets.operations.recommendations import config_recommendations

defs = dg.Definitions(
    assets=[*operations_assets, config_recommendations, *prediction_assets],
    jobs=[operations_job, failure_predictor_job],
    schedules=[operations_schedule],
)

__all__ = [
    "config_recommendations",
    "defs",
    "failure_predictor_job",
    "operations_assets",
    "operations_job",
    "operations_schedule",
]
