"""Rollout state for assets and sensors: where each gradual rollout stands, kept in the
coordination store (SQLite locally, PostgreSQL in production) beside incidents and breakers.

One row per rollout in ``rollout_states`` (rollout id, step, status, a row version for
compare-and-set, the :class:`~orchestration_project.evolution.rollout.RolloutState` as JSON,
updated at); the table is created with the store's other tables (``create_tables``, checkfirst).
Every step that runs a rolled-out version reads it through :class:`RolloutStates` — the
extraction asks which rule set a page runs — and ``rollout_decisions`` writes it.

It is reached through the ``coordination`` resource every code location already has
(``RolloutStates.of(coordination)``), so a step that reads rollouts needs no new resource key.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import utcnow
from orchestration_project.evolution.rollout import RolloutSpec, RolloutState, start_rollout
from resources.coordination import CoordinationResource

__all__ = ["RolloutStateConflict", "RolloutStates", "rollout_metadata", "rollout_states_table"]

rollout_metadata = sa.MetaData()

rollout_states_table = sa.Table(
    "rollout_states",
    rollout_metadata,
    sa.Column("rollout_id", sa.String(200), primary_key=True),
    sa.Column("step", sa.String(200), nullable=False, index=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("row_version", sa.Integer, nullable=False),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class RolloutStateConflict(RuntimeError):
    """Another writer changed the rollout's state since it was read."""


class RolloutStates:
    """Read and write rollout states in the coordination store.

    Args:
        store: The coordination store.
    """

    def __init__(self, store: CoordinationStore) -> None:
        self.store = store
        store.create_tables(rollout_metadata)

    @classmethod
    def of(cls, coordination: CoordinationResource) -> RolloutStates:
        """The rollout states of the coordination resource's store."""
        return cls(coordination.store())

    def _rows(self, where: Any = None) -> list[Any]:
        q = sa.select(rollout_states_table).order_by(rollout_states_table.c.rollout_id)
        if where is not None:
            q = q.where(where)
        with self.store.read() as conn:
            return list(conn.execute(q).fetchall())

    def get(self, rollout_id: str) -> RolloutState | None:
        """The state of ``rollout_id``, or None when it never started."""
        rows = self._rows(rollout_states_table.c.rollout_id == rollout_id)
        return RolloutState.from_dict(rows[0].state) if rows else None

    def versioned(self, rollout_id: str) -> tuple[RolloutState, int] | None:
        """The state of ``rollout_id`` with its row version (for :meth:`save`)."""
        rows = self._rows(rollout_states_table.c.rollout_id == rollout_id)
        return (RolloutState.from_dict(rows[0].state), rows[0].row_version) if rows else None

    def all(self) -> list[RolloutState]:
        """Every rollout's state, by id."""
        return [RolloutState.from_dict(r.state) for r in self._rows()]

    def active(self, step: str) -> RolloutState | None:
        """The rollout of ``step`` in canary, if any (at most one per step)."""
        for s in self.all():
            if s.spec.step == step and s.active:
                return s
        return None

    def current_version(self, step: str, default: str) -> str:
        """The version of ``step`` outside any canary: the candidate of the latest completed
        rollout of the step, else ``default``."""
        done = [s for s in self.all() if s.spec.step == step and s.status == "completed"]
        if not done:
            return default
        latest = max(done, key=lambda s: s.stage_started_at)
        return latest.current_version

    def save(self, state: RolloutState, *, expected_version: int | None) -> int:
        """Write ``state`` if its row is still at ``expected_version`` (None: it must not exist
        yet); return the new row version.

        Raises:
            RolloutStateConflict: someone else wrote it first.
        """
        now = utcnow()
        values = {
            "step": state.spec.step,
            "status": state.status,
            "state": state.as_dict(),
            "updated_at": now,
        }
        t = rollout_states_table
        with self.store.transaction() as conn:
            if expected_version is None:
                done = conn.execute(
                    self.store.insert_ignore(t).values(
                        rollout_id=state.rollout_id, row_version=1, **values
                    )
                ).rowcount
                new = 1
            else:
                new = expected_version + 1
                done = conn.execute(
                    t.update()
                    .where(t.c.rollout_id == state.rollout_id, t.c.row_version == expected_version)
                    .values(row_version=new, **values)
                ).rowcount
        if done != 1:
            raise RolloutStateConflict(f"rollout {state.rollout_id} was changed concurrently")
        return new

    def start_declared(
        self, specs: Iterable[RolloutSpec], *, now: datetime | None = None
    ) -> list[RolloutState]:
        """Start every declared rollout that has no state yet, unless another rollout of the same
        step is in canary (it starts once that one ends). Returns the rollouts started."""
        started = []
        for spec in specs:
            if self.get(spec.rollout_id) is not None or self.active(spec.step) is not None:
                continue
            state = start_rollout(spec, now=now)
            try:
                self.save(state, expected_version=None)
            except RolloutStateConflict:
                continue  # a concurrent starter won
            started.append(state)
        return started

    def pending(self, specs: Iterable[RolloutSpec]) -> list[RolloutSpec]:
        """Declared rollouts that have not started (and could: no other canary on their step)."""
        return [s for s in specs if self.get(s.rollout_id) is None and self.active(s.step) is None]
