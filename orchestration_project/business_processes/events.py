"""The process event store, in the coordination store (SQLite locally, PostgreSQL in
production, through the store's own engine and transactions).

Tables (their own ``MetaData``, created through ``CoordinationStore.create_tables``):

* ``bp_events`` — the log: ``position`` (global order), ``event_id``, ``stream`` (the instance),
  ``seq`` (1, 2, … per stream; unique with the stream, which makes concurrent writers of one
  instance conflict instead of interleaving), ``type``, ``payload`` (JSON), ``actor``, ``at``
  (when it happened, from the engine's clock), ``recorded_at`` (when it was stored).
  **Append-only in the database**: triggers refuse UPDATE and DELETE on SQLite, and UPDATE,
  DELETE and TRUNCATE on PostgreSQL, whoever connects — not only this code.
* ``bp_instances`` and ``bp_tasks`` — the projection (current state, open tasks), written in
  the same transaction as the events it follows from. It is disposable: :meth:`rebuild`
  replaces it with the fold of the log.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.business_processes.projection import (
    Event,
    NewEvent,
    fold,
    iso,
    replay,
)

__all__ = [
    "ConcurrencyError",
    "EventStore",
    "bp_metadata",
]

bp_metadata = sa.MetaData()
_POS = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

events_table = sa.Table(
    "bp_events",
    bp_metadata,
    sa.Column("position", _POS, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(40), nullable=False, unique=True),
    sa.Column("stream", sa.String(300), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("recorded_at", sa.String(40), nullable=False),
    sa.UniqueConstraint("stream", "seq", name="uq_bp_events_stream_seq"),
    sqlite_autoincrement=True,
)

instances_table = sa.Table(
    "bp_instances",
    bp_metadata,
    sa.Column("instance_id", sa.String(300), primary_key=True),
    sa.Column("process", sa.String(100), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("step", sa.String(100)),
    sa.Column("waiting", sa.String(20)),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("started_at", sa.String(40), nullable=False),
    sa.Column("ended_at", sa.String(40)),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Index("ix_bp_instances_process_step", "process", "step"),
)

tasks_table = sa.Table(
    "bp_tasks",
    bp_metadata,
    sa.Column("task_id", sa.String(300), primary_key=True),
    sa.Column("instance_id", sa.String(300), nullable=False),
    sa.Column("process", sa.String(100), nullable=False),
    sa.Column("step", sa.String(100), nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("assignee", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("due_at", sa.String(40)),
    sa.Column("escalation_level", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(100)),
    sa.Column("decided_by", sa.String(200)),
    sa.Column("decided_at", sa.String(40)),
    sa.Index("ix_bp_tasks_status_due", "status", "due_at"),
)

_TASK_COLUMNS = [c.name for c in tasks_table.columns]

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS bp_events_no_update BEFORE UPDATE ON bp_events "
    "BEGIN SELECT RAISE(ABORT, 'bp_events is append-only: past events cannot be changed'); END",
    "CREATE TRIGGER IF NOT EXISTS bp_events_no_delete BEFORE DELETE ON bp_events "
    "BEGIN SELECT RAISE(ABORT, 'bp_events is append-only: past events cannot be deleted'); END",
]

_PG_TRIGGERS = [
    "SELECT pg_advisory_xact_lock(hashtext('bp_events_append_only'))",
    """CREATE OR REPLACE FUNCTION bp_events_append_only() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
         RAISE EXCEPTION USING
           MESSAGE = 'bp_events is append-only: ' || TG_OP || ' refused',
           ERRCODE = 'insufficient_privilege';
       END $$""",
    """DO $$ BEGIN
         IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'bp_events_no_change'
                        AND tgrelid = 'bp_events'::regclass) THEN
           CREATE TRIGGER bp_events_no_change BEFORE UPDATE OR DELETE ON bp_events
             FOR EACH ROW EXECUTE FUNCTION bp_events_append_only();
         END IF;
         IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'bp_events_no_truncate'
                        AND tgrelid = 'bp_events'::regclass) THEN
           CREATE TRIGGER bp_events_no_truncate BEFORE TRUNCATE ON bp_events
             FOR EACH STATEMENT EXECUTE FUNCTION bp_events_append_only();
         END IF;
       END $$""",
]

_READY: weakref.WeakSet[Any] = weakref.WeakSet()
_READY_LOCK = threading.Lock()


class ConcurrencyError(RuntimeError):
    """Another writer appended to the same instance first (reload and try again)."""


def _now() -> str:
    return iso(datetime.now(UTC))


def _row_to_event(r: Any) -> Event:
    payload = r.payload if isinstance(r.payload, dict) else json.loads(r.payload)
    return Event(
        position=int(r.position),
        event_id=r.event_id,
        stream=r.stream,
        seq=int(r.seq),
        type=r.type,
        payload=payload,
        actor=r.actor,
        at=r.at,
        recorded_at=r.recorded_at,
    )


def _task_row(task: dict[str, Any]) -> dict[str, Any]:
    return {c: task.get(c) for c in _TASK_COLUMNS}


def _instance_row(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance_id": state["instance_id"],
        "process": state["process"],
        "status": state["status"],
        "step": state["step"],
        "waiting": state["waiting"],
        "seq": state["seq"],
        "started_at": state["started_at"],
        "ended_at": state["ended_at"],
        "state": state,
    }


class EventStore:
    """Append-only process events and their projection, over a :class:`CoordinationStore`.

    Args:
        store: the coordination store (its engine, transactions and dialect handling).
    """

    def __init__(self, store: CoordinationStore) -> None:
        """Create the tables and the append-only triggers if missing (once per store)."""
        self.store = store
        with _READY_LOCK:
            if store.engine not in _READY:
                store.create_tables(bp_metadata)
                self._install_triggers()
                _READY.add(store.engine)

    def _install_triggers(self) -> None:
        statements = _SQLITE_TRIGGERS if self.store.is_sqlite else _PG_TRIGGERS
        for attempt in range(5):
            try:
                with self.store.transaction() as conn:
                    for sql in statements:
                        conn.exec_driver_sql(sql)
                return
            except sa.exc.DBAPIError:
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # -- writing --------------------------------------------------------------------------------

    def _upsert(self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.store.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        pk = [c.name for c in table.primary_key.columns]
        stmt = insert(table)
        update = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in pk}
        conn.execute(stmt.on_conflict_do_update(index_elements=pk, set_=update), rows)

    def append(
        self,
        stream: str,
        events: Sequence[NewEvent],
        *,
        expected_seq: int,
        state: dict[str, Any] | None = None,
    ) -> list[Event]:
        """Append ``events`` to ``stream`` after its event ``expected_seq`` and store the
        projection that follows, in one transaction.

        Args:
            stream: the instance id.
            events: the new events, in order.
            expected_seq: how many events the stream holds now (0 for a new instance).
            state: the state before ``events`` (None for a new instance); the new state is
                folded from it and written to the projection tables.

        Returns:
            The stored events.

        Raises:
            ConcurrencyError: another writer appended to the stream meanwhile.
        """
        if not events:
            return []
        new_state = fold(events, stream, state)
        recorded = _now()
        rows = [
            {
                "event_id": uuid.uuid4().hex,
                "stream": stream,
                "seq": expected_seq + i + 1,
                "type": e.type,
                "payload": e.payload,
                "actor": e.actor,
                "at": e.at,
                "recorded_at": recorded,
            }
            for i, e in enumerate(events)
        ]
        touched = {e.payload["task_id"] for e in events if "task_id" in e.payload}
        try:
            with self.store.transaction() as conn:
                conn.execute(events_table.insert(), rows)
                self._upsert(conn, instances_table, [_instance_row(new_state)])
                self._upsert(
                    conn,
                    tasks_table,
                    [_task_row(new_state["tasks"][t]) for t in sorted(touched)],
                )
                stored = conn.execute(
                    sa.select(events_table)
                    .where(events_table.c.stream == stream, events_table.c.seq > expected_seq)
                    .order_by(events_table.c.seq)
                ).all()
        except sa.exc.IntegrityError as exc:
            raise ConcurrencyError(
                f"instance {stream} changed meanwhile (expected {expected_seq} events)"
            ) from exc
        return [_row_to_event(r) for r in stored]

    # -- reading --------------------------------------------------------------------------------

    def events(self, stream: str | None = None, *, after_position: int = 0) -> list[Event]:
        """The events of ``stream`` (None: every stream) after ``after_position``, in order."""
        q = sa.select(events_table).where(events_table.c.position > after_position)
        if stream is not None:
            q = q.where(events_table.c.stream == stream)
        with self.store.read() as conn:
            return [_row_to_event(r) for r in conn.execute(q.order_by(events_table.c.position))]

    def iter_events(self, *, batch: int = 5000) -> Iterator[Event]:
        """Every event in position order, read in batches."""
        after = 0
        while True:
            with self.store.read() as conn:
                rows = conn.execute(
                    sa.select(events_table)
                    .where(events_table.c.position > after)
                    .order_by(events_table.c.position)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for r in rows:
                yield _row_to_event(r)
            after = int(rows[-1].position)

    def count_events(self) -> int:
        """How many events the log holds."""
        with self.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(events_table)).scalar())

    def state(self, instance_id: str) -> dict[str, Any] | None:
        """The projected state of one instance, or None."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(instances_table.c.state).where(
                    instances_table.c.instance_id == instance_id
                )
            ).first()
        if row is None:
            return None
        return row.state if isinstance(row.state, dict) else json.loads(row.state)

    def instances(
        self,
        *,
        process: str | None = None,
        step: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Projected states, filtered, in instance-id order."""
        q = sa.select(instances_table.c.state)
        if process is not None:
            q = q.where(instances_table.c.process == process)
        if step is not None:
            q = q.where(instances_table.c.step == step)
        if status is not None:
            q = q.where(instances_table.c.status == status)
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(instances_table.c.instance_id)).all()
        return [r.state if isinstance(r.state, dict) else json.loads(r.state) for r in rows]

    def instance_ids(self, *, prefix: str = "") -> set[str]:
        """Ids of every instance (starting with ``prefix``)."""
        q = sa.select(instances_table.c.instance_id)
        if prefix:
            q = q.where(instances_table.c.instance_id.startswith(prefix, autoescape=True))
        with self.store.read() as conn:
            return {r.instance_id for r in conn.execute(q)}

    def tasks(
        self,
        *,
        status: str | None = "open",
        assignees: Iterable[str] | None = None,
        due_before: str | None = None,
    ) -> list[dict[str, Any]]:
        """Projected tasks (open by default), oldest first.

        Args:
            status: ``open``, ``done`` or None for all.
            assignees: only tasks assigned to one of these (people or roles).
            due_before: only tasks due at or before this ISO time.
        """
        q = sa.select(tasks_table)
        if status is not None:
            q = q.where(tasks_table.c.status == status)
        if assignees is not None:
            q = q.where(tasks_table.c.assignee.in_(list(assignees)))
        if due_before is not None:
            q = q.where(tasks_table.c.due_at.is_not(None), tasks_table.c.due_at <= due_before)
        with self.store.read() as conn:
            rows = conn.execute(q.order_by(tasks_table.c.created_at, tasks_table.c.task_id))
            return [dict(r._mapping) for r in rows]

    def task(self, task_id: str) -> dict[str, Any] | None:
        """One projected task, or None."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(tasks_table).where(tasks_table.c.task_id == task_id))
            first = row.first()
        return dict(first._mapping) if first is not None else None

    # -- the projection, rebuilt ----------------------------------------------------------------

    def replayed(self) -> dict[str, dict[str, Any]]:
        """Every instance's state folded from the log alone (the projection tables unused)."""
        return replay(self.iter_events())

    def rebuild(self) -> int:
        """Replace the projection tables with the fold of the log; returns the instances."""
        states = self.replayed()
        with self.store.transaction() as conn:
            conn.execute(tasks_table.delete())
            conn.execute(instances_table.delete())
            rows = [_instance_row(s) for s in states.values()]
            for i in range(0, len(rows), 500):
                conn.execute(instances_table.insert(), rows[i : i + 500])
            tasks = [_task_row(t) for s in states.values() for t in s["tasks"].values()]
            for i in range(0, len(tasks), 500):
                conn.execute(tasks_table.insert(), tasks[i : i + 500])
        return len(states)

    def projection_mismatches(self) -> list[str]:
        """Instance ids whose stored projection differs from the fold of their events."""
        live = {s["instance_id"]: s for s in self.instances()}
        folded = self.replayed()
        return sorted(i for i in set(live) | set(folded) if live.get(i) != folded.get(i))
