"""Reading the event logs of many runs at once, by storage id, from a Dagster event log kept in
one SQL table (PostgreSQL, MySQL, consolidated SQLite).

The per-run path (:func:`orchestration_project.operations.run_metadata.rows._read_events`) asks
the instance for each run's log: one query per run, and every entry deserialised from its JSON.
Here one query serves a whole page of runs — ``run_id IN (page) AND dagster_event_type IN
(types)``, keyset-paged by storage id (``id > last``) on the ``(run_id, id)`` index — so the cost
follows the events of the runs that changed, not the number of runs. Events come back in storage
order, as the per-run path returns them, so the rows built from them are the same.

Step start/restart/success/skip/retry events give a step row nothing beyond their type, step
key and timestamp, which the event log keeps in columns of its own (written from the same
event, see ``SqlEventLogStorage._event_to_row``): they are read from the columns as
:class:`ColumnEntry`, their JSON never fetched. Materialisations and check evaluations need a
few payload fields (asset key, ``row_count``; check name, passed, severity): those are read
from the JSON with ``json.loads`` instead of rebuilding Dagster's objects, which took most of
the time; step and run failures likewise give their message and error chain (class, message,
cause: what failure classification reads). A payload in any other shape is deserialised fully. A payload that cannot be deserialised is
skipped and counted (``malformed_events``) instead of failing the run's ingestion.

A run-sharded event log (Dagster's default SQLite storage: one database per run, storage ids
per run) has no table to read across runs: :func:`can_read_by_storage_id` says so and ingestion
keeps the per-run path.

Dagster's public API has no query for several runs' events by type: ``get_records_for_run``
takes one run, ``get_logs_for_all_runs_by_log_id`` takes no run filter (and warns on several
event types), ``fetch_materializations`` & co. cover one type each and no step events. So this
module reads the ``event_logs`` table through its SQLAlchemy definition
(``dagster._core.storage.event_log.schema.SqlEventLogStorageTable``) on the storage's own
``index_connection()``, as the storage's own queries do. These are Dagster internals: the tests
exercise them against PostgreSQL and consolidated SQLite, so an upgrade that changes them fails
there first.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

ET = dg.DagsterEventType
PAYLOAD_TYPES: frozenset[dg.DagsterEventType] = frozenset(
    {ET.ASSET_MATERIALIZATION, ET.ASSET_CHECK_EVALUATION, ET.STEP_FAILURE, ET.RUN_FAILURE}
)
"""Event types whose rows need the event's payload (deserialised); the others are read from
the event log's columns."""

_TYPES_BY_VALUE = {t.value: t for t in ET}


@dataclass(frozen=True, slots=True)
class ColumnEvent:
    """The part of a ``DagsterEvent`` a row needs, read from the event log's columns (and,
    for a failure, its error chain and message from the JSON)."""

    event_type: dg.DagsterEventType
    step_key: str | None
    event_specific_data: Any = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class LightError:
    """What failure classification reads of a ``SerializableErrorInfo``."""

    cls_name: str | None
    message: str | None
    cause: LightError | None


@dataclass(frozen=True, slots=True)
class LightFailure:
    """What a failure row reads of ``StepFailureData`` / ``JobFailureData``."""

    error: LightError | None


# JobFailureData is stored under its old name.
_FAILURE_DATA = frozenset({"StepFailureData", "JobFailureData", "PipelineFailureData"})


def _light_error(err: Any, depth: int = 0) -> LightError | None:
    """A serialised ``SerializableErrorInfo`` (None stays None); ValueError if not one."""
    if err is None:
        return None
    if not isinstance(err, dict) or err.get("__class__") != "SerializableErrorInfo" or depth > 50:
        raise ValueError("not a SerializableErrorInfo")
    cls_name, message = err.get("cls_name"), err.get("message")
    if not isinstance(cls_name, str | None) or not isinstance(message, str | None):
        raise ValueError("unexpected error fields")
    return LightError(cls_name, message, _light_error(err.get("cause"), depth + 1))


def _fast_failure(body: str) -> tuple[LightFailure, str | None] | None:
    """A failure's error chain and message from its JSON; None when not in the expected shape."""
    try:
        event = json.loads(body)["dagster_event"]
        data = event["event_specific_data"]
        message = event.get("message")
        if data.get("__class__") not in _FAILURE_DATA or not isinstance(message, str | None):
            return None
        return LightFailure(_light_error(data.get("error"))), message
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass(frozen=True, slots=True)
class ColumnEntry:
    """An event-log entry read from columns (and, for materialisations and check evaluations,
    the few payload fields their rows need): ``at`` is the entry's timestamp (UTC), as
    ``datetime.fromtimestamp(entry.timestamp, UTC)`` gives it; ``fields`` is
    ``(asset_key, row_count)`` for a materialisation, ``(asset_key, check_name, passed,
    severity)`` for a check evaluation, and empty otherwise."""

    storage_id: int
    run_id: str
    at: datetime | None
    dagster_event: ColumnEvent
    fields: tuple[Any, ...] = ()


_NUMBER_ENTRIES = frozenset({"IntMetadataEntryData", "FloatMetadataEntryData"})


def _user_key(key: Any) -> str | None:
    """``AssetKey.to_user_string()`` of a serialised AssetKey (None if not one)."""
    path = key.get("path") if isinstance(key, dict) else None
    if key.get("__class__") != "AssetKey" or not isinstance(path, list):
        return None
    return "/".join(str(p) for p in path)


