"""Operational events: the silent remedies that healed something without an incident.

A switched fetch route, a tripped circuit breaker, a skipped source, a spike of quarantined
records and an action taken on a predicted failure all change what a run does without failing
it. They are recorded here as low-severity events (they page nobody) so that an alert about
the same subject at the same time can be confirmed by them: the latency shift that a bot block
caused is real even when the route switch healed it before any run failed
(:func:`orchestration_project.operations.monitoring.confirm_from_op_events`).

Events live in the coordination store beside incidents and breakers (table ``ops_events``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import aware, utcnow
from orchestration_project.operations.healing.schema import ensure_ops_tables, op_events_table

ROUTE_SWITCH = "route_switch"
BREAKER_TRIP = "breaker_trip"
SOURCE_SKIPPED = "source_skipped"
QUARANTINE_SPIKE = "quarantine_spike"
PREDICTED_FAILURE_ACTION = "predicted_failure_action"
STEP_RETRY = "step_retry"
"""A step that failed and succeeded on its own retry: derived from run metadata
(``operations.events.silent_retries``), never stored here."""
SILENT_REMEDIES = (
    ROUTE_SWITCH,
    BREAKER_TRIP,
    SOURCE_SKIPPED,
    QUARANTINE_SPIKE,
    PREDICTED_FAILURE_ACTION,
)
OP_EVENT_COLUMNS = [
    "event_id",
    "at",
    "kind",
    "subject_kind",
    "subject",
    "severity",
    "run_id",
    "detail",
]


def record_op_event(
    store: CoordinationStore,
    kind: str,
    *,
    subject_kind: str,
    subject: str,
    at: datetime | None = None,
    run_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    severity: str = "low",
) -> None:
    """Append one operational event.

    Args:
        store: the coordination store.
        kind: one of :data:`SILENT_REMEDIES`.
        subject_kind: what it is about: ``job``, ``asset``, ``route`` or ``source``.
        subject: the job, asset key, route name (``http``, ``browser``) or source host.
        at: when it happened (now by default).
        run_id: the run that took it, if any.
        detail: JSON-able evidence (the breaker's reason, the routes, counts...).
        severity: ``low`` for silent remedies.
    """
    if kind not in SILENT_REMEDIES:
        raise ValueError(f"unknown operational event kind {kind!r}; expected {SILENT_REMEDIES}")
    ensure_ops_tables(store)
    with store.transaction() as conn:
        conn.execute(
            op_events_table.insert().values(
                at=aware(at) if at is not None else utcnow(),
                kind=kind,
                subject_kind=subject_kind,
                subject=str(subject)[:300],
                severity=severity,
                run_id=run_id,
                detail=dict(detail or {}),
            )
        )


def op_events(
    store: CoordinationStore,
    *,
    since: datetime | None = None,
    kinds: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Operational events (columns :data:`OP_EVENT_COLUMNS`), oldest first."""
    ensure_ops_tables(store)
    q = sa.select(op_events_table).order_by(op_events_table.c.at, op_events_table.c.event_id)
    if since is not None:
        q = q.where(op_events_table.c.at >= aware(since))
    if kinds is not None:
        q = q.where(op_events_table.c.kind.in_(list(kinds)))
    with store.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    df = pd.DataFrame(rows, columns=OP_EVENT_COLUMNS)
    if not df.empty:
        df["at"] = pd.to_datetime(df["at"], utc=True)
    return df


__all__ = [
    "BREAKER_TRIP",
    "OP_EVENT_COLUMNS",
    "PREDICTED_FAILURE_ACTION",
    "QUARANTINE_SPIKE",
    "ROUTE_SWITCH",
    "SILENT_REMEDIES",
    "SOURCE_SKIPPED",
    "STEP_RETRY",
    "op_events",
    "record_op_event",
]
