"""Ingestion entry points: :func:`ingest` (runs updated since the stored cursor, page by page,
then the domain tables), :func:`ingest_agent_actions`, :func:`read_cursor` and
:class:`IngestResult`."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from orchestration_project.common.warehouse import TableStore as Warehouse
from orchestration_project.operations.run_metadata.consolidate import (
    _changed_keys,
    _write_consolidation,
)
from orchestration_project.operations.run_metadata.events import (
    can_read_by_storage_id,
    read_events_by_storage_id,
)
from orchestration_project.operations.run_metadata.rows import EVENT_TYPES, _read_events, run_rows
from orchestration_project.operations.run_metadata.schema import (
    CONSOLIDATED,
    SCHEMA,
    TABLE_COLUMNS,
    _instant,
    _micros,
    _ts,
)
from orchestration_project.operations.run_metadata.session import (
    _catalog,
    _cursor,
    _lit,
    _migrate,
    _outdated,
    _Session,
    _session,
)


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


def read_cursor(warehouse: Warehouse) -> float | None:
    """The stored cursor (epoch seconds of the last run update ingested), or None before the
    first ingestion."""
    with _session(warehouse, write=False, doing="reading the ingest cursor") as session:
        return _cursor(session, _catalog(session))


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
    page_size: int = 1000,
    lookback_s: float = 60.0,
    event_types: Collection[dg.DagsterEventType] | None = EVENT_TYPES,
    consolidate: bool = True,
    by_storage_id: bool | None = None,
) -> IngestResult:
    """Ingest every run updated since the stored cursor, then consolidate the domains' agent
    actions and fetch attempts; idempotent and incremental.

    Args:
        instance: the Dagster instance to read (only read, never written).
        warehouse: where the ``operations`` tables live.
        page_size: runs per page (one event-log query per page when reading by storage id;
            one write transaction per page on DuckDB and PostgreSQL).
        lookback_s: runs updated up to this long before the cursor are listed again (clock
            skew between writers); those already stored with the same update time are skipped.
        event_types: the event types read from each run's log; None reads the whole log (the
            slower path, kept for comparison).
        consolidate: also consolidate ``<schema>.agent_actions`` and ``<schema>.fetch_attempts``.
        by_storage_id: read a page's events with one query by storage id across its runs
            (:mod:`.events`) instead of one query per run. None (the default) does so whenever
            the event log is one SQL table (PostgreSQL, consolidated SQLite) and ``event_types``
            is given; True on a run-sharded log raises ``ValueError``.

    Returns:
        What was done (runs, events read, rows written per table, cursor, flags, domains).

    Raises:
        WarehouseError: the warehouse cannot be opened or read (e.g. a corrupt file); it names
            the warehouse. Nothing is written after the failure and the cursor is not advanced.
        WarehouseLockedError: another process held the warehouse beyond its lock timeout.
    """
    t0 = time.perf_counter()
    bulk = can_read_by_storage_id(instance) and event_types is not None
    if by_storage_id and not bulk:
        raise ValueError(
            "by_storage_id needs event_types and an event log kept in one SQL table "
            f"(this instance's is {type(instance.event_log_storage).__name__})"
        )
    bulk = bulk if by_storage_id is None else by_storage_id
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
    migrated = False  # the migrations are applied by the first write phase
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
        by_run = (
            read_events_by_storage_id(
                instance, [r.dagster_run.run_id for r in todo], event_types or (), stats=stats
            )
            if bulk and todo
            else None
        )
        for rec in todo:
            rid = rec.dagster_run.run_id
            events = by_run.get(rid, []) if by_run is not None else None
            if events is None:
                events = _read_events(instance, rid, event_types)
            result.events += len(events)
            for table, rows in run_rows(rec, events, stats=stats).items():
                batch[table].extend(rows)
        page_max = max(r.update_timestamp.timestamp() for r in records)
        if todo or outdated or cursor is None or page_max > cursor:
            run_ids = [r.dagster_run.run_id for r in todo]
            with _session(
                warehouse, write=True, doing="writing run metadata", migrate=not migrated
            ) as session:
                migrated = True
                _migrate(session, catalog, outdated)
                outdated = {}
                if todo:
                    for table, rows in batch.items():
                        session.upsert_rows(table, rows, "run_id", run_ids)
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
