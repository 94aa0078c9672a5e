"""Circuit breakers on sources and routes, shared by every process through the coordination
store: failures within a window open a breaker, a cooldown lets one trial call through
(half-open), and its success closes the breaker again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import utcnow
from orchestration_project.operations.healing.schema import (
    OpsSettings,
    _aware,
    breakers_table,
    ensure_ops_tables,
    op_events_table,
)


def breaker_subject(name: str) -> tuple[str, str]:
    """``(subject_kind, subject)`` of a breaker name: ``source:<host>`` is about that source,
    ``route:<route>:<host>`` about the route (the host goes into the event's detail)."""
    parts = name.split(":")
    if parts[0] == "route" and len(parts) >= 2:
        return "route", parts[1]
    if parts[0] == "source" and len(parts) >= 2:
        return "source", ":".join(parts[1:])
    return "breaker", name


@dataclass(frozen=True)
class BreakerState:
    """A circuit breaker as stored."""

    name: str
    state: str
    failures: int
    opened_at: datetime | None
    reason: str | None


class CircuitBreakers:
    """Circuit breakers on sources and routes, shared by every process through the store.

    Args:
        store: the coordination store.
        failure_threshold: failures within ``window`` that open a breaker.
        window: how far back failures count.
        cooldown: how long an open breaker refuses calls before letting one trial through.
    """

    def __init__(
        self,
        store: CoordinationStore,
        *,
        failure_threshold: int = 3,
        window: timedelta = timedelta(minutes=10),
        cooldown: timedelta = timedelta(minutes=2),
    ) -> None:
        self.store = store
        ensure_ops_tables(store)
        # Operators (and the soak benchmark) tune breakers at run time through the settings.
        settings = OpsSettings(store)
        self.failure_threshold = int(settings.get("breaker:failure_threshold", failure_threshold))
        self.window = timedelta(seconds=settings.get("breaker:window_s", window.total_seconds()))
        self.cooldown = timedelta(
            seconds=settings.get("breaker:cooldown_s", cooldown.total_seconds())
        )

    def _row(self, conn: sa.Connection, name: str) -> Any:
        return conn.execute(sa.select(breakers_table).where(breakers_table.c.name == name)).first()

    def _write(self, conn: sa.Connection, name: str, **values: Any) -> None:
        conn.execute(sa.delete(breakers_table).where(breakers_table.c.name == name))
        conn.execute(breakers_table.insert().values(name=name, **values))

    def state(self, name: str) -> BreakerState:
        """The breaker ``name`` (closed with no failures if never used)."""
        with self.store.read() as conn:
            row = self._row(conn, name)
        if row is None:
            return BreakerState(name, "closed", 0, None, None)
        return BreakerState(
            name, row.state, len(row.failures or []), _aware(row.opened_at), row.reason
        )

    def allow(self, name: str, *, now: datetime | None = None) -> bool:
        """Whether a call may go through ``name`` now (an open breaker past its cooldown turns
        half-open and lets one trial call through)."""
        now = now or utcnow()
        with self.store.transaction() as conn:
            row = self._row(conn, name)
            if row is None or row.state == "closed":
                return True
            if row.state == "half_open":
                # A trial is under way; if it never reported back, allow another after a
                # cooldown rather than staying half-open for ever.
                since = _aware(row.changed_at) or now
                if now - since < self.cooldown:
                    return False
            opened = _aware(row.opened_at) or now
            if row.state == "half_open" or now - opened >= self.cooldown:
                self._write(
                    conn,
                    name,
                    state="half_open",
                    failures=row.failures,
                    opened_at=row.opened_at,
                    changed_at=now,
                    reason=row.reason,
                )
                return True
            return False

    def record_failure(self, name: str, reason: str, *, now: datetime | None = None) -> str:
        """Count a failure; returns the breaker's state afterwards."""
        now = now or utcnow()
        with self.store.transaction() as conn:
            row = self._row(conn, name)
            recent = [
                t
                for t in (row.failures if row is not None else [])
                if now - datetime.fromisoformat(t) <= self.window
            ] + [now.isoformat()]
            was = row.state if row is not None else "closed"
            opens = was == "half_open" or len(recent) >= self.failure_threshold
            state = "open" if opens else was
            self._write(
                conn,
                name,
                state=state,
                failures=recent[-50:],
                opened_at=now if (opens and was != "open") else (row.opened_at if row else None),
                changed_at=now if state != was else (row.changed_at if row else now),
                reason=reason[:2000],
            )
            if opens and was != "open":
                self._trip_event(conn, name, reason, now, failures=len(recent), was=was)
            return state

    def trip(self, name: str, reason: str, *, now: datetime | None = None) -> None:
        """Open ``name`` now, whatever its failures (a predicted failure, an operator): callers
        skip it until the cooldown lets a trial call through, as after real failures."""
        now = now or utcnow()
        with self.store.transaction() as conn:
            row = self._row(conn, name)
            was = row.state if row is not None else "closed"
            self._write(
                conn,
                name,
                state="open",
                failures=(row.failures if row is not None else []) or [],
                opened_at=now,
                changed_at=now,
                reason=reason[:2000],
            )
            if was != "open":
                self._trip_event(conn, name, reason, now, failures=0, was=was)

    @staticmethod
    def _trip_event(
        conn: sa.Connection, name: str, reason: str, now: datetime, *, failures: int, was: str
    ) -> None:
        """A breaker that opens is a silent remedy: record it as an operational event
        (``healing.opevents``) in the same transaction."""
        kind, subject = breaker_subject(name)
        conn.execute(
            op_events_table.insert().values(
                at=now,
                kind="breaker_trip",
                subject_kind=kind,
                subject=subject[:300],
                severity="low",
                detail={"breaker": name, "reason": reason[:500], "failures": failures, "was": was},
            )
        )

    def record_success(self, name: str, *, now: datetime | None = None) -> str:
        """A call succeeded: a half-open breaker closes, a closed one forgets its failures."""
        now = now or utcnow()
        with self.store.transaction() as conn:
            row = self._row(conn, name)
            if row is None or (row.state == "closed" and not row.failures):
                return "closed"
            if row.state == "open":
                return "open"  # a call that bypassed the breaker does not close it
            self._write(
                conn,
                name,
                state="closed",
                failures=[],
                opened_at=None,
                changed_at=now if row.state != "closed" else row.changed_at,
                reason=None,
            )
            return "closed"

    def all(self) -> pd.DataFrame:
        """Every breaker as a frame (name, state, failures, opened_at, changed_at, reason)."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(breakers_table)).fetchall()
        return pd.DataFrame(
            [
                {
                    "name": r.name,
                    "state": r.state,
                    "failures": len(r.failures or []),
                    "opened_at": _aware(r.opened_at),
                    "changed_at": _aware(r.changed_at),
                    "reason": r.reason,
                }
                for r in rows
            ],
            columns=["name", "state", "failures", "opened_at", "changed_at", "reason"],
        )
