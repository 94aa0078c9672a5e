"""Run metadata ingestion against bad metadata, broken or busy warehouses, and domain tables.

Everything is real: a Dagster instance on temporary SQLite storage (runs and events written
through the instance's own API, with the timestamps and gaps a test needs) and DuckDB files in
``tmp_path``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.events import (
    DagsterEvent,
    JobFailureData,
    StepFailureData,
    StepMaterializationData,
    StepRetryData,
    StepSuccessData,
)
from dagster._utils.error import SerializableErrorInfo

from orchestration_project.agents.runtime import ActionRecorder, AgentAction
from orchestration_project.operations.run_metadata import (
    ACTION_COLUMNS,
    SCHEMA,
    TABLE_COLUMNS,
    ingest,
    ingest_agent_actions,
    read_cursor,
)
from resources.warehouse import DuckDBWarehouse, WarehouseError, WarehouseLockedError

ET = dg.DagsterEventType
T0 = 1_700_000_000.0


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as inst:
        yield inst


def _new_run(instance: dg.DagsterInstance, job: str = "crafted") -> str:
    run = instance.add_run(
        dg.DagsterRun(
            job_name=job, run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.NOT_STARTED
        )
    )
    return run.run_id


def _event(
    instance: dg.DagsterInstance,
    run_id: str,
    etype: dg.DagsterEventType,
    at: float,
    step_key: str | None = None,
    data: object = None,
    message: str | None = None,
) -> None:
    """Store one event through the instance (run events also update the run's record)."""
    if data is None and etype == ET.STEP_SUCCESS:
        data = StepSuccessData(duration_ms=0.0)
    elif data is None and etype == ET.STEP_UP_FOR_RETRY:
        data = StepRetryData(error=SerializableErrorInfo("flaky", [], "ConnectionError"))
    ev = DagsterEvent(
        event_type_value=etype.value,
        job_name="crafted",
        step_key=step_key,
        event_specific_data=data,
        message=message or f"{etype.value} {step_key or ''}",
    )
    instance.handle_new_event(
        dg.EventLogEntry(
            error_info=None,
            level=logging.INFO,
            user_message="",
            run_id=run_id,
            timestamp=at,
            step_key=step_key,
            job_name="crafted",
            dagster_event=ev,
        )
    )


def _finished_run(instance: dg.DagsterInstance) -> str:
    rid = _new_run(instance)
    _event(instance, rid, ET.RUN_START, T0)
    _event(instance, rid, ET.STEP_START, T0 + 1, "s")
    _event(instance, rid, ET.STEP_SUCCESS, T0 + 3, "s")
    _event(instance, rid, ET.RUN_SUCCESS, T0 + 4)
    return rid


def _wh(tmp_path: Path, name: str = "w.duckdb", **kw: float) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / name), **kw)


def _instance_state(instance: dg.DagsterInstance) -> list[tuple]:
    return sorted(
        (
            r.dagster_run.run_id,
            r.dagster_run.status.value,
            len(instance.all_logs(r.dagster_run.run_id)),
        )
        for r in instance.get_run_records()
    )


# --- missing fields ---------------------------------------------------------------------------
def test_missing_fields_are_null_or_skipped_and_counted(instance, tmp_path: Path) -> None:
    never = _new_run(instance, job="never_started")
    rid = _new_run(instance)
    _event(instance, rid, ET.RUN_START, T0)
    _event(instance, rid, ET.STEP_START, T0 + 1, None)  # a step event without a step key
    _event(instance, rid, ET.STEP_START, T0 + 1, "s3")
    _event(
        instance,
        rid,
        ET.ASSET_MATERIALIZATION,
        T0 + 2,
        None,  # reported outside any step
        StepMaterializationData(dg.AssetMaterialization(asset_key="loose")),
    )
    # Failures without an error object.
    _event(instance, rid, ET.STEP_FAILURE, T0 + 3, "s3", StepFailureData(None, None), "s3 died")
    _event(instance, rid, ET.RUN_FAILURE, T0 + 4, None, JobFailureData(None), "run failed")

    wh = _wh(tmp_path)
    res = ingest(instance, wh)
    assert res.runs == 2 and res.malformed_events == 1

    runs = wh.read_table("runs", schema=SCHEMA).set_index("run_id")
    assert runs.loc[never, "status"] == "NOT_STARTED"
    assert pd.isna(runs.loc[never, "started_at"]) and pd.isna(runs.loc[never, "duration_s"])
    assert runs.loc[rid, "status"] == "FAILURE" and runs.loc[rid, "duration_s"] == 4.0
    steps = wh.read_table("steps", schema=SCHEMA)
    assert steps["step_key"].tolist() == ["s3"]  # the keyless step event was skipped
    mats = wh.read_table("materializations", schema=SCHEMA)
    assert mats["asset_key"].tolist() == ["loose"] and mats["step_key"].isna().all()
    failures = wh.read_table("failures", schema=SCHEMA).set_index("message")
    assert set(failures["error_class"]) == {"unknown"}
    assert failures.loc["s3 died", "step_key"] == "s3"
    assert pd.isna(failures.loc["run failed", "step_key"])
    for table, cols in TABLE_COLUMNS.items():
        assert wh.read_table(table, schema=SCHEMA).columns.tolist() == cols


