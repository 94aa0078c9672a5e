"""Predictive failure detection end to end: the degradation scenarios really degrade, the model
trained on some seeds warns on held-out ones and is tracked in MLflow, and the sensor acts on a
real degrading site (breaker tripped, operational event recorded), falling back to the baseline
rule when no model can be loaded."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from assets.canary.assets import canary_assets
from assets.operations.prediction import (
    FailurePredictorConfig,
    failure_predictor,
    load_failure_predictor,
    structured_facts,
)
from ml.failure_prediction import BaselineRule, FailurePredictor
from orchestration_project.demo_world import start_demo_world
from orchestration_project.operations.faults import grow_warehouse_lock
from orchestration_project.operations.healing import (
    PREDICTED_FAILURE_ACTION,
    CircuitBreakers,
    OpsSettings,
    op_events,
)
from orchestration_project.operations.prediction import (
    ACT_SETTING,
    read_lock_waits,
    scorer_or_baseline,
)
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseLockedError
from sensors.operations import failure_prediction_sensor
from tests.conftest import demo_resources, free_base_port


@pytest.fixture
def world():
    """A demo world of its own (scenarios change its sites)."""
    w = start_demo_world("127.0.0.1", free_base_port(), slow_seconds=3.0)
    yield w
    w.stop()


@pytest.mark.slow  # real ramps, real processes, real runs
def test_degrade_ramps_latency_and_errors_then_the_site_refuses_connections(world) -> None:
    url = world.sites["heatherly"] + "/"
    world.degrade("heatherly", ramp_s=6.0, peak_delay_s=0.4, peak_error_rate=1.0)
    faults = world.faults["heatherly"]
    early = (faults.current_delay_s(), faults.current_error_rate())
    time.sleep(3.0)
    late = (faults.current_delay_s(), faults.current_error_rate())
    t0 = time.monotonic()
    statuses = [httpx.get(url, timeout=5).status_code for _ in range(8)]
    assert time.monotonic() - t0 > 8 * 0.15  # every answer waited for the grown delay
    assert late[0] > early[0] + 0.15 and late[1] > early[1] + 0.4
    assert 503 in statuses
    time.sleep(max(0.0, 6.5 - (time.monotonic() - t0) - 3.0))
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    world.bring_up("heatherly")
    assert httpx.get(url, timeout=5).status_code == 200


@pytest.mark.slow  # real ramps, real processes, real runs
def test_decay_takes_the_prices_and_ratings_away_page_by_page(world) -> None:
    url = world.sites["nestwell"] + "/"
    before = structured_facts(httpx.get(url).text, url)
    world.decay("nestwell", ramp_s=3.0)
    time.sleep(1.0)
    middle = structured_facts(httpx.get(url).text, url)
    time.sleep(2.5)
    after = structured_facts(httpx.get(url).text, url)
    assert before >= 8 and after == 0 and middle < before


@pytest.mark.slow  # real ramps, real processes, real runs
def test_lock_waits_grow_until_a_writer_times_out(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"), lock_timeout_s=1.5)
    wh.execute("CREATE TABLE t (x INTEGER)")
    # a ramp of about nine holds: enough growing waits even when a loaded machine starts the
    # holder late (a 4 s ramp gave three waits under a parallel benchmark)
    holder = grow_warehouse_lock(
        wh.path, ramp_s=8.0, first_hold_s=0.1, last_hold_s=1.2, gap_s=0.3, final_hold_s=6.0
    )
    timed_out = False
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                wh.execute("INSERT INTO t VALUES (1)")
            except WarehouseLockedError:
                timed_out = True
                break
            # write often, so that a holder started late by a loaded machine still meets
            # several writes during its ramp (0.2 s between writes gave three waits once)
            time.sleep(0.05)
    finally:
        holder.terminate()
        holder.wait(10)
    waits = read_lock_waits(wh.path)
    assert timed_out and waits["timed_out"].iloc[-1]
    done = waits[~waits["timed_out"]]["waited_s"]
    half = len(done) // 2
    assert len(done) >= 4 and done.iloc[half:].mean() > done.iloc[:half].mean()


def _canary(world, data: Path, instance: dg.DagsterInstance) -> bool:
    res = demo_resources(world, data)
    return dg.materialize(
        canary_assets, resources=res, instance=instance, raise_on_error=False
    ).success


@pytest.mark.slow  # real ramps, real processes, real runs
def test_the_sensor_trips_the_breaker_of_a_degrading_site_with_the_baseline_when_no_model_loads(
    world, tmp_path: Path, capfd
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    # The canary's own breaker must not trip first: on a loaded machine its retries reach the
    # ramp's 100 % errors three times and open the source's breaker before the sensor runs. The
    # subject here is what the sensor trips.
    store = demo_resources(world, tmp_path)["coordination"].store()
    OpsSettings(store).set("breaker:failure_threshold", 50, reason="test: the sensor trips")
    assert _canary(world, tmp_path, instance)
    world.degrade("klimacraft", ramp_s=3.0, peak_delay_s=0.3, peak_error_rate=1.0)
    time.sleep(2.5)
    _canary(world, tmp_path, instance)  # the site answers 503 more often than not
    res = demo_resources(world, tmp_path)
    tracking = MlflowTracking(data_dir=str(tmp_path / "empty"))  # no model registered
    ctx = dg.build_sensor_context(
        instance=instance,
        resources={
            "coordination": res["coordination"],
            "warehouse": res["warehouse"],
            "alerting": res["alerting"],
            "tracking": tracking,
        },
    )
    host = world.sites["klimacraft"].split("://")[1]
    store = res["coordination"].store()
    # By default the sensor only warns: nothing is tripped, nothing is lowered.
    warned = failure_prediction_sensor(ctx)
    assert "1 predicted to fail, 0 action(s)" in warned.skip_message, warned.skip_message
    assert CircuitBreakers(store).state(f"source:{host}").state == "closed"
    assert op_events(store, kinds=[PREDICTED_FAILURE_ACTION]).empty
    assert "warn-only" in (tmp_path / "alerts.jsonl").read_text()
    # With acting switched on (an operational setting), it trips the source's breaker.
    OpsSettings(store).set(ACT_SETTING, True, reason="test: act on predictions")
    capfd.readouterr()
    result = failure_prediction_sensor(ctx)
    logged = capfd.readouterr().err  # the sensor's log (Dagster's handler writes to stderr)
    assert "trip_breaker" in result.skip_message
    assert CircuitBreakers(store).state(f"source:{host}").state == "open"
    events = op_events(store, kinds=[PREDICTED_FAILURE_ACTION])
    assert list(events["subject"]) == [host]
    detail = events["detail"].iloc[0]
    assert detail["probability"] == 1.0 and detail["horizon_s"] > 0
    assert detail["model"] == "BaselineRule"
    assert "failure predictor unavailable" in logged and "baseline rule" in logged
    alerts = (tmp_path / "alerts.jsonl").read_text()
    assert "predicted_failure" in alerts and "warning" in alerts
    # the next canary run skips the source instead of failing on it
    world.take_down("klimacraft")
    assert _canary(world, tmp_path, instance)


def test_a_broken_model_store_falls_back_to_the_baseline(caplog) -> None:
    def load() -> FailurePredictor:
        raise RuntimeError("tracking server unreachable")

    with caplog.at_level(logging.WARNING):
        scorer = scorer_or_baseline(load, logging.getLogger("test"))
    assert isinstance(scorer, BaselineRule)
    assert "unreachable" in caplog.text


@pytest.mark.slow  # real ramps, real processes, real runs
def test_the_trained_model_warns_on_held_out_seeds_and_is_served_from_mlflow(
    tmp_path: Path,
) -> None:
    tracking = MlflowTracking(data_dir=str(tmp_path))
    config = FailurePredictorConfig(
        train_seeds=[0, 1], test_seeds=[2], ramp_s=12.0, lead_in_s=5.0, window_s=6.0, horizon_s=8.0
    )
    result = dg.materialize(
        [failure_predictor],
        resources={
            "tracking": tracking,
            "io_manager": dg.mem_io_manager,
        },
        run_config={"ops": {"failure_predictor": {"config": config.model_dump()}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    meta = result.asset_materializations_for_node("failure_predictor")[0].metadata
    assert meta["held_out_recall"].value > 0  # it warned before a failure on the held-out seed
    assert meta["held_out_median_lead_s"].value > 0
    frame = result.output_for_node("failure_predictor")
    assert {"seeds", "kind:degrade", "kind:decay", "kind:lock_growth"} <= set(frame["evaluation"])
    model = load_failure_predictor(tracking)
    assert isinstance(model, FailurePredictor) and model.config.horizon_s == 8.0
    run = tracking.client().get_run(meta["mlflow_run_id"].value)
    assert run.info.status == "FINISHED" and "seeds/model/recall" in run.data.metrics
    assert run.info.artifact_uri.startswith((tmp_path / "mlflow" / "artifacts").as_uri())


def test_the_act_setting_is_parsed_not_truth_tested() -> None:
    from orchestration_project.operations.prediction import setting_on

    assert [setting_on(v) for v in (True, 1, "true", " ON ", "yes", "1")] == [True] * 6
    assert [setting_on(v) for v in (False, 0, None, "false", "off", "0", "")] == [False] * 7


def test_warn_only_sends_one_warning_per_cooldown(tmp_path: Path) -> None:
    """The default mode warns, but not on every tick of the sensor."""
    from datetime import UTC, datetime, timedelta

    import pandas as pd

    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.operations.prediction import act_on_predictions

    store = CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")
    scores = pd.DataFrame(
        {
            "subject": ["source:shop.test"],
            "p": [0.9],
            "warn": [True],
            "lat_growth": [2.0],
            "err_recent": [0.4],
            "facts_drop": [0.0],
            "lock_wait_recent": [0.0],
        }
    )
    t0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    sent = [
        len(act_on_predictions(store, scores, horizon_s=60, now=t0 + dt, act=False).notifications)
        for dt in (timedelta(0), timedelta(seconds=30), timedelta(minutes=6))
    ]
    assert sent == [1, 0, 1]
    assert CircuitBreakers(store).state("source:shop.test").state == "closed"


def test_a_lock_wait_ledger_line_without_a_fraction_of_a_second_is_read(tmp_path: Path) -> None:
    ledger = tmp_path / "w.duckdb.lockwaits.jsonl"
    ledger.write_text(
        '{"at": "2026-12-02T12:00:00+00:00", "waited_s": 1.5, "timed_out": false}\n'
        '{"at": "2026-12-02T12:00:01.250000+00:00", "waited_s": 2.0, "timed_out": true}\n'
        "{garbled\n"
    )
    waits = read_lock_waits(tmp_path / "w.duckdb")
    assert list(waits["waited_s"]) == [1.5, 2.0]
