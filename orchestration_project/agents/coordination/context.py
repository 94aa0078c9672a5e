"""The shared context: a versioned blackboard of facts with provenance.

Every write creates a new version; writers say which version they read (compare-and-set), and
the primary key (namespace, key, version) makes two writers of the same next version collide in
the database, so exactly one wins and the other gets ``VersionConflict`` — across threads and
processes, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore, facts
from orchestration_project.common.time import aware

# First key of the two-key pg_advisory_xact_lock taken by fact writers ("fact" in ASCII); the
# bus's one-key (bigint) publish lock lives in a separate lock space.
_FACT_LOCK_CLASS = 0x66616374


@dataclass(frozen=True)
class Fact:
    """One version of a fact."""

    namespace: str
    key: str
    value: Any
    version: int
    source: str
    agent: str
    observed_at: datetime | None
    confidence: float
    written_at: datetime


class VersionConflict(RuntimeError):
    """Someone else wrote the fact since the writer read it (compare-and-set failed).

    Attributes:
        namespace: the fact's namespace.
        key: the fact's key.
        expected: the version the writer expected (None: "must not exist yet").
        current: the latest version now stored, or None.
    """

    def __init__(
        self, namespace: str, key: str, expected: int | None, current: Fact | None
    ) -> None:
        super().__init__(
            f"{namespace}/{key}: expected version {expected}, found "
            f"{current.version if current else 'none'}"
        )
        self.namespace = namespace
        self.key = key
        self.expected = expected
        self.current = current


def _fact(r: Any) -> Fact:
    return Fact(
        r.namespace,
        r.key,
        r.value,
        int(r.version),
        r.source,
        r.agent,
        aware(r.observed_at),
        float(r.confidence),
        aware(r.written_at),
    )


class SharedContext:
    """Versioned facts in a ``CoordinationStore``: a blackboard the agents share.

    Args:
        store: the coordination store holding ``context_facts``.
    """

    def __init__(self, store: CoordinationStore) -> None:
        self.store = store

    def get(self, namespace: str, key: str) -> Fact | None:
        """The latest version of a fact, or None."""
        with self.store.read() as c:
            return self._latest(c, namespace, key)

    def _latest(self, conn: sa.Connection, namespace: str, key: str) -> Fact | None:
        r = conn.execute(
            sa.select(facts)
            .where(facts.c.namespace == namespace, facts.c.key == key)
            .order_by(facts.c.version.desc())
            .limit(1)
        ).first()
        return _fact(r) if r else None

    def put(
        self,
        namespace: str,
        key: str,
        value: Any,
        *,
        expected_version: int | None,
        source: str,
        agent: str,
        confidence: float = 1.0,
        observed_at: datetime | None = None,
    ) -> Fact:
        """Compare-and-set: write a new version if the current one is ``expected_version``.

        Args:
            namespace: the fact's namespace.
            key: the fact's key.
            value: a JSON-able value.
            expected_version: the version the writer read; None means "must not exist yet".
            source: provenance (e.g. the URL the value came from).
            agent: the writing agent.
            confidence: 0–1.
            observed_at: when the source stated the value (UTC), if known.

        Returns:
            The new version (``expected_version + 1``, or 1).

        Raises:
            VersionConflict: the current version differs (``.current`` holds it), also when a
                concurrent writer took the same next version first (the primary key
                (namespace, key, version) lets only one of them insert it).
        """
        observed_at = aware(observed_at)
        try:
            with self.store.transaction() as conn:
                current = self._lock_latest(conn, namespace, key)
                current_version = current.version if current else None
                if current_version != expected_version:
                    raise VersionConflict(namespace, key, expected_version, current)
                return self._insert(
                    conn, namespace, key, value, (expected_version or 0) + 1,
                    source, agent, confidence, observed_at,
                )  # fmt: skip
        except sa.exc.IntegrityError as exc:  # a concurrent writer took this version
            raise VersionConflict(
                namespace, key, expected_version, self.get(namespace, key)
            ) from exc

    def update(
        self,
        namespace: str,
        key: str,
        fn: Callable[[Any], Any],
        *,
        source: str,
        agent: str,
        confidence: float = 1.0,
        retries: int = 20,
    ) -> Fact:
        """Read, compute ``fn(old_value)`` and compare-and-set, retrying on conflicts.

        Each attempt runs in one short transaction that first takes the fact's lock (SQLite:
        ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-scoped advisory lock on the key), so
        updaters of one fact queue instead of colliding; the version's primary key still
        arbitrates against any other writer, and a lost race is retried after a jittered pause.

        Args:
            namespace: the fact's namespace.
            key: the fact's key.
            fn: old value (None when the fact does not exist) -> new value; it may run several
                times and runs inside the transaction, so it must be quick and side-effect free.
            source: provenance of the new value.
            agent: the writing agent.
            confidence: confidence of the new value.
            retries: how many attempts before giving up.

        Returns:
            The version written.

        Raises:
            VersionConflict: still conflicting after ``retries`` attempts.
        """
        last: Exception | None = None
        for attempt in range(max(retries, 1)):
            try:
                with self.store.transaction() as conn:
                    current = self._lock_latest(conn, namespace, key)
                    new = fn(current.value if current else None)
                    version = (current.version if current else 0) + 1
                    return self._insert(
                        conn, namespace, key, new, version, source, agent, confidence, None
                    )
            except sa.exc.IntegrityError as exc:  # a concurrent writer took this version
                last = exc
                # jittered backoff: contenders spread out instead of colliding again
                time.sleep(random.uniform(0, 0.002 * 2 ** min(attempt, 6)))
        raise VersionConflict(namespace, key, None, self.get(namespace, key)) from last

    def _lock_latest(self, conn: sa.Connection, namespace: str, key: str) -> Fact | None:
        """Serialise writers of one fact for this transaction, then read its latest version.

        SQLite: ``BEGIN IMMEDIATE`` already holds the database's write lock. PostgreSQL: a
        transaction-scoped advisory lock on (``'fact'``, hash of namespace and key); a hash
        collision only makes two facts' writers queue.
        """
        if not self.store.is_sqlite:
            conn.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(
                        _FACT_LOCK_CLASS, sa.func.hashtext(f"{namespace}\x1f{key}")
                    )
                )
            )
        return self._latest(conn, namespace, key)

    def _insert(
        self,
        conn: sa.Connection,
        namespace: str,
        key: str,
        value: Any,
        version: int,
        source: str,
        agent: str,
        confidence: float,
        observed_at: datetime | None,
    ) -> Fact:
        now = datetime.now(UTC)
        conn.execute(
            facts.insert(),
            [
                {
                    "namespace": namespace,
                    "key": key,
                    "version": version,
                    "value": value,
                    "source": source,
                    "agent": agent,
                    "observed_at": observed_at,
                    "confidence": confidence,
                    "written_at": now,
                }
            ],
        )
        return Fact(namespace, key, value, version, source, agent, observed_at, confidence, now)

    def history(self, namespace: str, key: str) -> list[Fact]:
        """Every version of a fact, oldest first."""
        with self.store.read() as c:
            rows = c.execute(
                sa.select(facts)
                .where(facts.c.namespace == namespace, facts.c.key == key)
                .order_by(facts.c.version)
            )
            return [_fact(r) for r in rows]

    def list(self, namespace: str) -> list[Fact]:
        """The latest version of every fact in a namespace."""
        latest = (
            sa.select(facts.c.key, sa.func.max(facts.c.version).label("v"))
            .where(facts.c.namespace == namespace)
            .group_by(facts.c.key)
            .subquery()
        )
        q = (
            sa.select(facts)
            .join(latest, sa.and_(facts.c.key == latest.c.key, facts.c.version == latest.c.v))
            .where(facts.c.namespace == namespace)
            .order_by(facts.c.key)
        )
        with self.store.read() as c:
            return [_fact(r) for r in c.execute(q)]

    def snapshot(self, namespace: str) -> dict[str, Any]:
        """key → latest value, for a namespace."""
        return {f.key: f.value for f in self.list(namespace)}
