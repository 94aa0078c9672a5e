"""Run metadata ingestion from a real (temporary, SQLite) Dagster instance into DuckDB."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.operations.assets import run_metadata
from orchestration_project.operations.run_metadata import SCHEMA, ingest
from resources.warehouse import DuckDBWarehouse


@dg.asset
def good() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="counted")])
def counted(good: int):  # noqa: ANN201
    yield dg.Output(good + 1, metadata={"row_count": 2})
    yield dg.AssetCheckResult(passed=True)


@dg.asset
def flaky() -> int:
    raise ConnectionResetError("upstream closed the connection")


def _run(instance: dg.DagsterInstance, assets: list) -> None:
    dg.materialize(assets, instance=instance, raise_on_error=False)


@pytest.fixture
def instance(tmp_path: Path):  # noqa: ANN201
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as inst:
        yield inst


def test_runs_steps_materialisations_checks_and_failures_land(instance, tmp_path: Path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    _run(instance, [good, counted])
    _run(instance, [flaky])
    res = ingest(instance, wh)
    assert res.runs == 2 and res.events >= 10  # only the event types the tables need
    runs = wh.read_table("runs", schema=SCHEMA)
    assert sorted(runs["status"]) == ["FAILURE", "SUCCESS"]
    steps = wh.read_table("steps", schema=SCHEMA)
    assert set(steps["step_key"]) == {"good", "counted", "flaky"}
    assert (steps.loc[steps["step_key"] == "flaky", "status"] == "FAILURE").all()
    assert steps["duration_s"].notna().all()
    mats = wh.read_table("materializations", schema=SCHEMA)
    assert mats.set_index("asset_key").loc["counted", "row_count"] == 2
    checks = wh.read_table("check_results", schema=SCHEMA)
    assert checks[["check_name", "passed"]].values.tolist() == [["positive", True]]
    failures = wh.read_table("failures", schema=SCHEMA)
    step_failure = failures[failures["step_key"] == "flaky"].iloc[0]
    assert step_failure["error_class"] == "ConnectionResetError"
    assert "upstream closed" in step_failure["message"]
    assert step_failure["failure_class"] == "transient_network" and step_failure["retryable"]


def test_ingestion_is_incremental_and_idempotent(instance, tmp_path: Path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    _run(instance, [good])
    first = ingest(instance, wh)
    t0 = time.perf_counter()
    again = ingest(instance, wh)
    assert time.perf_counter() - t0 < 1.0
    assert (again.runs, again.events) == (0, 0)
    _run(instance, [good, counted])
    third = ingest(instance, wh)
    assert third.runs == 1 and first.runs == 1
    runs = wh.read_table("runs", schema=SCHEMA)
    assert runs["run_id"].is_unique and len(runs) == 2
    steps = wh.read_table("steps", schema=SCHEMA)
    assert not steps.duplicated(["run_id", "step_key"]).any()


def test_the_asset_ingests_its_own_instance(instance, tmp_path: Path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    _run(instance, [good])
    result = dg.materialize([run_metadata], instance=instance, resources={"warehouse": wh})
    assert result.success
    md = result.get_asset_materialization_events()[0].event_specific_data.materialization.metadata
    assert md["runs_ingested"].value >= 1
    assert isinstance(wh.read_table("runs", schema=SCHEMA), pd.DataFrame)


def test_health_metrics_and_dashboard(instance, tmp_path: Path) -> None:
    from assets.operations.assets import health_metrics
    from resources.environment import ReportsDir
    from resources.warehouse import WarehouseIOManager

    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    _run(instance, [good, counted])
    _run(instance, [flaky])
    resources = {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }
    result = dg.materialize([run_metadata, health_metrics], instance=instance, resources=resources)
    assert result.success
    health = wh.read_table("health_metrics", schema="operations")
    day = health[health["window"] == "24h"].set_index(["dimension", "entity"])
    assert day.loc[("asset", "flaky"), "error_rate"] == 1.0
    assert day.loc[("asset", "good"), "success_rate"] == 1.0
    assert day.loc[("asset", "good"), "freshness_s"] >= 0
    assert ("job", "__ephemeral_asset_job__") in day.index
    html = (tmp_path / "reports" / "operations" / "health.html").read_text()
    assert html.count("data:image/png;base64,") == 2


def test_the_operations_group_turns_failures_into_alerts_incidents_and_a_scorecard(
    instance, tmp_path: Path
) -> None:
    """End to end over the whole operations group: three failed runs of one asset open an
    incident each (via the healer, as the run-failure sensor does), the asset-failure alerts
    fire, are delivered to the file sink and confirmed true by those incidents; escalated
    incidents get post-incident reports; the scorecard counts the failed workflows."""
    from assets.operations.assets import alerts, health_metrics, incidents, slo_scorecard
    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.operations.healing import Healer
    from resources.alerting import AlertingResource
    from resources.coordination import CoordinationResource
    from resources.environment import ReportsDir
    from resources.warehouse import WarehouseIOManager

    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    coordination = CoordinationResource(url=f"sqlite:///{tmp_path / 'c.db'}")
    _run(instance, [good, counted])

    @dg.asset(name="broken")
    def broken() -> int:
        raise KeyError("no such column: price")  # a bug: escalated, never retried

    for _ in range(3):
        _run(instance, [broken])
    healer = Healer(CoordinationStore(coordination.url))
    failed = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    assert len(failed) == 3
    for rec in failed:
        inc = healer.on_run_failure(instance, rec.dagster_run.run_id)
        assert (inc.failure_class, inc.status) == ("code_error", "escalated")

    resources = {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
        "coordination": coordination,
        "alerting": AlertingResource(file_path=str(tmp_path / "alerts.jsonl")),
    }
    # the business processes' figures, as their process_scorecard asset writes them
    from orchestration_project.business_processes.metrics import ProcessFigures, scorecard_rows

    figures = ProcessFigures("invoice_approval", 10, 8, 30.0, 400.0, 0.875, 0.5, 90.0, 10.0, 480)
    wh.write_table("process_scorecard", scorecard_rows([figures]), schema="business_processes")
    result = dg.materialize(
        [run_metadata, health_metrics, alerts, incidents, slo_scorecard],
        instance=instance,
        resources=resources,
    )
    assert result.success
    stored = wh.read_table("alerts", schema="operations")
    about_broken = stored[(stored["subject_kind"] == "asset") & (stored["subject"] == "broken")]
    assert len(about_broken) >= 1
    assert about_broken["verdict"].fillna(False).astype(bool).all()  # confirmed by incidents
    delivered = (tmp_path / "alerts.jsonl").read_text()
    assert "broken" in delivered

    table = wh.read_table("incidents", schema="operations")
    assert len(table) == 3 and set(table["status"]) == {"escalated"}
    reports = sorted((tmp_path / "reports" / "incidents").glob("*.md"))
    assert len(reports) == 3
    text = reports[0].read_text()
    assert "code_error" in text and "step failed: KeyError" in text and "escalate" in text

    card = wh.read_table("slo_scorecard", schema="operations").set_index("metric")
    # 1 successful workflow (good+counted) and 3 failed ones.
    assert card.loc["workflow completion rate", "value"] == pytest.approx(0.25)
    assert card.loc["workflow completion rate", "met"] == False  # noqa: E712
    assert card.loc["alert false-positive rate", "value"] == 0.0
    assert card.loc["invoice_approval: cycle time p95", "value"] == 400.0  # the processes' rows
    assert card.loc["invoice_approval: finished within SLA", "met"] == False  # noqa: E712
    html = (tmp_path / "reports" / "operations" / "scorecard.html").read_text()
    assert html.count("data:image/png;base64,") == 2