# --- clock skew -------------------------------------------------------------------------------
def test_clock_skew_is_flagged_and_durations_are_never_negative(instance, tmp_path: Path) -> None:
    rid = _new_run(instance)
    _event(instance, rid, ET.RUN_START, T0 + 100)
    _event(instance, rid, ET.STEP_START, T0 + 60, "skewed")
    _event(instance, rid, ET.STEP_SUCCESS, T0 + 40, "skewed")  # ends before it starts
    # Stored out of order (success before start), with sane clocks.
    _event(instance, rid, ET.STEP_SUCCESS, T0 + 30, "reordered")
    _event(instance, rid, ET.STEP_START, T0 + 20, "reordered")
    # A retried step: two attempts, the last one wins.
    _event(instance, rid, ET.STEP_START, T0 + 10, "retried")
    _event(instance, rid, ET.STEP_UP_FOR_RETRY, T0 + 11, "retried")
    _event(instance, rid, ET.STEP_RESTARTED, T0 + 12, "retried")
    _event(instance, rid, ET.STEP_SUCCESS, T0 + 15, "retried")
    _event(instance, rid, ET.RUN_SUCCESS, T0 + 50)  # the run ends before it started

    wh = _wh(tmp_path)
    res = ingest(instance, wh)
    assert res.clock_skew == 2  # the run and the "skewed" step

    run = wh.read_table("runs", schema=SCHEMA).iloc[0]
    assert bool(run["clock_skew"]) and pd.isna(run["duration_s"])
    steps = wh.read_table("steps", schema=SCHEMA).set_index("step_key")
    assert (steps["duration_s"].dropna() >= 0).all()
    assert bool(steps.loc["skewed", "clock_skew"]) and pd.isna(steps.loc["skewed", "duration_s"])
    assert steps.loc["reordered", "status"] == "SUCCESS"
    assert steps.loc["reordered", "duration_s"] == 10.0
    assert not steps.loc["reordered", "clock_skew"]
    assert steps.loc["retried", ["status", "attempts", "duration_s"]].tolist() == [
        "SUCCESS",
        2,
        5.0,
    ]


# --- idempotency ------------------------------------------------------------------------------
def test_nothing_new_writes_nothing_and_a_changed_run_is_replaced(instance, tmp_path: Path) -> None:
    wh = _wh(tmp_path)
    _finished_run(instance)
    rid = _new_run(instance)
    _event(instance, rid, ET.RUN_START, T0 + 10)
    _event(instance, rid, ET.STEP_START, T0 + 11, "s")
    first = ingest(instance, wh)
    assert first.runs == 2

    mtime = os.stat(wh.path).st_mtime_ns
    t0 = time.perf_counter()
    again = ingest(instance, wh)
    assert time.perf_counter() - t0 < 1.0
    assert (again.runs, again.events, again.rows) == (0, 0, {})
    assert os.stat(wh.path).st_mtime_ns == mtime  # not even opened for writing

    _event(instance, rid, ET.STEP_SUCCESS, T0 + 13, "s")
    _event(instance, rid, ET.RUN_SUCCESS, T0 + 14)
    third = ingest(instance, wh)
    assert third.runs == 1
    runs = wh.read_table("runs", schema=SCHEMA)
    assert len(runs) == 2 and runs["run_id"].is_unique
    assert runs.set_index("run_id").loc[rid, "status"] == "SUCCESS"
    steps = wh.read_table("steps", schema=SCHEMA)
    assert len(steps) == 2 and not steps.duplicated(["run_id", "step_key"]).any()
    assert steps.set_index("run_id").loc[rid, "status"] == "SUCCESS"


def test_tables_from_an_older_version_get_the_new_columns(instance, tmp_path: Path) -> None:
    wh = _wh(tmp_path)
    old_cols = [c for c in TABLE_COLUMNS["runs"] if c not in ("updated_at", "clock_skew")]
    wh.write_table("runs", pd.DataFrame({c: ["old"] for c in old_cols}), schema=SCHEMA)
    _finished_run(instance)
    assert ingest(instance, wh).runs == 1
    runs = wh.read_table("runs", schema=SCHEMA)
    assert set(TABLE_COLUMNS["runs"]) <= set(runs.columns) and len(runs) == 2  # "old" kept


