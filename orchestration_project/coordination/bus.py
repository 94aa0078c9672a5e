"""A durable, ordered, at-least-once message bus with idempotent publishing and stored offsets.

* Order: a global autoincrement offset; consumers read a topic in offset order, so messages of
  one key are delivered in the order they were published.
* Idempotent publishing: ``message_id`` is unique; publishing it again is a no-op, so a producer
  that crashed after publishing and runs again adds no duplicate.
* At-least-once delivery with stored offsets per (consumer group, topic): the offset is committed
  after the handler succeeds. With ``transactional=True`` (and always in ``consume_batch``) the
  handler's own writes to this store commit in the same transaction as the offset, so a crash
  between them is impossible: effects happen exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from orchestration_project.coordination.store import (
    CoordinationStore,
    dead_letters,
    messages,
    offsets,
    processed,
)


@dataclass(frozen=True)
class Message:
    """A message as stored on the bus."""

    offset: int
    topic: str
    key: str
    payload: dict[str, Any]
    message_id: str
    causation_id: str | None
    created_at: datetime


def _row_to_message(r: Any) -> Message:
    return Message(r.offset, r.topic, r.key, r.payload, r.message_id, r.causation_id, r.created_at)


class MessageBus:
    """Topics of messages in a ``CoordinationStore`` (SQLite locally, PostgreSQL in production)."""

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
    ) -> bool:
        """Publish one message; returns False when ``message_id`` was already published."""
        n = self.publish_many(
            [
                {
                    "topic": topic,
                    "key": key,
                    "payload": payload,
                    "causation_id": causation_id,
                    "message_id": message_id,
                }
            ],
            conn=conn,
        )
        return n == 1

    def publish_many(
        self, items: list[dict[str, Any]], *, conn: sa.Connection | None = None
    ) -> int:
        """Publish several messages in one transaction (or the caller's ``conn``); messages
        whose ``message_id`` exists already are skipped. Returns how many were new."""
        if not items:
            return 0
        now = datetime.now(UTC)
        rows = [
            {
                "topic": it["topic"],
                "key": str(it["key"]),
                "payload": it["payload"],
                "message_id": it.get("message_id") or uuid.uuid4().hex,
                "causation_id": it.get("causation_id"),
                "created_at": now,
            }
            for it in items
        ]
        stmt = self.store.insert_ignore(messages)
        if conn is not None:
            return _inserted(conn, stmt, rows)
        with self.store.transaction() as c:
            return _inserted(c, stmt, rows)

    # -- offsets ----------------------------------------------------------------------------
    def committed_offset(self, group: str, topic: str, *, conn: sa.Connection | None = None) -> int:
        """The last offset the group has finished with on this topic (0: none)."""
        q = sa.select(offsets.c.committed).where(
            offsets.c.group_name == group, offsets.c.topic == topic
        )
        if conn is not None:
            return int(conn.execute(q).scalar() or 0)
        with self.store.engine.connect() as c:
            return int(c.execute(q).scalar() or 0)

    def _lock_offset(self, conn: sa.Connection, group: str, topic: str) -> int:
        """Create the offset row if needed and lock it for this transaction; return its value."""
        conn.execute(
            self.store.insert_ignore(offsets),
            [
                {
                    "group_name": group,
                    "topic": topic,
                    "committed": 0,
                    "updated_at": datetime.now(UTC),
                }
            ],
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
            .values(committed=offset, updated_at=datetime.now(UTC))
        )

    def _pending(self, conn: sa.Connection, topic: str, after: int, limit: int) -> list[Message]:
        rows = conn.execute(
            sa.select(messages)
            .where(messages.c.topic == topic, messages.c.offset > after)
            .order_by(messages.c.offset)
            .limit(limit)
        ).all()
        return [_row_to_message(r) for r in rows]

    def lag(self, group: str, topic: str) -> int:
        """How many messages of the topic the group has not finished yet."""
        after = self.committed_offset(group, topic)
        with self.store.engine.connect() as c:
            return int(
                c.execute(
                    sa.select(sa.func.count())
                    .select_from(messages)
                    .where(messages.c.topic == topic, messages.c.offset > after)
                ).scalar_one()
            )

    def replay(self, group: str, topic: str, from_offset: int = 0) -> None:
        """Rewind the group's committed offset (idempotent handlers make replays harmless)."""
        with self.store.transaction() as conn:
            self._lock_offset(conn, group, topic)
            self._commit_offset(conn, group, topic, from_offset)

    def topics(self) -> list[str]:
        """Every topic with at least one message."""
        with self.store.engine.connect() as c:
            return [r[0] for r in c.execute(sa.select(messages.c.topic).distinct())]

    def messages(self, topic: str) -> list[Message]:
        """All messages of a topic, in order (for inspection and tests)."""
        with self.store.engine.connect() as c:
            return self._pending(c, topic, 0, 10**9)

    def already_processed(self, group: str, message_id: str) -> bool:
        """Whether the group finished this message before (for idempotent handlers)."""
        with self.store.engine.connect() as c:
            return bool(
                c.execute(
                    sa.select(processed.c.done).where(
                        processed.c.group_name == group, processed.c.message_id == message_id
                    )
                ).scalar()
            )

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

        The group's offset row is locked for the transaction, so two consumers of one group
        never commit the same batch. Slow work (fetching web pages) belongs in ``prepare``:
        it runs before the transaction, on the batch as read, and its result is passed on as
        ``handler(batch, conn, prepared)``; if another consumer committed the batch meanwhile,
        the prepared work is discarded and the next batch is tried. Without ``prepare`` the
        handler is ``handler(batch, conn)`` and runs inside the transaction (on SQLite the
        file is write-locked meanwhile, so keep such handlers short).
        """
        while True:
            if prepare is not None:
                after = self.committed_offset(group, topic)
                with self.store.engine.connect() as c:
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
        """Deliver pending messages one by one, in order; return how many were handled.

        ``transactional=True``: ``handler(message, conn)`` writes its effects with ``conn`` and
        they commit atomically with the offset. Otherwise ``handler(message)`` and delivery is
        at least once (``already_processed`` helps idempotent handlers). A failing handler
        leaves its message uncommitted and re-raises — unless ``max_attempts`` is set, in which
        case after that many failures the message goes to the dead letters and is skipped.
        """
        handled = 0
        while max_messages is None or handled < max_messages:
            after = self.committed_offset(group, topic)
            with self.store.engine.connect() as c:
                batch = self._pending(c, topic, after, 1)
            if not batch:
                break
            msg = batch[0]
            try:
                if transactional:
                    with self.store.transaction() as conn:
                        if self._lock_offset(conn, group, topic) >= msg.offset:
                            continue  # another consumer took it
                        handler(msg, conn)
                        self._finish(conn, group, topic, msg)
                else:
                    handler(msg)
                    with self.store.transaction() as conn:
                        if self._lock_offset(conn, group, topic) < msg.offset:
                            self._finish(conn, group, topic, msg)
            except Exception as exc:
                if max_attempts is None or not self._record_failure(group, msg, exc, max_attempts):
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
            attempts = conn.execute(
                sa.select(processed.c.attempts).where(
                    processed.c.group_name == group, processed.c.message_id == msg.message_id
                )
            ).scalar_one()
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
                        "failed_at": datetime.now(UTC),
                    }
                ],
            )
            self._lock_offset(conn, group, msg.topic)
            self._commit_offset(conn, group, msg.topic, msg.offset)
            return True

    def dead_letters(self, group: str) -> list[dict[str, Any]]:
        """Messages the group gave up on, with their errors."""
        with self.store.engine.connect() as c:
            rows = c.execute(sa.select(dead_letters).where(dead_letters.c.group_name == group))
            return [dict(r._mapping) for r in rows]


def _inserted(conn: sa.Connection, stmt: Any, rows: list[dict[str, Any]]) -> int:
    n = 0
    for row in rows:  # rowcount per row: executemany rowcounts are unreliable across drivers
        n += conn.execute(stmt, row).rowcount or 0
    return n
