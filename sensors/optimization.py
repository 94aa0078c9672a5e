"""Early retraining of the fetch-route model when its calls stop matching what happens."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from assets.optimization.jobs import route_model_job
from ml.route_success import training_set
from orchestration_project.optimization.route_model import (
    DEFAULT_COSTS,
    MODEL_NAME,
    decision_errors,
)
from resources.tracking import MlflowTracking
from resources.warehouse import Warehouse

DRIFT_MIN_ATTEMPTS = 30
"""New informative attempts needed before the champion is judged."""
DRIFT_MARGIN = 0.15
"""How much worse than on its held-out rows the champion may call routes before it is retrained."""


@dg.sensor(
    name="route_model_drift_sensor",
    job=route_model_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrains the fetch-route model early when the share of fetch attempts since "
    "its training that route_success@champion called wrong exceeds its held-out error by "
    f"{DRIFT_MARGIN:.0%} (at least {DRIFT_MIN_ATTEMPTS} attempts).",
)
def route_model_drift_sensor(
    context: dg.SensorEvaluationContext, warehouse: Warehouse, tracking: MlflowTracking
) -> dg.SensorResult | dg.SkipReason:
    """Judge ``route_success@champion`` on the fetch attempts made after its training data."""
    version = tracking.alias_version(MODEL_NAME, "champion")
    if version is None:
        return dg.SkipReason("no route_success@champion yet: the daily schedule trains one")
    try:
        model, config = tracking.load_sklearn_model(MODEL_NAME)
    except Exception as exc:  # the registry is down: nothing to judge this tick
        return dg.SkipReason(f"route_success@champion did not load: {exc}")
    if not warehouse.table_exists("fetch_attempts", schema="market_research"):
        return dg.SkipReason("no fetch history yet")
    attempts = warehouse.read_table("fetch_attempts", schema="market_research")
    since = pd.Timestamp(config.get("trained_until") or "1970-01-01", tz="UTC")
    # features over the whole history (a row's history features look back past the cut), then
    # only the rows the champion never saw
    rows = training_set(attempts, DEFAULT_COSTS)
    rows = rows[pd.to_datetime(rows["attempted_at"], utc=True) > since]
    n, wrong = decision_errors(model, rows)
    limit = float(config.get("held_out_error", 0.0)) + DRIFT_MARGIN
    summary = (
        f"v{version}: {wrong:.0%} of {n} attempts since training called wrong (limit {limit:.0%})"
    )
    if n < DRIFT_MIN_ATTEMPTS or wrong <= limit:
        return dg.SkipReason(summary)
    context.log.info(f"route model drift: {summary}; retraining")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"route-drift-v{version}-{n}",
                tags={"trigger": "route_model_drift", "champion": str(version)},
            )
        ]
    )


defs = dg.Definitions(sensors=[route_model_drift_sensor])

__all__ = ["DRIFT_MARGIN", "DRIFT_MIN_ATTEMPTS", "defs", "route_model_drift_sensor"]
