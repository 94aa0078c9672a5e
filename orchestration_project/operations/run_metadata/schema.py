"""The ``operations`` tables of run metadata: names and columns (run tables, consolidated
domain tables, the cursor table), column types, and the value conversions that turn rows into
typed frames (timestamps as UTC datetimes or integer microseconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from orchestration_project.agents.runtime import AgentAction

SCHEMA = "operations"
CURSOR_TABLE = "ingest_cursor"
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
        "updated_at",
        "clock_skew",
    ],
    "steps": [
        "run_id",
        "step_key",
        "status",
        "started_at",
        "ended_at",
        "duration_s",
        "attempts",
        "clock_skew",
    ],
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
ACTION_COLUMNS = ["domain", *AgentAction.__dataclass_fields__]
FETCH_ATTEMPT_COLUMNS = [
    "domain",
    "id",
    "crawl_id",
    "url",
    "site",
    "route",
    "outcome",
    "status",
    "size_bytes",
    "latency_s",
    "needs_javascript",
    "reason",
    "error",
    "attempted_at",
]


@dataclass(frozen=True)
class _Consolidated:
    """A per-domain table copied into ``operations`` with a ``domain`` column."""

    table: str
    key: str  # the source column whose rows are replaced together
    ts: str  # the timestamp column compared to detect a change
    columns: list[str]


CONSOLIDATED = {
    "agent_actions": _Consolidated("agent_actions", "run_id", "started_at", ACTION_COLUMNS),
    "fetch_attempts": _Consolidated(
        "fetch_attempts", "crawl_id", "attempted_at", FETCH_ATTEMPT_COLUMNS
    ),
}


_DT = "datetime64[us, UTC]"
_TYPES = {
    "created_at": _DT,
    "started_at": _DT,
    "ended_at": _DT,
    "updated_at": _DT,
    "attempted_at": _DT,
    "at": _DT,
    "duration_s": "float64",
    "cost_usd": "float64",
    "latency_s": "float64",
    "row_count": "Int64",
    "attempts": "Int64",
    "id": "Int64",
    "size_bytes": "Int64",
    "passed": "boolean",
    "retryable": "boolean",
    "clock_skew": "boolean",
    "needs_javascript": "boolean",
}
# Same column name, different type per table.
_TABLE_TYPES = {"fetch_attempts": {"status": "Int64"}}


_DUCK_TYPES = {
    _DT: "TIMESTAMPTZ",
    "float64": "DOUBLE",
    "Int64": "BIGINT",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
}


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _micros(value: Any) -> int | None:
    """A timestamp (datetime, pandas Timestamp or epoch float) as integer microseconds."""
    if value is None or (not isinstance(value, datetime) and pd.isna(value)):
        return None
    if isinstance(value, int | float):
        return round(value * 1e6)
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        return None
    ts = ts.tz_localize(UTC) if ts.tzinfo is None else ts
    return int(ts.value // 1000)  # exact: nanoseconds since the epoch, UTC


def _instant(value: Any) -> int | str | None:
    """A timestamp rendered as text (``CAST(... AS VARCHAR)``) as µs since the epoch (UTC)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    try:
        return _micros(pd.Timestamp(str(value)))
    except (ValueError, TypeError):
        return str(value)


def _missing(value: Any) -> bool:
    return value is None or (
        isinstance(value, float | type(pd.NA) | type(pd.NaT)) and pd.isna(value)
    )


def _frame(
    table: str, rows: list[dict[str, Any]], columns: list[str] | None = None
) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns or TABLE_COLUMNS[table])
    types = {**_TYPES, **_TABLE_TYPES.get(table, {})}
    for col in df.columns:  # explicit types: an all-empty column must not become type NULL
        dtype = types.get(col, "string")
        if dtype == _DT:
            df[col] = pd.to_datetime(df[col], utc=True, errors="coerce").astype(_DT)
        elif dtype == "boolean":
            df[col] = df[col].map(lambda v: pd.NA if _missing(v) else bool(v)).astype("boolean")
        elif dtype == "string":
            df[col] = df[col].map(lambda v: None if _missing(v) else str(v)).astype("string")
        else:
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(dtype)
    return df
