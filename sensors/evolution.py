"""The sensor that drives gradual rollouts through their stages."""

from __future__ import annotations

import dagster as dg

from assets.evolution import rollout_job
from assets.evolution.assets import OBSERVATIONS
from orchestration_project.evolution.rollout import load_rollouts
from resources.coordination import CoordinationResource
from resources.rollout import RolloutStates


@dg.sensor(
    name="rollout_sensor",
    job=rollout_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches rollout_job when a rolled-out step recorded new per-unit observations "
    "since the last decision (rollout_observations materialised after the cursor), or when a "
    "declared rollout has not started yet: each run decides every running rollout's stage.",
)
def rollout_sensor(
    context: dg.SensorEvaluationContext, coordination: CoordinationResource
) -> dg.SensorResult | dg.SkipReason:
    """Decide rollout stages as soon as there is new evidence (or a rollout to start).

    The cursor is the storage id of the newest ``rollout_observations`` materialisation already
    handed to a decision run.
    """
    cursor = int(context.cursor or 0)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=OBSERVATIONS, after_storage_id=cursor), limit=1000
    ).records
    newest = max((r.storage_id for r in records), default=cursor)
    pending = [
        s.rollout_id for s in RolloutStates.of(coordination).pending(load_rollouts().values())
    ]
    if newest == cursor and not pending:
        return dg.SkipReason("no new rollout observations and no rollout waiting to start")
    why = []
    if newest > cursor:
        why.append(f"{len(records)} new observation batch(es)")
    if pending:
        why.append(f"to start: {', '.join(pending)}")
    context.log.info("rollout_job: " + "; ".join(why))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"rollout-{newest}-{'-'.join(pending)}",
                tags={"trigger": "rollout_observations", "observations_storage_id": str(newest)},
            )
        ],
        cursor=str(newest),
    )


defs = dg.Definitions(sensors=[rollout_sensor])

__all__ = ["defs", "rollout_sensor"]
