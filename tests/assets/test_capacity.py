"""The capacity plan through Dagster: a run history in a DuckDB warehouse, a forecast of it,
and pool limits applied to (and reverted on) the real instance the run executes on."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.optimization.capacity import CAPACITY_PLAN, RUN_QUEUE, capacity_plan, pool_of_steps
from orchestration_project.definitions import defs
from orchestration_project.optimization.capacity import PoolAllocator
from resources.coordination import CoordinationResource
from resources.environment import PROJECT_ROOT, ReportsDir
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager


def history(days: int = 21, step_s: float = 1800.0):
    """Every hour for ``days``: one market_research_job run with warehouse steps of ``step_s``
    seconds each, four in working hours (2 steps busy on average), one otherwise. Every day
    has working hours, weekends too: the plan looks 24 hours ahead, and a weekday-only peak
    made these tests fail whenever they ran from Friday evening to Sunday evening."""
    now = pd.Timestamp.now(tz="UTC").floor("h")
    runs, steps = [], []
    for h in range(days * 24, 0, -1):
        start = now - pd.Timedelta(hours=h)
        steps_per_hour = 4 if 8 <= start.hour < 18 else 1
        rid = f"r{h}"
        runs.append(
            {
                "run_id": rid,
                "job_name": "market_research_job",
                "status": "SUCCESS",
                "started_at": start,
                "ended_at": start + pd.Timedelta(minutes=40),
                "duration_s": 2400.0,
            }
        )
        for i in range(steps_per_hour):
            steps.append(
                {
                    "run_id": rid,
                    "step_key": "extracted_facts" if i % 2 else "discovered_pages",
                    "status": "SUCCESS",
                    "started_at": start + pd.Timedelta(minutes=i),
                    "ended_at": start + pd.Timedelta(seconds=60 * i + step_s),
                    "duration_s": step_s,
                }
            )
    return pd.DataFrame(runs), pd.DataFrame(steps)


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    runs, steps = history()
    wh.write_table("runs", runs, schema="operations")
    wh.write_table("steps", steps, schema="operations")
    return {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "coordination": CoordinationResource(url=f"sqlite:///{tmp_path / 'coord.db'}"),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }


@pytest.fixture
def instance(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(PROJECT_ROOT / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


STEP_POOLS = {"discovered_pages": "warehouse", "extracted_facts": "warehouse"}


def _plan(resources: dict, instance: dg.DagsterInstance, **config) -> pd.DataFrame:
    # Outside a code location (dg.materialize) the run knows only its own assets' pools; the
    # code location's map is tested below against the project's definitions.
    config.setdefault("step_pools", STEP_POOLS)
    result = dg.materialize(
        [capacity_plan],
        resources=resources,
        instance=instance,
        run_config={"ops": {CAPACITY_PLAN: {"config": config}}},
    )
    assert result.success
    return resources["warehouse"].read_table(CAPACITY_PLAN, schema="optimization")


def test_the_plan_applies_a_forecast_pool_limit_to_the_instance_and_it_reverts(
    resources: dict, instance: dg.DagsterInstance
) -> None:
    # A PostgreSQL-sized warehouse pool (bounds 1..4): 2 steps busy × 1.25 headroom -> 3 slots.
    wide = {"pool_bounds": {"warehouse": [1, 4]}, "headroom": 1.25}
    plan = _plan(resources, instance, run_bounds=[1, 3], **wide)
    pool = plan[plan["name"] == "warehouse"].iloc[0]
    assert pool["recommended"] == 3 and bool(pool["applied"])
    assert pool["demand_at_peak"] == pytest.approx(2.0, abs=0.3)
    assert "168" in pool["forecast_method"]  # daily and weekly seasonality fitted
    assert pool["history_hours"] >= 21 * 24
    storage = instance.event_log_storage
    assert storage.get_concurrency_info("warehouse").slot_count == 3

    # The run queue: 40-minute runs every hour -> 0.67 busy × 1.25 -> 1; recommended only.
    queue = plan[plan["name"] == RUN_QUEUE].iloc[0]
    assert queue["recommended"] == 1 and not bool(queue["applied"])
    assert "max_concurrent_runs" in queue["reason"]

    alloc = PoolAllocator(storage, resources["coordination"].store())
    alloc.revert(pool="warehouse")
    assert storage.get_concurrency_info("warehouse").slot_count == 1  # the instance default

    # Planning again on the same history changes it once more, and is recorded again.
    _plan(resources, instance, **wide)
    assert list(alloc.history()["kind"]) == ["apply", "revert", "apply"]


def test_on_duckdb_the_warehouse_keeps_one_writer_and_recommend_only_applies_nothing(
    resources: dict, instance: dg.DagsterInstance
) -> None:
    plan = _plan(resources, instance)  # default bounds: DuckDB warehouse 1..1
    pool = plan[plan["name"] == "warehouse"].iloc[0]
    assert pool["recommended"] == 1 and "held to the bounds 1..1" in pool["reason"]
    assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1

    plan = _plan(resources, instance, pool_bounds={"warehouse": [1, 4]}, headroom=1.25, apply=False)
    pool = plan[plan["name"] == "warehouse"].iloc[0]
    assert pool["recommended"] == 3 and not bool(pool["applied"])
    assert instance.event_log_storage.get_concurrency_info("warehouse").slot_count == 1


def test_every_project_asset_step_maps_to_its_pool() -> None:
    pools = pool_of_steps(defs.get_repository_def().assets_defs_by_key.values())
    assert {k: pools[k] for k in STEP_POOLS} == STEP_POOLS
    assert pools["discovered_pages"] == "warehouse" and pools[CAPACITY_PLAN] == "warehouse"
