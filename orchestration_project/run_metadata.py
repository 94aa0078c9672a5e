"""Run metadata: incremental ingestion from the Dagster instance into warehouse tables.

Tables (schema ``operations``), each keyed by ``run_id`` so a run's rows are replaced as a whole
when the run changes (idempotent):

| table | one row per | columns |
|---|---|---|
| ``runs`` | run | run_id, job_name, status, created_at, started_at, ended_at, duration_s, root_run_id, parent_run_id, tags (JSON) |
| ``steps`` | step of a run | run_id, step_key, status, started_at, ended_at, duration_s, attempts |
| ``materializations`` | asset materialisation | run_id, step_key, asset_key, at, row_count |
| ``check_results`` | asset check evaluation | run_id, asset_key, check_name, passed, severity, at |
| ``failures`` | step or run failure | run_id, step_key, error_class, message, failure_class, retryable, at |

The cursor is the largest run ``update_timestamp`` ingested, stored in ``ingest_cursor``; runs
updated after it are read again (a run still in progress is re-ingested when it changes). With
nothing new, an ingestion reads one page of run records and writes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd

from orchestration_project.failures import classify_failure
from resources.warehouse import Warehouse

SCHEMA = "operations"
TABLE_COLUMNS = {
    "runs": [
        "run_id",
        "job_name",
        "status",
        "created_at",
        "started_at",
        "ended_at",
        "duration_s",
        "root_run_id",
        "parent_run_id",
        "tags",
    ],
    "steps": ["run_id", "step_key", "status", "started_at", "ended_at", "duration_s", "attempts"],
    "materializations": ["run_id", "step_key", "asset_key", "at", "row_count"],
    "check_results": ["run_id", "asset_key", "check_name", "passed", "severity", "at"],
    "failures": [
        "run_id",
        "step_key",
        "error_class",
        "message",
        "failure_class",
        "retryable",
        "at",
    ],
}
_DT = "datetime64[us, UTC]"
_TYPES = {
    "created_at": _DT,
    "started_at": _DT,
    "ended_at": _DT,
    "at": _DT,
    "duration_s": "float64",
    "row_count": "Int64",
    "attempts": "Int64",
    "passed": "boolean",
}


@dataclass
class IngestResult:
    """What one ingestion did."""

    runs: int = 0
    events: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    cursor: float | None = None
    seconds: float = 0.0


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=TABLE_COLUMNS[table])
    for col in df.columns:  # explicit types: an all-empty column must not become type NULL
        dtype = _TYPES.get(col, "string")
        df[col] = pd.to_datetime(df[col], utc=True) if dtype == _DT else df[col].astype(dtype)
    return df


def read_cursor(warehouse: Warehouse) -> float | None:
    """The stored cursor, or None before the first ingestion."""
    if not warehouse.table_exists("ingest_cursor", schema=SCHEMA):
        return None
    df = warehouse.read_table("ingest_cursor", schema=SCHEMA)
    return float(df["updated_after"].iloc[0]) if len(df) else None


def run_rows(record: Any, events: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Table rows for one run from its record and its event log."""
    run = record.dagster_run
    rid = run.run_id
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLE_COLUMNS}
    start, end = record.start_time, record.end_time
    out["runs"].append(
        {
            "run_id": rid,
            "job_name": run.job_name,
            "status": run.status.value,
            "created_at": _ts(record.create_timestamp.timestamp()),
            "started_at": _ts(start),
            "ended_at": _ts(end),
            "duration_s": (end - start) if start and end else None,
            "root_run_id": run.root_run_id,
            "parent_run_id": run.parent_run_id,
            "tags": json.dumps(dict(run.tags), default=str),
        }
    )
    steps: dict[str, dict[str, Any]] = {}
    ET = dg.DagsterEventType
    for rec in events:
        ev = rec.dagster_event
        if ev is None:
            continue
        at = _ts(rec.timestamp)
        key = ev.step_key
        if ev.event_type in (ET.STEP_START, ET.STEP_RESTARTED):
            s = steps.setdefault(
                key,
                {
                    "run_id": rid,
                    "step_key": key,
                    "status": "STARTED",
                    "started_at": at,
                    "ended_at": None,
                    "attempts": 0,
                },
            )
            s["attempts"] += 1
        elif ev.event_type in (
            ET.STEP_SUCCESS,
            ET.STEP_FAILURE,
            ET.STEP_SKIPPED,
            ET.STEP_UP_FOR_RETRY,
        ):
            s = steps.setdefault(
                key, {"run_id": rid, "step_key": key, "started_at": None, "attempts": 0}
            )
            s["status"] = ev.event_type.value.replace("STEP_", "")
            s["ended_at"] = at
        if ev.event_type == ET.ASSET_MATERIALIZATION:
            mat = ev.event_specific_data.materialization
            rc = mat.metadata.get("row_count")
            out["materializations"].append(
                {
                    "run_id": rid,
                    "step_key": key,
                    "asset_key": mat.asset_key.to_user_string(),
                    "at": at,
                    "row_count": int(rc.value) if rc is not None else None,
                }
            )
        elif ev.event_type == ET.ASSET_CHECK_EVALUATION:
            chk = ev.event_specific_data
            out["check_results"].append(
                {
                    "run_id": rid,
                    "asset_key": chk.asset_key.to_user_string(),
                    "check_name": chk.check_name,
                    "passed": bool(chk.passed),
                    "severity": chk.severity.value,
                    "at": at,
                }
            )
        elif ev.event_type in (ET.STEP_FAILURE, ET.RUN_FAILURE):
            err = getattr(ev.event_specific_data, "error", None)
            # Dagster wraps user errors: the class that says what happened is the cause's.
            while err is not None and err.cause is not None and err.cls_name.startswith("Dagster"):
                err = err.cause
            error_class = (err.cls_name if err else None) or "unknown"
            message = ((err.message if err else ev.message) or "").strip()[:2000]
            kind = classify_failure(error_class, message)
            out["failures"].append(
                {
                    "run_id": rid,
                    "step_key": key,
                    "error_class": error_class,
                    "message": message,
                    "failure_class": kind.failure_class,
                    "retryable": kind.retryable,
                    "at": at,
                }
            )
    for s in steps.values():
        s["duration_s"] = (
            (s["ended_at"] - s["started_at"]).total_seconds()
            if s.get("ended_at") and s.get("started_at")
            else None
        )
        out["steps"].append(s)
    return out