def _fast_fields(etype: dg.DagsterEventType, body: str) -> tuple[Any, ...] | None:
    """The fields a materialisation's or check evaluation's row needs, read from the event's
    JSON without building Dagster's objects (≈10x faster); None when the JSON is not in the
    shape expected (the caller then deserialises it fully, as the per-run path does)."""
    if etype not in (ET.ASSET_MATERIALIZATION, ET.ASSET_CHECK_EVALUATION):
        return None
    try:
        data = json.loads(body)["dagster_event"]["event_specific_data"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    if etype == ET.ASSET_MATERIALIZATION:
        mat = data.get("materialization")
        if data.get("__class__") != "StepMaterializationData" or not isinstance(mat, dict):
            return None
        entries = mat.get("metadata_entries")
        key = _user_key(mat.get("asset_key"))
        if mat.get("__class__") != "AssetMaterialization" or key is None:
            return None
        if not isinstance(entries, list) or "metadata" in mat:
            return None
        row_count = None
        for item in entries:  # the last entry of a label wins, as in the metadata dict
            if not isinstance(item, dict) or item.get("label") != "row_count":
                continue
            value = (item.get("entry_data") or {}).get("value")
            kind = (item.get("entry_data") or {}).get("__class__")
            if kind not in _NUMBER_ENTRIES or not isinstance(value, int | float):
                return None
            row_count = int(value)
        return (key, row_count)
    if etype == ET.ASSET_CHECK_EVALUATION:
        key = _user_key(data.get("asset_key"))
        severity = data.get("severity")
        success = data.get("success")
        if data.get("__class__") != "AssetCheckEvaluation" or key is None:
            return None
        if severity is not None:
            name = severity.get("__enum__", "") if isinstance(severity, dict) else ""
            member = name.split(".", 1)[1] if name.startswith("AssetCheckSeverity.") else ""
            if member not in dg.AssetCheckSeverity.__members__:
                return None
            severity = dg.AssetCheckSeverity[member].value
        if success is not None and not isinstance(success, bool):
            return None
        return (key, data.get("check_name"), success, severity)
    return None


def can_read_by_storage_id(instance: dg.DagsterInstance) -> bool:
    """Whether the instance's event log is one SQL table that can be read across runs."""
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage

    storage = instance.event_log_storage
    return isinstance(storage, SqlEventLogStorage) and not storage.is_run_sharded


def read_events_by_storage_id(
    instance: dg.DagsterInstance,
    run_ids: Sequence[str],
    event_types: Collection[dg.DagsterEventType],
    *,
    after_storage_id: int = -1,
    page: int = 20_000,
    stats: dict[str, int] | None = None,
) -> dict[str, list[Any]]:
    """The entries of ``event_types`` of every run of ``run_ids``, per run, in storage order.

    Args:
        instance: an instance whose event log :func:`can_read_by_storage_id`.
        run_ids: the runs to read (one query per ``page`` events for all of them).
        event_types: the event types to read.
        after_storage_id: read only events stored after this storage id.
        page: events per query (keyset pagination by storage id).
        stats: counters incremented in place: ``malformed_events`` (unreadable payloads).

    Returns:
        ``{run_id: [EventLogEntry | ColumnEntry, ...]}``; a run without such events is absent.
    """
    import sqlalchemy as sa
    from dagster._core.storage.event_log.schema import SqlEventLogStorageTable as T

    stats = stats if stats is not None else {}
    stats.setdefault("malformed_events", 0)
    out: dict[str, list[Any]] = {}
    if not run_ids or not event_types:
        return out
    wanted = sorted(t.value for t in event_types)
    payload = sorted(t.value for t in PAYLOAD_TYPES if t in event_types)
    storage = instance.event_log_storage
    last = after_storage_id
    while True:
        query = (
            sa.select(
                T.c.id,
                T.c.run_id,
                T.c.dagster_event_type,
                T.c.step_key,
                T.c.timestamp,
                sa.case((T.c.dagster_event_type.in_(payload), T.c.event), else_=sa.null())
                if payload
                else sa.null(),
            )
            .where(T.c.run_id.in_(list(run_ids)))
            .where(T.c.dagster_event_type.in_(wanted))
            .where(T.c.id > last)
            .order_by(T.c.id.asc())
            .limit(page)
        )
        with storage.index_connection() as conn:  # type: ignore[attr-defined]
            rows = conn.execute(query).fetchall()
        for storage_id, run_id, type_value, step_key, ts, body in rows:
            etype = _TYPES_BY_VALUE[type_value]
            at = ts.replace(tzinfo=UTC) if ts is not None else None
            fields = _fast_fields(etype, body) if body is not None else ()
            failure = _fast_failure(body) if body is not None and fields is None else None
            if failure is not None:
                data, message = failure
                entry: Any = ColumnEntry(
                    storage_id, run_id, at, ColumnEvent(etype, step_key, data, message)
                )
            elif fields is not None:
                entry = ColumnEntry(storage_id, run_id, at, ColumnEvent(etype, step_key), fields)
            else:
                try:
                    entry = dg.deserialize_value(body, dg.EventLogEntry)
                except Exception:  # noqa: BLE001 - any unreadable payload is skipped, counted
                    stats["malformed_events"] += 1
                    continue
            out.setdefault(run_id, []).append(entry)
        if len(rows) < page:
            return out
        last = rows[-1][0]
