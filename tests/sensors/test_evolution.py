"""rollout_sensor: launches rollout_job when a declared rollout waits to start, or when new
per-unit observations were recorded since its cursor; skips otherwise."""

from pathlib import Path

import dagster as dg

from orchestration_project.evolution.rollout import load_rollouts
from resources.coordination import CoordinationResource
from resources.rollout import RolloutStates
from sensors.evolution import defs, rollout_sensor


def _tick(instance: dg.DagsterInstance, coordination: CoordinationResource, cursor: str | None):
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"coordination": coordination}
    )
    return rollout_sensor(ctx)


def test_the_sensor_runs_by_default_and_launches_rollout_job() -> None:
    assert list(defs.sensors or []) == [rollout_sensor]
    sensor = rollout_sensor
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "rollout_job"


def test_new_observations_since_the_cursor_launch_one_decision_run(tmp_path: Path) -> None:
    coordination = CoordinationResource(url=f"sqlite:///{tmp_path / 'coordination.db'}")
    with dg.instance_for_test() as instance:
        # a declared rollout that has not started: start it
        first = _tick(instance, coordination, None)
        assert isinstance(first, dg.SensorResult)
        [request] = first.run_requests
        assert "extraction-rules-v2" in request.run_key
        # rollout_job started it (what rollout_decisions does): nothing new, nothing to do
        RolloutStates.of(coordination).start_declared(load_rollouts().values())
        assert isinstance(_tick(instance, coordination, first.cursor), dg.SkipReason)
        # the extraction recorded observations: decide
        instance.report_runless_asset_event(dg.AssetMaterialization("rollout_observations"))
        second = _tick(instance, coordination, first.cursor)
        assert isinstance(second, dg.SensorResult)
        assert len(second.run_requests) == 1
        assert int(second.cursor) > int(first.cursor or 0)
        assert second.run_requests[0].tags["trigger"] == "rollout_observations"
        # the same observations do not launch a second run
        assert isinstance(_tick(instance, coordination, second.cursor), dg.SkipReason)
        # two more batches: one run for both
        for _ in range(2):
            instance.report_runless_asset_event(dg.AssetMaterialization("rollout_observations"))
        third = _tick(instance, coordination, second.cursor)
        assert isinstance(third, dg.SensorResult) and len(third.run_requests) == 1
        assert third.run_requests[0].run_key != second.run_requests[0].run_key