def ingest(
    instance: dg.DagsterInstance, warehouse: Warehouse, *, page_size: int = 200
) -> IngestResult:
    """Ingest every run updated since the stored cursor; idempotent and incremental."""
    import time

    t0 = time.perf_counter()
    result = IngestResult()
    cursor = read_cursor(warehouse)
    after = _ts(cursor) if cursor else None
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(updated_after=after) if after else None,
            order_by="update_timestamp",
            ascending=True,
            limit=page_size,
        )
        records = [r for r in records if cursor is None or r.update_timestamp.timestamp() > cursor]
        if not records:
            break
        batch: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLE_COLUMNS}
        for rec in records:
            events = instance.all_logs(rec.dagster_run.run_id)
            result.events += len(events)
            for table, rows in run_rows(rec, events).items():
                batch[table].extend(rows)
        run_ids = [r.dagster_run.run_id for r in records]
        for table, rows in batch.items():
            warehouse.upsert_rows(
                table, _frame(table, rows), key="run_id", keys=run_ids, schema=SCHEMA
            )
            result.rows[table] = result.rows.get(table, 0) + len(rows)
        result.runs += len(records)
        cursor = max(r.update_timestamp.timestamp() for r in records)
        after = _ts(cursor)
        warehouse.write_table(
            "ingest_cursor", pd.DataFrame({"updated_after": [cursor]}), schema=SCHEMA
        )
        if len(records) < page_size:
            break
    result.cursor = cursor
    result.seconds = time.perf_counter() - t0
    return result
