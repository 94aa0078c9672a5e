"""The route model's drift sensor: retrain early when the champion's calls stop matching what
happens (real MLflow store and DuckDB warehouse in a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from assets.optimization.assets import optimization_assets
from resources.environment import ReportsDir
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from sensors.optimization import route_model_drift_sensor
from tests.ml.test_route_success import synthetic_attempts


def _resources(tmp_path: Path) -> dict:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    return {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "tracking": MlflowTracking(data_dir=str(tmp_path / "data")),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }


def _tick(res: dict) -> dg.SensorResult | dg.SkipReason:
    ctx = dg.build_sensor_context(
        resources={"warehouse": res["warehouse"], "tracking": res["tracking"]}
    )
    return route_model_drift_sensor(ctx)


def _later(attempts: pd.DataFrame, days: int, flip: bool) -> pd.DataFrame:
    """The same traffic ``days`` later; with ``flip`` plain HTTP now fails at the good site and
    works at the bad one (the sites swapped behaviour)."""
    out = attempts.copy()
    out["attempted_at"] = out["attempted_at"] + pd.Timedelta(days=days)
    if flip:
        good = out["site"].str.contains("good") & (out["route"] == "http")
        bad = out["site"].str.contains("bad") & (out["route"] == "http")
        out.loc[good, ["outcome", "status"]] = ["http_error", 503]
        out.loc[bad, ["outcome", "status"]] = ["ok", 200]
    return out


def test_no_champion_no_run(tmp_path: Path) -> None:
    res = _resources(tmp_path)
    result = _tick(res)
    assert isinstance(result, dg.SkipReason) and "no route_success@champion" in str(
        result.skip_message
    )


def test_a_champion_whose_calls_still_hold_is_kept_and_one_that_drifted_is_retrained(
    tmp_path: Path,
) -> None:
    res = _resources(tmp_path)
    history = synthetic_attempts(500)
    res["warehouse"].write_table("fetch_attempts", history, schema="market_research")
    with dg.instance_for_test() as instance:
        assert dg.materialize(optimization_assets, resources=res, instance=instance).success

    # nothing new yet, then the same behaviour a day later: no retraining
    assert isinstance(_tick(res), dg.SkipReason)
    same = pd.concat([history, _later(synthetic_attempts(200, seed=1), 1, flip=False)])
    res["warehouse"].write_table("fetch_attempts", same, schema="market_research")
    kept = _tick(res)
    assert isinstance(kept, dg.SkipReason) and "200 attempts" in str(kept.skip_message)

    # the sites swap behaviour: the champion calls most routes wrong, a retraining is asked for
    drifted = pd.concat([history, _later(synthetic_attempts(200, seed=1), 1, flip=True)])
    res["warehouse"].write_table("fetch_attempts", drifted, schema="market_research")
    result = _tick(res)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.run_key == "route-drift-v1-200"
    assert request.tags["trigger"] == "route_model_drift"
