"""The shared context: a versioned blackboard of facts with provenance.

Every write creates a new version; writers say which version they read (compare-and-set), and
the primary key (namespace, key, version) makes two writers of the same next version collide in
the database, so exactly one wins and the other gets ``VersionConflict`` — across threads and
processes, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from orchestration_project.coordination.store import CoordinationStore, facts


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
    """Someone else wrote the fact since the writer read it."""

    def __init__(self, namespace: str, key: str, expected: int | None, current: Fact | None):
        super().__init__(
            f"{namespace}/{key}: expected version {expected}, found "
            f"{current.version if current else 'none'}"
        )
        self.current = current


def _fact(r: Any) -> Fact:
    return Fact(
        r.namespace,
        r.key,
        r.value,
        r.version,
        r.source,
        r.agent,
        r.observed_at,
        r.confidence,
        r.written_at,
    )


class SharedContext:
    """Versioned facts in a ``CoordinationStore``."""

    def __init__(self, store: CoordinationStore) -> None:
        self.store = store

    def get(self, namespace: str, key: str) -> Fact | None:
        """The latest version of a fact, or None."""
        with self.store.engine.connect() as c:
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
        """Write a new version if the current one is ``expected_version`` (None: no fact yet)."""
        now = datetime.now(UTC)
        try:
            with self.store.transaction() as conn:
                current = self._latest(conn, namespace, key)
                current_version = current.version if current else None
                if current_version != expected_version:
                    raise VersionConflict(namespace, key, expected_version, current)
                version = (expected_version or 0) + 1
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
        except sa.exc.IntegrityError as exc:  # a concurrent writer took this version
            raise VersionConflict(
                namespace, key, expected_version, self.get(namespace, key)
            ) from exc
        return Fact(namespace, key, value, version, source, agent, observed_at, confidence, now)

    def update(
        self,
        namespace: str,
        key: str,
        fn: Callable[[Any], Any],
        *,
        source: str,
        agent: str,
        confidence: float = 1.0,
        retries: int = 50,
    ) -> Fact:
        """Read, compute ``fn(old_value)`` and compare-and-set, retrying on conflicts."""
        for _ in range(retries):
            current = self.get(namespace, key)
            try:
                return self.put(
                    namespace,
                    key,
                    fn(current.value if current else None),
                    expected_version=current.version if current else None,
                    source=source,
                    agent=agent,
                    confidence=confidence,
                )
            except VersionConflict:
                continue
        raise VersionConflict(namespace, key, None, self.get(namespace, key))

    def history(self, namespace: str, key: str) -> list[Fact]:
        """Every version of a fact, oldest first."""
        with self.store.engine.connect() as c:
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
        with self.store.engine.connect() as c:
            return [_fact(r) for r in c.execute(q)]

    def snapshot(self, namespace: str) -> dict[str, Any]:
        """key → latest value, for a namespace."""
        return {f.key: f.value for f in self.list(namespace)}
