"""Turning a run's record and Dagster event-log entries into ``operations`` table rows
(runs, steps, materializations, check results, failures), reading only ``EVENT_TYPES``."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import dagster as dg

from orchestration_project.operations.failures import classify_failure, root_error
from orchestration_project.operations.run_metadata.events import ColumnEntry
from orchestration_project.operations.run_metadata.schema import TABLE_COLUMNS, _ts

ET = dg.DagsterEventType
_STEP_STARTS = frozenset({ET.STEP_START, ET.STEP_RESTARTED})
_STEP_ENDS = frozenset({ET.STEP_SUCCESS, ET.STEP_FAILURE, ET.STEP_SKIPPED, ET.STEP_UP_FOR_RETRY})
EVENT_TYPES: frozenset[dg.DagsterEventType] = (
    _STEP_STARTS
    | _STEP_ENDS
    | {ET.ASSET_MATERIALIZATION, ET.ASSET_CHECK_EVALUATION, ET.RUN_FAILURE}
)


def _entry(item: Any) -> Any:
    """An EventLogEntry (or ``ColumnEntry``) from an entry or an EventLogRecord."""
    return getattr(item, "event_log_entry", item)


def _at(entry: Any) -> datetime | None:
    """When the entry was logged (UTC): a ``ColumnEntry`` carries it already converted."""
    if type(entry) is ColumnEntry:
        return entry.at
    return _ts(entry.timestamp)


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
        events: the run's ``EventLogEntry`` objects (or ``EventLogRecord``s, or the
            ``ColumnEntry`` objects of :mod:`.events`) in storage order; events of types not in
            ``EVENT_TYPES`` are ignored.
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
            at = _at(entry)
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
            fields = entry.fields if type(entry) is ColumnEntry else ()
            if etype == ET.ASSET_MATERIALIZATION and fields:
                out["materializations"].append(
                    {
                        "run_id": rid,
                        "step_key": key,
                        "asset_key": fields[0],
                        "at": at,
                        "row_count": fields[1],
                    }
                )
            elif etype == ET.ASSET_CHECK_EVALUATION and fields:
                asset_key, check_name, passed, severity = fields
                out["check_results"].append(
                    {
                        "run_id": rid,
                        "asset_key": asset_key,
                        "check_name": check_name,
                        "passed": bool(passed) if passed is not None else None,
                        "severity": severity,
                        "at": at,
                    }
                )
            elif etype == ET.ASSET_MATERIALIZATION:
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