# --- a corrupt warehouse file -----------------------------------------------------------------
def test_a_corrupt_warehouse_file_is_a_clear_error_and_nothing_is_lost(
    instance, tmp_path: Path
) -> None:
    for _ in range(2):
        _finished_run(instance)
    folder = tmp_path / "wh"
    folder.mkdir()
    path = folder / "w.duckdb"
    garbage = os.urandom(64 * 1024)
    path.write_bytes(garbage)
    before = _instance_state(instance)

    wh = DuckDBWarehouse(path=str(path))
    with pytest.raises(WarehouseError, match=str(path)):
        ingest(instance, wh)
    with pytest.raises(WarehouseError, match=str(path)):
        read_cursor(wh)
    assert path.read_bytes() == garbage  # not modified, not deleted
    assert sorted(p.name for p in folder.iterdir()) == ["w.duckdb"]
    assert _instance_state(instance) == before  # the Dagster instance is untouched

    path.rename(folder / "w.duckdb.corrupt")  # what the error tells the operator to do
    res = ingest(instance, wh)
    assert res.runs == 2
    assert len(wh.read_table("runs", schema=SCHEMA)) == 2
    assert len(wh.read_table("steps", schema=SCHEMA)) == 2


# --- a warehouse locked by another writer -----------------------------------------------------
def test_a_locked_warehouse_raises_keeps_the_cursor_and_catches_up_later(
    instance, tmp_path: Path
) -> None:
    wh = _wh(tmp_path, lock_timeout_s=0.5)
    _finished_run(instance)
    assert ingest(instance, wh).runs == 1
    cursor = read_cursor(wh)
    _finished_run(instance)  # new work arrives while another process holds the file

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time, duckdb
                conn = duckdb.connect({wh.path!r})
                print("locked", flush=True)
                sys.stdin.readline()
                conn.close()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseLockedError, match="locked"):
            ingest(instance, wh)
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)

    assert read_cursor(wh) == cursor  # not advanced
    res = ingest(instance, wh)
    assert res.runs == 1 and res.cursor is not None and res.cursor >= cursor  # (a tie: same time)
    assert len(wh.read_table("runs", schema=SCHEMA)) == 2


# --- agent actions and fetch attempts of every domain -----------------------------------------
def _actions(run_id: str, n: int, started: datetime | None = None) -> pd.DataFrame:
    rec = ActionRecorder(run_id=run_id)
    for i in range(n):
        rec.add(
            AgentAction(
                action_id=uuid.uuid4().hex,
                run_id=run_id,
                agent="researcher",
                role="research",
                kind="tool_call",
                name="fetch",
                inputs="{}",
                output="ok",
                started_at=started or datetime.fromtimestamp(T0 + i, UTC),
                duration_s=0.5,
                cost_usd=0.01,
                outcome="ok",
                route="http" if i % 2 else "browser",
            )
        )
    return rec.to_frame()


def test_agent_actions_of_every_domain_are_consolidated_incrementally(
    instance, tmp_path: Path
) -> None:
    wh = _wh(tmp_path)
    wh.write_table("agent_actions", _actions("run-a", 3), schema="market_research", mode="append")
    wh.write_table("agent_actions", _actions("run-b", 2), schema="market_research", mode="append")
    # Another domain with fewer columns and an action outside any run.
    other = _actions("run-c", 2)[["action_id", "run_id", "agent", "kind", "name", "started_at"]]
    other.loc[1, "run_id"] = None
    wh.write_table("agent_actions", other, schema="pricing")
    wh.write_table(
        "fetch_attempts",
        pd.DataFrame(
            {
                "id": [1, 2],
                "crawl_id": ["crawl-1", "crawl-1"],
                "url": ["https://a.example/", "https://a.example/x"],
                "site": ["a.example"] * 2,
                "route": ["http", "browser"],
                "outcome": ["ok", "timeout"],
                "status": [200, None],
                "latency_s": [0.2, 5.0],
                "attempted_at": pd.to_datetime([T0, T0 + 1], unit="s", utc=True),
            }
        ),
        schema="market_research",
    )

    res = ingest(instance, wh)  # no runs in the instance: only the domain tables
    assert res.domains == ["market_research", "pricing"]
    assert res.rows == {"agent_actions": 7, "fetch_attempts": 2}
    acts = wh.read_table("agent_actions", schema=SCHEMA)
    assert acts.columns.tolist() == ACTION_COLUMNS
    assert acts.groupby("domain").size().to_dict() == {"market_research": 5, "pricing": 2}
    assert sorted(acts["run_id"].unique()) == ["", "run-a", "run-b", "run-c"]
    assert acts.loc[acts["domain"] == "pricing", "cost_usd"].isna().all()
    attempts = wh.read_table("fetch_attempts", schema=SCHEMA)
    assert attempts["domain"].unique().tolist() == ["market_research"]
    assert attempts.set_index("id").loc[1, "status"] == 200

    again = ingest(instance, wh)
    assert again.rows == {} and ingest_agent_actions(wh) == 0

    # One run gets more actions: only that run is copied again.
    late = _actions("run-b", 1, started=datetime.fromtimestamp(T0 + 60, UTC))
    wh.write_table("agent_actions", late, schema="market_research", mode="append")
    assert ingest_agent_actions(wh) == 3
    acts = wh.read_table("agent_actions", schema=SCHEMA)
    assert len(acts) == 8 and acts["action_id"].is_unique
    assert ingest(instance, wh).rows == {}
