"""A durable, ordered, at-least-once message bus with idempotent publishing and stored offsets.

* Order: a global autoincrement offset; consumers read a topic in offset order, so messages of
  one key are delivered in the order they were published. Publishers are serialised (SQLite:
  ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock taken before the insert),
  so offsets become visible in commit order and a consumer never commits past a message that a
  slower transaction has yet to commit.
* Idempotent publishing: ``message_id`` is unique (``INSERT … ON CONFLICT DO NOTHING``);
  publishing it again is a no-op, so a producer that crashed after publishing and runs again
  adds no duplicate.
* At-least-once delivery with stored offsets per (consumer group, topic): the offset is committed
  after the handler succeeds. With ``transactional=True`` (and always in ``consume_batch``) the
  handler's own writes to this store commit in the same transaction as the offset, so a crash
  between them is impossible: effects happen exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from orchestration_project.agents.coordination.store import (
    CoordinationStore,
    dead_letters,
    offsets,
    processed,
)
from orchestration_project.agents.coordination.store import messages as messages_table
from orchestration_project.common.time import aware, utcnow

# pg_advisory_xact_lock key serialising publishers on PostgreSQL ("bus!" in ASCII).
_PUBLISH_LOCK_KEY = 0x62757321


@dataclass(frozen=True)
class Message:
    """A message as stored on the bus.

    Attributes:
        offset: global, strictly increasing position (the order of delivery).
        topic: the stream it belongs to.
        key: the ordering/partitioning key (e.g. a site or an entity id).
        payload: JSON-able body.
        message_id: idempotency key (unique over the whole bus).
        causation_id: the message_id of the message that caused this one, if any.
        created_at: when it was published (UTC).
    """

    offset: int
    topic: str
    key: str
    payload: dict[str, Any]
    message_id: str
    causation_id: str | None
    created_at: datetime


def _row_to_message(r: Any) -> Message:
    created = aware(r.created_at)  # SQLite: naive, written as UTC
    return Message(int(r.offset), r.topic, r.key, r.payload, r.message_id, r.causation_id, created)


class MessageBus:
    """Topics of messages in a ``CoordinationStore`` (SQLite locally, PostgreSQL in production).

    Args:
        store: the coordination store holding the bus tables.
    """

    def __init__(self, store: CoordinationStore) -> None:
        self.store = store

    # -- publishing -------------------------------------------------------------------------
    def publish(
        self,
        topic: str,
        key: str,
        payload: dict[str, Any],
        *,
        causation_id: str | None = None,
        message_id: str | None = None,
        conn: sa.Connection | None = None,
    ) -> Message | None:
        """Publish one message durably.

        Args:
            topic: the topic.
            key: the message key (order per key follows from the global offset order).
            payload: a JSON-able dict.
            causation_id: the message_id that caused this one.
            message_id: idempotency key; a fresh uuid4 hex when omitted.
            conn: publish inside this caller's transaction (committed or rolled back with it).

        Returns:
            The stored message, or None when ``message_id`` had been published before (the
            duplicate is ignored).
        """
        row = _row(
            {
                "topic": topic,
                "key": key,
                "payload": payload,
                "causation_id": causation_id,
                "message_id": message_id,
            },
            utcnow(),
        )
        if conn is not None:
            return self._insert(conn, [row])[0]
        with self.store.transaction() as c:
            return self._insert(c, [row])[0]

    def publish_many(
        self, messages: list[dict[str, Any]], *, conn: sa.Connection | None = None
    ) -> int:
        """Publish several messages in one transaction (or the caller's ``conn``).

        Args:
            messages: dicts with ``topic``, ``key``, ``payload`` and optional ``message_id``
                and ``causation_id``; published in list order.
            conn: publish inside this caller's transaction.

        Returns:
            How many were new (messages whose ``message_id`` exists already are skipped).
        """
        if not messages:
            return 0
        now = utcnow()
        rows = [_row(m, now) for m in messages]
        if conn is not None:
            return sum(m is not None for m in self._insert(conn, rows))
        with self.store.transaction() as c:
            return sum(m is not None for m in self._insert(c, rows))

    def _insert(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> list[Message | None]:
        if not self.store.is_sqlite:  # offsets must become visible in commit order
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PUBLISH_LOCK_KEY)))
        stmt = self.store.insert_ignore(messages_table).returning(*messages_table.c)
        out: list[Message | None] = []
        for row in rows:  # one statement per row: RETURNING tells new from duplicate
            r = conn.execute(stmt, row).first()
            out.append(_row_to_message(r) if r is not None else None)
        return out

    # -- offsets ----------------------------------------------------------------------------
    def committed_offset(self, group: str, topic: str, *, conn: sa.Connection | None = None) -> int:
        """The last offset the group has finished with on this topic (0: none).

        Args:
            group: the consumer group.
            topic: the topic.
            conn: read inside this connection's transaction.
        """
        q = sa.select(offsets.c.committed).where(
            offsets.c.group_name == group, offsets.c.topic == topic
        )
        if conn is not None:
            return int(conn.execute(q).scalar() or 0)
        with self.store.read() as c:
            return int(c.execute(q).scalar() or 0)

    def _lock_offset(self, conn: sa.Connection, group: str, topic: str) -> int:
        """Create the offset row if needed and lock it for this transaction; return its value
        as read after taking the lock."""
        conn.execute(
            self.store.insert_ignore(offsets),
            [{"group_name": group, "topic": topic, "committed": 0, "updated_at": utcnow()}],
        )
        q = sa.select(offsets.c.committed).where(
            offsets.c.group_name == group, offsets.c.topic == topic
        )
        if not self.store.is_sqlite:  # SQLite's BEGIN IMMEDIATE already serialises writers
            q = q.with_for_update()
        return int(conn.execute(q).scalar_one())

    def _commit_offset(self, conn: sa.Connection, group: str, topic: str, offset: int) -> None:
        conn.execute(
            offsets.update()
            .where(offsets.c.group_name == group, offsets.c.topic == topic)
            .values(committed=offset, updated_at=utcnow())
        )

    def _pending(self, conn: sa.Connection, topic: str, after: int, limit: int) -> list[Message]:
        rows = conn.execute(
            sa.select(messages_table)
            .where(messages_table.c.topic == topic, messages_table.c.offset > after)
            .order_by(messages_table.c.offset)
            .limit(limit)
        ).all()
        return [_row_to_message(r) for r in rows]

    def lag(self, group: str, topic: str) -> int:
        """How many messages of the topic the group has not finished yet."""
        committed = (
            sa.select(offsets.c.committed)
            .where(offsets.c.group_name == group, offsets.c.topic == topic)
            .scalar_subquery()
        )
        q = (
            sa.select(sa.func.count())
            .select_from(messages_table)
            .where(
                messages_table.c.topic == topic,
                messages_table.c.offset > sa.func.coalesce(committed, 0),
            )
        )
        with self.store.read() as c:
            return int(c.execute(q).scalar_one())

    def replay(self, group: str, topic: str, from_offset: int = 0) -> None:
        """Rewind (or move) the group's position so that messages with offset >= ``from_offset``
        are delivered again. Idempotent handlers (``already_processed``) make replays harmless.
        """
        with self.store.transaction() as conn:
            self._lock_offset(conn, group, topic)
            self._commit_offset(conn, group, topic, max(from_offset - 1, 0))

    def topics(self) -> list[str]:
        """Every topic with at least one message, sorted."""
        with self.store.read() as c:
            q = sa.select(messages_table.c.topic).distinct().order_by(messages_table.c.topic)
            return [r[0] for r in c.execute(q)]

    def messages(self, topic: str) -> list[Message]:
        """All messages of a topic, in order (for inspection and tests)."""
        with self.store.read() as c:
            return self._pending(c, topic, 0, 2**62)

    def already_processed(self, group: str, message_id: str) -> bool:
        """Whether the group finished this message before (for idempotent handlers)."""
        with self.store.read() as c:
            return bool(
                c.execute(
                    sa.select(processed.c.done).where(
                        processed.c.group_name == group, processed.c.message_id == message_id
                    )
                ).scalar()
            )

    def dead_letters(self, group: str) -> list[dict[str, Any]]:
        """Messages the group gave up on, with their errors, in offset order."""
        with self.store.read() as c:
            rows = c.execute(
                sa.select(dead_letters)
                .where(dead_letters.c.group_name == group)
                .order_by(dead_letters.c.offset)
            )
            return [dict(r._mapping) for r in rows]

    # -- consuming --------------------------------------------------------------------------
    def consume_batch(
        self,
        group: str,
        topic: str,
        handler: Callable[..., None],
        *,
        batch_size: int = 100,
        prepare: Callable[[list[Message]], Any] | None = None,
    ) -> int:
        """Handle the next batch in ONE transaction with the offset commit; return its size.

        Reads up to ``batch_size`` uncommitted messages in offset order and calls
        ``handler(messages, conn)`` once; the handler's writes with ``conn`` (its own tables,
        ``publish_many(..., conn=conn)``) and the offset commit past the last message are one
        transaction, so a crash anywhere leaves either all of it or none of it.

        The group's offset row is locked first (PostgreSQL: ``SELECT … FOR UPDATE``; SQLite:
        ``BEGIN IMMEDIATE`` holds the write lock) and the offset re-read under the lock, so two
        concurrent consumers of one group never process the same batch.

        Note:
            On SQLite the whole database file is write-locked while the handler runs. A handler
            that takes seconds (fetching web pages) therefore blocks every other writer for that
            long — acceptable, since they wait on the 30 s busy timeout, but slow work is better
            done in ``prepare``: it runs before the transaction on the batch as read, and its
            result is passed on as ``handler(messages, conn, prepared)``; if another consumer
            committed that batch meanwhile, the prepared work is discarded and the next batch is
            tried.

        Args:
            group: the consumer group.
            topic: the topic.
            handler: ``handler(messages, conn)`` (or ``handler(messages, conn, prepared)``).
            batch_size: the most messages per batch.
            prepare: optional slow, side-effect-free step run outside the transaction.

        Returns:
            How many messages were handled (0: nothing pending).
        """
        while True:
            after = 0
            prepared: Any = None
            if prepare is not None:
                after = self.committed_offset(group, topic)
                with self.store.read() as c:
                    batch = self._pending(c, topic, after, batch_size)
                if not batch:
                    return 0
                prepared = prepare(batch)
            with self.store.transaction() as conn:
                current = self._lock_offset(conn, group, topic)
                if prepare is None:
                    batch = self._pending(conn, topic, current, batch_size)
                    if not batch:
                        return 0
                    handler(batch, conn)
                elif current != after:
                    continue  # another consumer committed this batch while we prepared it
                else:
                    handler(batch, conn, prepared)
                self._commit_offset(conn, group, topic, batch[-1].offset)
                return len(batch)

    def consume(
        self,
        group: str,
        topic: str,
        handler: Callable[..., None],
        *,
        batch_size: int = 100,
        max_messages: int | None = None,
        transactional: bool = False,
        max_attempts: int | None = None,
    ) -> int:
        """Deliver pending messages one by one, in offset order; return how many were handled.

        Args:
            group: the consumer group (each group has its own offset per topic).
            topic: the topic.
            handler: ``handler(message)``; with ``transactional=True``
                ``handler(message, conn)``, whose writes with ``conn`` commit atomically with
                the offset (exactly-once effects for writes to this store).
            batch_size: how many messages to read ahead per query.
            max_messages: stop after this many.
            transactional: run the handler inside the offset-commit transaction.
            max_attempts: after this many failures of one message (counted per group and
                message_id, across runs), move it to the dead letters and commit past it
                instead of raising.

        Returns:
            How many messages were handled (dead-lettered ones included).

        Raises:
            Exception: the handler's exception, with its message left uncommitted (unless
                ``max_attempts`` dead-lettered it).
        """
        handled = 0
        while max_messages is None or handled < max_messages:
            after = self.committed_offset(group, topic)
            limit = batch_size if max_messages is None else min(batch_size, max_messages - handled)
            with self.store.read() as c:
                batch = self._pending(c, topic, after, max(limit, 1))
            if not batch:
                break
            for msg in batch:
                if max_messages is not None and handled >= max_messages:
                    break
                try:
                    if transactional:
                        with self.store.transaction() as conn:
                            if self._lock_offset(conn, group, topic) >= msg.offset:
                                continue  # another consumer of the group took it
                            handler(msg, conn)
                            self._finish(conn, group, topic, msg)
                    else:
                        handler(msg)
                        with self.store.transaction() as conn:
                            if self._lock_offset(conn, group, topic) < msg.offset:
                                self._finish(conn, group, topic, msg)
                except Exception as exc:
                    if max_attempts is None or not self._record_failure(
                        group, msg, exc, max_attempts
                    ):
                        raise
                handled += 1
        return handled

    def _finish(self, conn: sa.Connection, group: str, topic: str, msg: Message) -> None:
        self._commit_offset(conn, group, topic, msg.offset)
        conn.execute(
            self.store.insert_ignore(processed),
            [{"group_name": group, "message_id": msg.message_id, "attempts": 0, "done": False}],
        )
        conn.execute(
            processed.update()
            .where(processed.c.group_name == group, processed.c.message_id == msg.message_id)
            .values(done=True)
        )

    def _record_failure(self, group: str, msg: Message, exc: Exception, max_attempts: int) -> bool:
        """Count a failure; dead-letter the message (and move past it) at ``max_attempts``.
        Returns True when the message was dead-lettered."""
        with self.store.transaction() as conn:
            conn.execute(
                self.store.insert_ignore(processed),
                [{"group_name": group, "message_id": msg.message_id, "attempts": 0, "done": False}],
            )
            conn.execute(
                processed.update()
                .where(processed.c.group_name == group, processed.c.message_id == msg.message_id)
                .values(attempts=processed.c.attempts + 1)
            )
            attempts = int(
                conn.execute(
                    sa.select(processed.c.attempts).where(
                        processed.c.group_name == group, processed.c.message_id == msg.message_id
                    )
                ).scalar_one()
            )
            if attempts < max_attempts:
                return False
            conn.execute(
                self.store.insert_ignore(dead_letters),
                [
                    {
                        "group_name": group,
                        "message_id": msg.message_id,
                        "topic": msg.topic,
                        "offset": msg.offset,
                        "error": f"{type(exc).__name__}: {exc}",
                        "attempts": attempts,
                        "failed_at": utcnow(),
                    }
                ],
            )
            if self._lock_offset(conn, group, msg.topic) < msg.offset:
                self._commit_offset(conn, group, msg.topic, msg.offset)
            return True


def _row(m: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "topic": m["topic"],
        "key": str(m["key"]),
        "payload": m["payload"],
        "message_id": m.get("message_id") or uuid.uuid4().hex,
        "causation_id": m.get("causation_id"),
        "created_at": now,
    }
