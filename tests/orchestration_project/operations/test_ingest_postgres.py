"""Run-metadata ingestion from a PostgreSQL Dagster instance into a PostgreSQL warehouse, with
the event log read by storage id across runs.

Everything is real: the instance's storage and the warehouse are two fresh databases on the
server named by ``COORDINATION_TEST_PG_URL`` (dropped afterwards), and the runs are executed
by Dagster. The last test needs no server: on a consolidated SQLite event log (one table, like
PostgreSQL's) it checks that reading by storage id builds exactly the rows the per-run path
builds, on the awkward event logs of ``test_run_metadata`` (out-of-order clocks, retries,
missing fields).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster._core.events import JobFailureData, StepFailureData, StepMaterializationData

from orchestration_project.operations.run_metadata import SCHEMA, TABLE_COLUMNS, ingest
from orchestration_project.operations.run_metadata.events import can_read_by_storage_id
from resources.dagster_storage import postgres_storage
from resources.warehouse import DuckDBWarehouse, PostgresWarehouse
from tests.backends import pg_url
from tests.orchestration_project.operations.test_run_metadata import T0, _event, _new_run

ET = dg.DagsterEventType
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


@dg.asset
def source() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="doubled")])
def doubled(source: int):  # noqa: ANN201 - yields an output and a check result
    yield dg.Output(source * 2, metadata={"row_count": 2})
    yield dg.AssetCheckResult(passed=True)


@dg.asset
def report(context, doubled: int) -> int:  # noqa: ANN001 (Dagster reads the annotation)
    if context.run.tags.get("fail") == "1":
        raise TimeoutError("the upstream service timed out")
    return doubled


@pytest.fixture
def databases() -> Iterator[tuple[sa.URL, sa.URL]]:
    """Two fresh databases on the test server (Dagster's storage, the warehouse), dropped."""
    url = sa.make_url(pg_url())
    names = [f"ingest_{role}_{uuid.uuid4().hex[:10]}" for role in ("dagster", "warehouse")]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in names:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=names[0]), url.set(database=names[1])
    finally:
        with admin.connect() as c:
            for name in names:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg_instance(databases: tuple[sa.URL, sa.URL], tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    storage = postgres_storage(databases[0])
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(
        temp_dir=str(tmp_path / "home"), overrides={"storage": storage}
    ) as instance:
        yield instance


def _run(instance: dg.DagsterInstance, *, fail: bool = False) -> str:
    result = dg.materialize(
        [source, doubled, report],
        instance=instance,
        run_config=QUIET,
        tags={"fail": "1" if fail else "0"},
        raise_on_error=False,
    )
    return result.run_id


def _count(wh: PostgresWarehouse, table: str) -> int:
    return int(wh.query(f'SELECT count(*) AS n FROM "{SCHEMA}"."{table}"')["n"].iloc[0])


def _instance_counts(instance: dg.DagsterInstance) -> dict[str, int]:
    """What the instance holds, counted through its own API."""
    run_ids = [r.dagster_run.run_id for r in instance.get_run_records()]

    def events(etype: dg.DagsterEventType) -> int:
        return sum(len(instance.all_logs(rid, of_type=etype)) for rid in run_ids)

    return {
        "runs": len(run_ids),
        "steps": sum(len(instance.get_run_step_stats(rid)) for rid in run_ids),
        "materializations": events(ET.ASSET_MATERIALIZATION),
        "check_results": events(ET.ASSET_CHECK_EVALUATION),
        "failures": events(ET.STEP_FAILURE) + events(ET.RUN_FAILURE),
    }


def _warehouse_counts(wh: PostgresWarehouse) -> dict[str, int]:
    return {t: _count(wh, t) for t in TABLE_COLUMNS}


@pytest.mark.postgres
def test_postgres_instance_into_postgres_warehouse_by_storage_id(
    pg_instance: dg.DagsterInstance, databases: tuple[sa.URL, sa.URL], tmp_path: Path
) -> None:
    assert can_read_by_storage_id(pg_instance)  # PostgreSQL's event log is one table
    for i in range(3):
        _run(pg_instance, fail=i == 2)
    wh = PostgresWarehouse(url=databases[1].render_as_string(hide_password=False))

    first = ingest(pg_instance, wh)
    expected = _instance_counts(pg_instance)
    assert expected["runs"] == 3 and expected["steps"] == 9 and expected["failures"] >= 2
    assert _warehouse_counts(wh) == expected
    assert first.runs == 3 and first.malformed_events == 0
    assert first.rows == expected
    statuses = wh.query(f'SELECT status FROM "{SCHEMA}"."runs"')["status"]
    assert sorted(statuses) == ["FAILURE", "SUCCESS", "SUCCESS"]
    row_counts = wh.query(f'SELECT row_count FROM "{SCHEMA}"."materializations"')
    assert set(row_counts["row_count"].dropna()) == {2}

    # The same instance through the per-run path gives the same rows.
    per_run = DuckDBWarehouse(path=str(tmp_path / "per_run.duckdb"))
    assert ingest(pg_instance, per_run, by_storage_id=False).events == first.events
    for table, cols in TABLE_COLUMNS.items():
        got = wh.read_table(table, schema=SCHEMA)[cols]
        want = per_run.read_table(table, schema=SCHEMA)[cols]
        assert _canonical(got) == _canonical(want), table

    again = ingest(pg_instance, wh)
    assert (again.runs, again.events, again.rows) == (0, 0, {})
    assert _warehouse_counts(wh) == expected

    new = [_run(pg_instance), _run(pg_instance, fail=True)]
    third = ingest(pg_instance, wh)
    assert third.runs == 2 and third.cursor is not None and third.cursor > first.cursor
    assert _warehouse_counts(wh) == _instance_counts(pg_instance)
    stored = set(wh.query(f'SELECT run_id FROM "{SCHEMA}"."runs"')["run_id"])
    assert set(new) <= stored and len(stored) == 5


def _plain(value: Any) -> Any:
    """A cell as a plain Python value, whichever warehouse and driver read it."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item") and not isinstance(value, str | pd.Timestamp):
        value = value.item()  # numpy scalars
    if isinstance(value, float):
        return None if value != value else (int(value) if value.is_integer() else value)
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
        return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).isoformat()
    return value


def _canonical(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as sorted tuples of plain values (timestamps as UTC ISO text, NULLs as None)."""
    rows = [tuple(_plain(v) for v in row) for row in df.astype(object).itertuples(index=False)]
    return sorted(rows, key=repr)


@pytest.fixture
def consolidated_instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """An instance whose event log is one SQLite table (storage ids across runs)."""
    (tmp_path / "home").mkdir()
    overrides = {
        "event_log_storage": {
            "module": "dagster._core.storage.event_log",
            "class": "ConsolidatedSqliteEventLogStorage",
            "config": {"base_dir": str(tmp_path / "home" / "events")},
        }
    }
    with dg.instance_for_test(temp_dir=str(tmp_path / "home"), overrides=overrides) as inst:
        yield inst


def test_reading_by_storage_id_builds_the_rows_the_per_run_path_builds(
    consolidated_instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    instance = consolidated_instance
    assert can_read_by_storage_id(instance)
    _new_run(instance, job="never_started")
    rid = _new_run(instance)
    _event(instance, rid, ET.RUN_START, T0)
    _event(instance, rid, ET.STEP_START, T0 + 1, None)  # a step event without a step key
    _event(instance, rid, ET.STEP_START, T0 + 1.000001, "s3")
    _event(
        instance,
        rid,
        ET.ASSET_MATERIALIZATION,
        T0 + 2,
        None,
        StepMaterializationData(dg.AssetMaterialization(asset_key="loose")),
    )
    _event(instance, rid, ET.STEP_FAILURE, T0 + 3, "s3", StepFailureData(None, None), "s3 died")
    _event(instance, rid, ET.RUN_FAILURE, T0 + 4, None, JobFailureData(None), "run failed")
    skewed = _new_run(instance)
    _event(instance, skewed, ET.RUN_START, T0 + 100)
    _event(instance, skewed, ET.STEP_START, T0 + 60.123457, "skewed")
    _event(instance, skewed, ET.STEP_SUCCESS, T0 + 40, "skewed")
    _event(instance, skewed, ET.STEP_SUCCESS, T0 + 30, "reordered")  # stored before its start
    _event(instance, skewed, ET.STEP_START, T0 + 20, "reordered")
    _event(instance, skewed, ET.STEP_START, T0 + 10, "retried")
    _event(instance, skewed, ET.STEP_UP_FOR_RETRY, T0 + 11, "retried")
    _event(instance, skewed, ET.STEP_RESTARTED, T0 + 12, "retried")
    _event(instance, skewed, ET.STEP_SUCCESS, T0 + 15.5, "retried")
    _event(instance, skewed, ET.RUN_SUCCESS, T0 + 50)

    per_run = DuckDBWarehouse(path=str(tmp_path / "per_run.duckdb"))
    bulk = DuckDBWarehouse(path=str(tmp_path / "bulk.duckdb"))
    a = ingest(instance, per_run, by_storage_id=False)
    b = ingest(instance, bulk, by_storage_id=True, page_size=2)  # several pages of runs
    assert (a.runs, a.events, a.malformed_events, a.clock_skew) == (
        b.runs,
        b.events,
        b.malformed_events,
        b.clock_skew,
    )
    assert (b.runs, b.malformed_events, b.clock_skew) == (3, 1, 2)
    for table in TABLE_COLUMNS:
        want = per_run.read_table(table, schema=SCHEMA)
        got = bulk.read_table(table, schema=SCHEMA)
        sort = [c for c in want.columns if c not in ("tags",)]
        pd.testing.assert_frame_equal(
            got.sort_values(sort).reset_index(drop=True),
            want.sort_values(sort).reset_index(drop=True),
            obj=table,
        )


def test_by_storage_id_is_refused_on_a_run_sharded_event_log(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert not can_read_by_storage_id(instance)
        with pytest.raises(ValueError, match="one SQL table"):
            ingest(instance, DuckDBWarehouse(path=str(tmp_path / "w.duckdb")), by_storage_id=True)
