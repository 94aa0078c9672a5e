"""Dynamic resource allocation: pool limits applied through the Dagster instance, every change
recorded with its reason, kept inside configured bounds, and revertible.

The limits live where Dagster reads them, the instance's concurrency tables (the same ones
``dagster instance concurrency set`` and the UI's pool page change), so a change takes effect
for the next step that claims a slot, in every run, with no restart. Each change is a row in the
coordination store's ``capacity_changes`` table: the pool, the limit before (and whether it was
the instance's default), the limit after, the reason and the evidence. A revert restores the
"before" of a change and is itself a recorded change.

The run queue's limit (``concurrency.runs.max_concurrent_runs``) is instance configuration
read when the daemon starts; it is recommended and recorded here, and applied by a deployment
(see the README), not at runtime.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa

from ml.capacity import Bounds, Recommendation
from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import utcnow

capacity_metadata = sa.MetaData()

changes_table = sa.Table(
    "capacity_changes",
    capacity_metadata,
    sa.Column("change_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("pool", sa.String(300), nullable=False, index=True),
    sa.Column("previous_limit", sa.Integer),  # None: the pool had no limit row
    sa.Column("previous_from_default", sa.Boolean, nullable=False),
    sa.Column("new_limit", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # apply | revert
    sa.Column("reverts", sa.Integer),  # change_id this row reverts
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON),
    sa.Column("run_id", sa.String(80)),
)


class PoolStorage(Protocol):
    """What of a Dagster instance's event-log storage the allocator uses (``instance.
    event_log_storage`` satisfies it)."""

    def get_pool_limits(self) -> Any: ...
    def set_concurrency_slots(self, concurrency_key: str, num: int) -> None: ...
    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool: ...
    def delete_concurrency_limit(self, concurrency_key: str) -> None: ...


@dataclass(frozen=True)
class PoolState:
    """A pool's limit as the instance holds it."""

    limit: int | None
    from_default: bool


@dataclass(frozen=True)
class Change:
    """One applied change (or a decision to leave a pool as it is, ``changed=False``)."""

    pool: str
    before: PoolState
    after: int
    changed: bool
    reason: str
    change_id: int | None = None


class CapacityError(ValueError):
    """A change that would leave the configured bounds, or a revert of an unknown change."""


class PoolAllocator:
    """Applies pool limits through the instance and keeps the change log."""

    def __init__(self, storage: PoolStorage, store: CoordinationStore) -> None:
        self.storage = storage
        self.store = store
        store.create_tables(capacity_metadata)

    def state(self, pool: str) -> PoolState:
        """The pool's limit now (``limit=None`` when the instance has none for it)."""
        for p in self.storage.get_pool_limits():
            if p.name == pool:
                return PoolState(int(p.limit), bool(p.from_default))
        return PoolState(None, False)

    def limits(self) -> dict[str, PoolState]:
        """Every pool the instance holds a limit for."""
        return {
            p.name: PoolState(int(p.limit), bool(p.from_default))
            for p in self.storage.get_pool_limits()
        }

    def apply(
        self,
        recommendations: Iterable[Recommendation],
        bounds: dict[str, Bounds],
        *,
        run_id: str | None = None,
    ) -> list[Change]:
        """Set each recommended pool's limit; a pool already at its recommendation is left
        alone (and not logged). A recommendation outside its pool's bounds is refused whole,
        before anything changes."""
        recs = list(recommendations)
        for r in recs:
            b = bounds.get(r.name)
            if b is None or not b.low <= r.limit <= b.high:
                raise CapacityError(
                    f"pool {r.name!r}: limit {r.limit} is outside its configured bounds "
                    f"{'none' if b is None else f'{b.low}..{b.high}'}"
                )
        out: list[Change] = []
        for r in recs:
            before = self.state(r.name)
            if before.limit == r.limit:  # already there (explicitly or by default)
                out.append(Change(r.name, before, r.limit, False, r.reason))
                continue
            self.storage.set_concurrency_slots(r.name, r.limit)
            evidence = {"demand": round(r.demand, 4), "peak_hour": r.peak_hour}
            cid = self._log(r.name, before, r.limit, "apply", None, r.reason, evidence, run_id)
            out.append(Change(r.name, before, r.limit, True, r.reason, cid))
        return out

    def revert(self, change_id: int | None = None, *, pool: str | None = None) -> Change:
        """Restore what a change replaced: ``change_id``, or the latest applied change of
        ``pool``. A pool that had the instance's default limit gets the default back."""
        with self.store.read() as conn:
            q = sa.select(changes_table).where(changes_table.c.kind == "apply")
            if change_id is not None:
                q = q.where(changes_table.c.change_id == change_id)
            elif pool is not None:
                q = q.where(changes_table.c.pool == pool)
            row = conn.execute(q.order_by(changes_table.c.change_id.desc()).limit(1)).first()
        if row is None:
            raise CapacityError(
                f"no applied change {change_id if change_id is not None else f'of pool {pool!r}'}"
            )
        before = self.state(row.pool)
        if row.previous_from_default:  # back to following the instance's default limit
            self.storage.delete_concurrency_limit(row.pool)
            self.storage.initialize_concurrency_limit_to_default(row.pool)
        elif row.previous_limit is None:
            self.storage.delete_concurrency_limit(row.pool)
        else:
            self.storage.set_concurrency_slots(row.pool, int(row.previous_limit))
        after = self.state(row.pool)
        reason = f"revert of change {row.change_id} ({row.reason})"
        new = after.limit if after.limit is not None else 0
        cid = self._log(row.pool, before, new, "revert", row.change_id, reason, None, None)
        return Change(row.pool, before, new, True, reason, cid)

    def history(self, pool: str | None = None) -> pd.DataFrame:
        """The change log, newest first."""
        q = sa.select(changes_table).order_by(changes_table.c.change_id.desc())
        if pool is not None:
            q = q.where(changes_table.c.pool == pool)
        with self.store.read() as conn:
            return pd.read_sql(q, conn)

    def _log(
        self,
        pool: str,
        before: PoolState,
        new: int,
        kind: str,
        reverts: int | None,
        reason: str,
        evidence: dict[str, Any] | None,
        run_id: str | None,
    ) -> int:
        with self.store.transaction() as conn:
            res = conn.execute(
                changes_table.insert().values(
                    at=utcnow(),
                    pool=pool,
                    previous_limit=before.limit,
                    previous_from_default=before.from_default,
                    new_limit=new,
                    kind=kind,
                    reverts=reverts,
                    reason=reason,
                    evidence=json.loads(json.dumps(evidence)) if evidence else None,
                    run_id=run_id,
                )
            )
            return int(res.inserted_primary_key[0])


__all__ = [
    "CapacityError",
    "Change",
    "PoolAllocator",
    "PoolState",
    "PoolStorage",
    "capacity_metadata",
    "changes_table",
]
