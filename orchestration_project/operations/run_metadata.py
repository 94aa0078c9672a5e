"""Run metadata: incremental ingestion from the Dagster instance into warehouse tables.

Tables (schema ``operations``). The run tables are keyed by ``run_id``: a run's rows are
replaced as a whole whenever the run changes, so an ingestion is idempotent.

| table | one row per | columns |
|---|---|---|
| ``runs`` | run | run_id, job_name, status, created_at, started_at, ended_at, duration_s, root_run_id, parent_run_id, tags (JSON), updated_at, clock_skew |
| ``steps`` | step of a run | run_id, step_key, status, started_at, ended_at, duration_s, attempts, clock_skew |
| ``materializations`` | asset materialisation | run_id, step_key, asset_key, at, row_count |
| ``check_results`` | asset check evaluation | run_id, asset_key, check_name, passed, severity, at |
| ``failures`` | step or run failure | run_id, step_key, error_class, message, failure_class, retryable, at |
| ``agent_actions`` | agent action (tool call, message, decision) of any domain | domain, action_id, run_id, agent, role, kind, name, inputs, output, started_at, duration_s, cost_usd, outcome, error, route, task_id |
| ``fetch_attempts`` | fetch attempt (HTTP or browser route) of any domain | domain, id, crawl_id, url, site, route, outcome, status, size_bytes, latency_s, needs_javascript, reason, error, attempted_at |
| ``ingest_cursor`` | (one row) | updated_after: the largest run ``update_timestamp`` ingested (epoch seconds) |

Reading. Only the event types the tables need are read from each run's event log
(``EVENT_TYPES``: step start/restart/success/failure/skip/retry, asset materialisations,
asset check evaluations and run failures), not the whole log.

Cursor. Runs updated after ``cursor - lookback_s`` are listed (``lookback_s`` absorbs clock
skew between the processes that write run updates); a listed run is re-ingested only if its
``update_timestamp`` differs from the ``updated_at`` already stored, so a re-ingestion with
nothing new reads no events and writes nothing. The cursor is written after a page's tables:
an ingestion that fails midway (a locked or broken warehouse) leaves the cursor behind and the
next ingestion replaces those runs again — nothing is lost and nothing is duplicated.

Bad metadata. A run that never started has NULL ``started_at``/``duration_s``. Events of a
step type without a step key, and events whose payload cannot be read, are skipped and counted
(``IngestResult.malformed_events``); a materialisation without a step key keeps a NULL
``step_key``; a failure without an error object gets ``error_class = 'unknown'`` and the
event's message. Clock skew: when an end precedes its start (run or step), the row is flagged
``clock_skew = true`` and its ``duration_s`` is NULL — durations are never negative — and the
rows are counted (``IngestResult.clock_skew``). Step times are the earliest start and the latest
end event, and the step's status follows the storage order of the events, whatever their clocks.

Agent actions and fetch attempts. Every domain that records agent actions writes them to its
own ``<schema>.agent_actions`` table (e.g. ``market_research``, see
``orchestration_project.agents.runtime.AgentAction``), and its fetch attempts to
``<schema>.fetch_attempts``. Ingestion consolidates all of them into ``operations`` with a
``domain`` column (the source schema), incrementally: per source key (``run_id`` for actions,
``crawl_id`` for attempts; NULL keys become ``''``) it compares a row count and the latest
timestamp with what is consolidated and copies only the keys that changed. Source columns not
listed above are dropped; missing ones are NULL. Sources are found through
``information_schema.columns``, which DuckDB and PostgreSQL both provide.

Warehouse access. On DuckDB an ingestion opens the file once to read its state (catalog,
cursor, stored update times, domain fingerprints: a re-ingestion with nothing new opens it only
this once, read-only) and once per page of runs to write, in one transaction: the page's tables
and the cursor are committed together or not at all. Opening the file costs more than the small
writes themselves, so this is where most of the time went. Other warehouses (PostgreSQL) go
through the ``Warehouse`` API, one transaction per table write, with the cursor written last —
a failed page is redone by the next ingestion. The SQL used (``information_schema.columns``,
``CAST(... AS VARCHAR)``, ``TIMESTAMPTZ`` literals, no bound parameters) is meant to run on both;
only DuckDB is exercised by the tests.

Errors. A warehouse that cannot be opened or read (a corrupt file) raises ``WarehouseError``
naming it, before anything is written; a warehouse held by another writer for longer than its
lock timeout raises ``WarehouseLockedError``. Either way the cursor is not advanced and a later
ingestion catches up. Ingestion only reads the Dagster instance. Runs deleted from the instance
keep their rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from orchestration_project.agents.runtime import AgentAction
from orchestration_project.common.warehouse import FileTableStore, WarehouseError, location_of
from orchestration_project.common.warehouse import TableStore as Warehouse
from orchestration_project.operations.failures import classify_failure, root_error

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

ET = dg.DagsterEventType
_STEP_STARTS = frozenset({ET.STEP_START, ET.STEP_RESTARTED})
_STEP_ENDS = frozenset({ET.STEP_SUCCESS, ET.STEP_FAILURE, ET.STEP_SKIPPED, ET.STEP_UP_FOR_RETRY})
EVENT_TYPES: frozenset[dg.DagsterEventType] = (
    _STEP_STARTS
    | _STEP_ENDS
    | {ET.ASSET_MATERIALIZATION, ET.ASSET_CHECK_EVALUATION, ET.RUN_FAILURE}
)

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


@dataclass
class IngestResult:
    """What one ingestion did.

    Attributes:
        runs: runs (re-)ingested.
        events: event-log entries read.
        rows: rows written per ``operations`` table (run tables and consolidated tables).
        cursor: the stored cursor afterwards (epoch seconds of the last run update ingested).
        seconds: wall time.
        clock_skew: run and step rows flagged ``clock_skew`` (end before start).
        malformed_events: events skipped because a field they need was missing or unreadable.
        domains: schemas whose agent actions or fetch attempts were consolidated.
    """

    runs: int = 0
    events: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    cursor: float | None = None
    seconds: float = 0.0
    clock_skew: int = 0
    malformed_events: int = 0
    domains: list[str] = field(default_factory=list)


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


def _where(warehouse: Warehouse) -> str:
    return location_of(warehouse)


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        import duckdb

        errors.append(duckdb.Error)
    except ImportError:  # pragma: no cover - duckdb is a dependency
        pass
    try:
        import sqlalchemy.exc

        errors.append(sqlalchemy.exc.SQLAlchemyError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


@contextmanager
def _clear_errors(warehouse: Warehouse, doing: str) -> Iterator[None]:
    """Turn a driver's error (e.g. DuckDB's 'Corrupt database file') into a WarehouseError
    that names the warehouse and says what was being done."""
    try:
        yield
    except WarehouseError:
        raise
    except _driver_errors() as exc:
        raise WarehouseError(
            f"{_where(warehouse)}: {doing} failed ({type(exc).__name__}: {exc}); nothing after "
            "this point was written and the ingest cursor was not advanced. If the file is "
            "corrupt, move it aside: the next ingestion rebuilds the operations tables from "
            "the Dagster instance."
        ) from exc


def _lit(value: str) -> str:
    """A SQL string literal (the warehouses' ``query`` takes no parameters on PostgreSQL)."""
    return "'" + str(value).replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_DUCK_TYPES = {
    _DT: "TIMESTAMPTZ",
    "float64": "DOUBLE",
    "Int64": "BIGINT",
    "boolean": "BOOLEAN",
    "string": "VARCHAR",
}


class _Session:
    """Warehouse operations for one phase of an ingestion, through the ``Warehouse`` API (each
    operation its own connection and transaction: PostgreSQL or any other warehouse)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def query(self, sql: str) -> pd.DataFrame:
        return self.warehouse.query(sql)

    def upsert(self, table: str, df: pd.DataFrame, key: str, keys: list[str]) -> int:
        return self.warehouse.upsert_rows(table, df, key=key, keys=keys, schema=SCHEMA)

    def write_cursor(self, value: float) -> None:
        self.warehouse.write_table(
            CURSOR_TABLE, pd.DataFrame({"updated_after": [float(value)]}), schema=SCHEMA
        )

    def add_columns(self, table: str, columns: list[str]) -> None:
        old = self.warehouse.read_table(table, schema=SCHEMA)
        for col in columns:
            if col not in old.columns:
                old[col] = None
        self.warehouse.write_table(
            table, _frame(table, old.to_dict("records"), columns), schema=SCHEMA
        )


class _DuckSession(_Session):
    """The same operations on one DuckDB connection: one open of the file per phase instead
    of one per operation (opening dominates the cost of small writes), and a write phase that
    is one transaction — a page's tables and the cursor are committed together or not at all."""

    def __init__(self, warehouse: Warehouse, conn: Any) -> None:
        super().__init__(warehouse)
        self.conn = conn
        self._n = 0

    def query(self, sql: str) -> pd.DataFrame:
        return self.conn.execute(sql).df()

    def upsert(self, table: str, df: pd.DataFrame, key: str, keys: list[str]) -> int:
        self._n += 1
        inc, ks = f"_incoming_{self._n}", f"_keys_{self._n}"
        self.conn.register(inc, df)
        self.conn.register(ks, pd.DataFrame({"k": pd.Series(list(keys), dtype="string")}))
        try:
            target = f'"{SCHEMA}".{_quote(table)}'
            self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {inc} LIMIT 0")
            if keys:
                self.conn.execute(
                    f"DELETE FROM {target} WHERE {_quote(key)} IN (SELECT k FROM {ks})"
                )
            self.conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {inc}")
        finally:
            self.conn.unregister(inc)
            self.conn.unregister(ks)
        return len(df)

    def write_cursor(self, value: float) -> None:
        self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        self.conn.execute(
            f'CREATE OR REPLACE TABLE "{SCHEMA}"."{CURSOR_TABLE}" AS '
            "SELECT CAST(? AS DOUBLE) AS updated_after",
            [float(value)],
        )

    def add_columns(self, table: str, columns: list[str]) -> None:
        have = set(self.query(f'SELECT * FROM "{SCHEMA}".{_quote(table)} LIMIT 0').columns)
        types = {**_TYPES, **_TABLE_TYPES.get(table, {})}
        for col in columns:
            if col not in have:
                sql_type = _DUCK_TYPES[types.get(col, "string")]
                self.conn.execute(
                    f'ALTER TABLE "{SCHEMA}".{_quote(table)} ADD COLUMN {_quote(col)} {sql_type}'
                )


@contextmanager
def _session(warehouse: Warehouse, *, write: bool, doing: str) -> Iterator[_Session]:
    """A session for one phase; a write phase on DuckDB is a single transaction."""
    with _clear_errors(warehouse, doing):
        if not isinstance(warehouse, FileTableStore):
            yield _Session(warehouse)
            return
        with warehouse.connect(read_only=not write) as conn:
            if not write:
                yield _DuckSession(warehouse, conn)
                return
            conn.execute("BEGIN")
            yield _DuckSession(warehouse, conn)
            conn.execute("COMMIT")  # an exception leaves the transaction to roll back on close


def _catalog(session: _Session) -> dict[tuple[str, str], list[str]]:
    """Columns of the tables ingestion cares about: ``{(schema, table): [columns]}``."""
    names = [*TABLE_COLUMNS, CURSOR_TABLE, *CONSOLIDATED]
    df = session.query(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_name IN ({', '.join(_lit(n) for n in names)}) "
        "ORDER BY table_schema, table_name, ordinal_position"
    )
    out: dict[tuple[str, str], list[str]] = {}
    for s, t, c in df[["table_schema", "table_name", "column_name"]].itertuples(index=False):
        out.setdefault((str(s), str(t)), []).append(str(c))
    return out


def _outdated(
    catalog: dict[tuple[str, str], list[str]], tables: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Tables written by an older version of this module that lack columns now written."""
    return {
        t: cols
        for t, cols in tables.items()
        if (SCHEMA, t) in catalog and not set(cols) <= set(catalog[(SCHEMA, t)])
    }


def _migrate(session: _Session, catalog: dict, outdated: dict[str, list[str]]) -> None:
    """Add the missing columns (rows kept), so that inserts by name keep working."""
    for table, columns in outdated.items():
        session.add_columns(table, columns)
        catalog[(SCHEMA, table)] = list(dict.fromkeys([*catalog[(SCHEMA, table)], *columns]))


def _cursor(session: _Session, catalog: dict) -> float | None:
    if (SCHEMA, CURSOR_TABLE) not in catalog:
        return None
    df = session.query(f'SELECT updated_after FROM "{SCHEMA}"."{CURSOR_TABLE}"')
    return float(df["updated_after"].iloc[0]) if len(df) else None


def read_cursor(warehouse: Warehouse) -> float | None:
    """The stored cursor (epoch seconds of the last run update ingested), or None before the
    first ingestion."""
    with _session(warehouse, write=False, doing="reading the ingest cursor") as session:
        return _cursor(session, _catalog(session))


def _entry(item: Any) -> Any:
    """An EventLogEntry from an entry or an EventLogRecord."""
    return getattr(item, "event_log_entry", item)


def _failure_row(rid: str, key: str | None, ev: Any, at: datetime | None) -> dict[str, Any]:
    # Dagster wraps user errors: the class that says what happened is the cause's.
    err = root_error(getattr(ev.event_specific_data, "error", None))
    error_class = (getattr(err, "cls_name", None) if err else None) or "unknown"
    message = ((getattr(err, "message", None) if err else None) or ev.message or "").strip()
    message = message[:2000]
    kind = classify_failure(error_class, message)
    return {
        "run_id": rid,
        "step_key": key,
        "error_class": error_class,
        "message": message,
        "failure_class": kind.failure_class,
        "retryable": kind.retryable,
        "at": at,
    }


def _skewed(start: datetime | None, end: datetime | None) -> tuple[float | None, bool]:
    """(duration in seconds or None, clock_skew): never a negative duration."""
    if start is None or end is None:
        return None, False
    seconds = (end - start).total_seconds()
    return (None, True) if seconds < 0 else (seconds, False)


def run_rows(
    record: Any, events: list[Any], *, stats: dict[str, int] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Table rows for one run from its run record and its event log entries (or records).

    Args:
        record: a ``RunRecord`` (``instance.get_run_records``).
        events: the run's ``EventLogEntry`` objects (or ``EventLogRecord``s) in storage order;
            events of types not in ``EVENT_TYPES`` are ignored.
        stats: optional counters, incremented in place: ``malformed_events``, ``clock_skew``.

    Returns:
        ``{table: [row, ...]}`` for every table of ``TABLE_COLUMNS``.
    """
    stats = stats if stats is not None else {}
    stats.setdefault("malformed_events", 0)
    stats.setdefault("clock_skew", 0)
    run = record.dagster_run
    rid = run.run_id
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLE_COLUMNS}
    started, ended = _ts(record.start_time), _ts(record.end_time)
    duration, skew = _skewed(started, ended)
    stats["clock_skew"] += int(skew)
    created = getattr(record, "create_timestamp", None)
    updated = getattr(record, "update_timestamp", None)
    out["runs"].append(
        {
            "run_id": rid,
            "job_name": run.job_name,
            "status": run.status.value if run.status is not None else None,
            "created_at": created,
            "started_at": started,
            "ended_at": ended,
            "duration_s": duration,
            "root_run_id": run.root_run_id,
            "parent_run_id": run.parent_run_id,
            "tags": json.dumps(dict(run.tags or {}), default=str),
            "updated_at": updated,
            "clock_skew": skew,
        }
    )
    steps: dict[str, dict[str, Any]] = {}
    for item in events:
        entry = _entry(item)
        ev = entry.dagster_event
        if ev is None or ev.event_type not in EVENT_TYPES:
            continue
        try:
            at = _ts(entry.timestamp)
            key = ev.step_key
            etype = ev.event_type
            if etype in _STEP_STARTS or etype in _STEP_ENDS:
                if not key:
                    stats["malformed_events"] += 1
                    continue
                s = steps.setdefault(
                    key,
                    {
                        "run_id": rid,
                        "step_key": key,
                        "status": None,
                        "starts": [],
                        "ends": [],
                        "attempts": 0,
                    },
                )
                if etype in _STEP_STARTS:
                    s["attempts"] += 1
                    s["starts"].append(at)
                    s["status"] = s["status"] or "STARTED"
                else:  # the last end event in storage order says how the step finished
                    s["status"] = etype.value.replace("STEP_", "")
                    s["ends"].append(at)
            if etype == ET.ASSET_MATERIALIZATION:
                mat = ev.event_specific_data.materialization
                rc = (mat.metadata or {}).get("row_count")
                out["materializations"].append(
                    {
                        "run_id": rid,
                        "step_key": key,
                        "asset_key": mat.asset_key.to_user_string(),
                        "at": at,
                        "row_count": int(rc.value) if rc is not None else None,
                    }
                )
            elif etype == ET.ASSET_CHECK_EVALUATION:
                chk = ev.event_specific_data
                severity = getattr(chk, "severity", None)
                passed = getattr(chk, "passed", None)
                out["check_results"].append(
                    {
                        "run_id": rid,
                        "asset_key": chk.asset_key.to_user_string(),
                        "check_name": chk.check_name,
                        "passed": bool(passed) if passed is not None else None,
                        "severity": severity.value if severity is not None else None,
                        "at": at,
                    }
                )
            elif etype in (ET.STEP_FAILURE, ET.RUN_FAILURE):
                out["failures"].append(_failure_row(rid, key, ev, at))
        except (AttributeError, TypeError, ValueError, KeyError):
            stats["malformed_events"] += 1
    for s in steps.values():
        starts = [t for t in s.pop("starts") if t is not None]
        ends = [t for t in s.pop("ends") if t is not None]
        s["started_at"] = min(starts) if starts else None
        s["ended_at"] = max(ends) if ends else None
        s["duration_s"], s["clock_skew"] = _skewed(s["started_at"], s["ended_at"])
        stats["clock_skew"] += int(s["clock_skew"])
        out["steps"].append(s)
    return out


def _read_events(
    instance: dg.DagsterInstance,
    run_id: str,
    event_types: Collection[dg.DagsterEventType] | None,
    page: int = 5000,
) -> list[Any]:
    """The run's event log entries of ``event_types`` (all if None), in storage order."""
    of_type = set(event_types) if event_types is not None else None
    entries: list[Any] = []
    cursor = None
    while True:
        conn = instance.get_records_for_run(run_id, cursor=cursor, of_type=of_type, limit=page)
        entries.extend(r.event_log_entry for r in conn.records)
        if not conn.has_more:
            return entries
        cursor = conn.cursor


def _stored_updates(session: _Session, since: float, catalog: dict) -> dict[str, int | None]:
    """``{run_id: updated_at in µs}`` of stored runs updated since ``since`` (or not known)."""
    cols = catalog.get((SCHEMA, "runs"))
    if not cols or "updated_at" not in cols:
        return {}
    since_iso = datetime.fromtimestamp(since, UTC).isoformat()
    df = session.query(
        f'SELECT run_id, CAST(updated_at AS VARCHAR) AS updated_at FROM "{SCHEMA}"."runs" '
        f"WHERE updated_at IS NULL OR updated_at >= CAST({_lit(since_iso)} AS TIMESTAMPTZ)"
    )
    return {str(r): _instant(u) for r, u in df[["run_id", "updated_at"]].itertuples(index=False)}


def _key_expr(spec: _Consolidated, cols: list[str]) -> str:
    return f"COALESCE(CAST({_quote(spec.key)} AS VARCHAR), '')" if spec.key in cols else "''"


def _changed_keys(
    session: _Session, spec: _Consolidated, catalog: dict[tuple[str, str], list[str]]
) -> tuple[list[str], list[str]]:
    """(keys whose rows differ between the sources and ``operations``, source schemas)."""
    sources = sorted(s for (s, t) in catalog if t == spec.table and s != SCHEMA)
    ops_cols = catalog.get((SCHEMA, spec.table))
    if not sources and not ops_cols:
        return [], []

    def ts_expr(cols: list[str]) -> str:
        return f"CAST(max({_quote(spec.ts)}) AS VARCHAR)" if spec.ts in cols else "NULL"

    parts = [
        f"SELECT 'src' AS side, {_lit(s)} AS domain, "
        f"{_key_expr(spec, catalog[(s, spec.table)])} AS k, count(*) AS n, "
        f"{ts_expr(catalog[(s, spec.table)])} AS last "
        f'FROM {_quote(s)}."{spec.table}" GROUP BY 3'
        for s in sources
    ]
    if ops_cols:
        parts.append(
            f"SELECT 'ops' AS side, domain, {_key_expr(spec, ops_cols)} AS k, count(*) AS n, "
            f'{ts_expr(ops_cols)} AS last FROM "{SCHEMA}"."{spec.table}" GROUP BY 2, 3'
        )
    stats = session.query(" UNION ALL ".join(parts))
    fingerprints: dict[str, dict[tuple[str, str], tuple[int, Any]]] = {"src": {}, "ops": {}}
    for side, domain, k, n, last in stats.itertuples(index=False):
        # Timestamps compare as instants: a naive source column is read as UTC, as it is when
        # copied; an unparseable one compares as its text.
        fingerprints[side][(str(domain), str(k))] = (int(n), _instant(last))
    src, ops = fingerprints["src"], fingerprints["ops"]
    changed = {dk[1] for dk in set(src) | set(ops) if src.get(dk) != ops.get(dk)}
    return sorted(changed), sources


def _copy_keys(
    session: _Session,
    spec: _Consolidated,
    catalog: dict[tuple[str, str], list[str]],
    keys: list[str],
) -> int:
    """Replace the ``operations`` rows of ``keys`` by the sources' rows; return rows written."""
    sources = sorted(s for (s, t) in catalog if t == spec.table and s != SCHEMA)
    frames = []
    for i in range(0, len(keys), 500):
        chunk = ", ".join(_lit(k) for k in keys[i : i + 500])
        selects = []
        for s in sources:
            cols = catalog[(s, spec.table)]
            exprs = [f"{_lit(s)} AS domain"]
            for col in spec.columns[1:]:
                if col == spec.key:
                    exprs.append(f"{_key_expr(spec, cols)} AS {_quote(col)}")
                else:
                    exprs.append(_quote(col) if col in cols else f"NULL AS {_quote(col)}")
            selects.append(
                f'SELECT {", ".join(exprs)} FROM {_quote(s)}."{spec.table}" '
                f"WHERE {_key_expr(spec, cols)} IN ({chunk})"
            )
        if selects:
            frames.append(session.query(" UNION ALL ".join(selects)))
    frames = [f for f in frames if len(f)]
    rows = pd.concat(frames, ignore_index=True).to_dict("records") if frames else []
    return session.upsert(spec.table, _frame(spec.table, rows, spec.columns), spec.key, keys)


def _write_consolidation(
    warehouse: Warehouse,
    catalog: dict[tuple[str, str], list[str]],
    plans: dict[str, tuple[list[str], list[str]]],
) -> dict[str, int]:
    """Copy the changed keys of each planned table (one write transaction on DuckDB; none at
    all when nothing changed); return rows written per table."""
    outdated = _outdated(catalog, {t: CONSOLIDATED[t].columns for t in plans})
    written: dict[str, int] = {}
    if not any(keys for keys, _ in plans.values()) and not outdated:
        return written
    with _session(warehouse, write=True, doing="consolidating domain tables") as session:
        _migrate(session, catalog, outdated)
        for table, (keys, _) in plans.items():
            if keys:
                written[table] = _copy_keys(session, CONSOLIDATED[table], catalog, keys)
    return written


def ingest_agent_actions(warehouse: Warehouse) -> int:
    """Consolidate every ``<schema>.agent_actions`` table into ``operations.agent_actions``
    (with a ``domain`` column), copying only the runs whose actions changed.

    Returns:
        The rows written (0 when nothing changed).

    Raises:
        WarehouseError: the warehouse cannot be opened or read; it names the warehouse.
    """
    with _session(warehouse, write=False, doing="comparing agent actions") as session:
        catalog = _catalog(session)
        plans = {"agent_actions": _changed_keys(session, CONSOLIDATED["agent_actions"], catalog)}
    return _write_consolidation(warehouse, catalog, plans).get("agent_actions", 0)


def ingest(
    instance: dg.DagsterInstance,
    warehouse: Warehouse,
    *,
    page_size: int = 200,
    lookback_s: float = 60.0,
    event_types: Collection[dg.DagsterEventType] | None = EVENT_TYPES,
    consolidate: bool = True,
) -> IngestResult:
    """Ingest every run updated since the stored cursor, then consolidate the domains' agent
    actions and fetch attempts; idempotent and incremental.

    Args:
        instance: the Dagster instance to read (only read, never written).
        warehouse: where the ``operations`` tables live.
        page_size: runs per page (one write transaction per page on DuckDB).
        lookback_s: runs updated up to this long before the cursor are listed again (clock
            skew between writers); those already stored with the same update time are skipped.
        event_types: the event types read from each run's log; None reads the whole log (the
            slower path, kept for comparison).
        consolidate: also consolidate ``<schema>.agent_actions`` and ``<schema>.fetch_attempts``.

    Returns:
        What was done (runs, events read, rows written per table, cursor, flags, domains).

    Raises:
        WarehouseError: the warehouse cannot be opened or read (e.g. a corrupt file); it names
            the warehouse. Nothing is written after the failure and the cursor is not advanced.
        WarehouseLockedError: another process held the warehouse beyond its lock timeout.
    """
    t0 = time.perf_counter()
    result = IngestResult()
    stats = {"malformed_events": 0, "clock_skew": 0}
    plans: dict[str, tuple[list[str], list[str]]] = {}
    with _session(warehouse, write=False, doing="reading the ingest state") as session:
        catalog = _catalog(session)
        cursor = _cursor(session, catalog)
        since = (cursor - lookback_s) if cursor is not None else None
        stored = _stored_updates(session, since, catalog) if since is not None else {}
        if consolidate:
            plans = {t: _changed_keys(session, s, catalog) for t, s in CONSOLIDATED.items()}
    outdated = _outdated(catalog, TABLE_COLUMNS)
    seen: set[str] = set()
    after = _ts(since) if since is not None else None
    limit = page_size
    while True:
        records = instance.get_run_records(
            filters=dg.RunsFilter(updated_after=after) if after else None,
            order_by="update_timestamp",
            ascending=True,
            limit=limit,
        )
        if not records:
            break
        fresh = [r for r in records if r.dagster_run.run_id not in seen]
        seen.update(r.dagster_run.run_id for r in records)
        if not fresh and len(records) == limit:
            limit *= 2  # a whole page of runs with one update time: widen the page
            continue
        todo = [
            r for r in fresh if stored.get(r.dagster_run.run_id, -1) != _micros(r.update_timestamp)
        ]
        batch: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLE_COLUMNS}
        for rec in todo:
            events = _read_events(instance, rec.dagster_run.run_id, event_types)
            result.events += len(events)
            for table, rows in run_rows(rec, events, stats=stats).items():
                batch[table].extend(rows)
        page_max = max(r.update_timestamp.timestamp() for r in records)
        if todo or outdated or cursor is None or page_max > cursor:
            run_ids = [r.dagster_run.run_id for r in todo]
            with _session(warehouse, write=True, doing="writing run metadata") as session:
                _migrate(session, catalog, outdated)
                outdated = {}
                if todo:
                    for table, rows in batch.items():
                        session.upsert(table, _frame(table, rows), "run_id", run_ids)
                        result.rows[table] = result.rows.get(table, 0) + len(rows)
                cursor = max(page_max, cursor) if cursor is not None else page_max
                session.write_cursor(cursor)
            result.runs += len(todo)
        if len(records) < limit:
            break
        # Ties at the page boundary are listed again (and skipped, being in ``seen``).
        after = max(r.update_timestamp for r in records) - timedelta(microseconds=1)
        limit = page_size
    if consolidate:
        result.domains = sorted({s for _, sources in plans.values() for s in sources})
        result.rows.update(_write_consolidation(warehouse, catalog, plans))
    result.cursor = cursor
    result.clock_skew = stats["clock_skew"]
    result.malformed_events = stats["malformed_events"]
    result.seconds = time.perf_counter() - t0
    return result
