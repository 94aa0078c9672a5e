"""The review queue: configuration changes wait for a person, who approves (and so applies) or
rejects them.

Items live in the coordination store (table ``ops_review_queue``), one per recommendation id
(:mod:`orchestration_project.operations.recommendations`: a hash of kind, subject and proposed
value). Statuses:

- ``pending``: waiting for a reviewer. Proposing it again only refreshes its evidence.
- ``approved``: a reviewer approved it and it is being applied (it stays so only if applying
  failed; approving again retries).
- ``applied``: its setting was written through ``OpsSettings`` (reason naming the item and the
  reviewer), with ``applied_at`` and the value it replaced. Proposing it again changes nothing.
- ``rejected``: proposing it again requeues it only when its evidence grew materially
  (:func:`materially_changed`); the earlier decision is kept in its evidence.
- ``superseded``: a newer proposal for the same setting (another value) replaced it while it
  was pending, so a reviewer never sees two competing values for one setting.

Applying is safe: the kind must be known and the value within the kind's bounds
(:func:`~orchestration_project.operations.recommendations.check_value`), checked when an item
is proposed and again when it is applied. An active remedy override of the same setting
(``ops_overrides``) is marked ``replaced``, so that its recovery rule cannot undo the reviewed
value later.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import utcnow
from orchestration_project.operations.healing import (
    OpsSettings,
    ensure_ops_tables,
    overrides_table,
    review_table,
    settings_table,
)
from orchestration_project.operations.healing.schema import _aware
from orchestration_project.operations.recommendations import (
    Recommendation,
    check_value,
    setting_key,
)

PENDING = "pending"
APPROVED = "approved"
APPLIED = "applied"
REJECTED = "rejected"
SUPERSEDED = "superseded"
# What ``propose`` did: queued a new item, found it pending/applied/rejected, or requeued it.
QUEUED = "queued"
REQUEUED = "requeued"
MATERIAL_GROWTH = 0.5  # a count must grow by half ...
MATERIAL_MIN = 2  # ... and by at least two to reopen a rejected recommendation
ITEM_COLUMNS = [c.name for c in review_table.columns]


@dataclass(frozen=True)
class ReviewItem:
    """One queued change as stored."""

    item_id: str
    kind: str
    subject: str
    proposal: dict[str, Any]
    evidence: dict[str, Any]
    status: str
    created_at: datetime
    decided_at: datetime | None
    reviewer: str | None
    note: str | None
    applied_at: datetime | None


def _item(row: Any) -> ReviewItem:
    d = dict(row._mapping)
    for k in ("created_at", "decided_at", "applied_at"):
        d[k] = _aware(d[k])
    d["proposal"], d["evidence"] = d["proposal"] or {}, d["evidence"] or {}
    return ReviewItem(**d)


def materially_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether ``new`` evidence counts grew enough past ``old`` to ask a reviewer again: some
    count rose by at least half of its old value and by at least two."""
    old_counts, new_counts = old.get("counts") or {}, new.get("counts") or {}
    for key, value in new_counts.items():
        before = old_counts.get(key, 0) or 0
        if value - before >= max(MATERIAL_MIN, math.ceil(MATERIAL_GROWTH * before)):
            return True
    return False


def current_settings(store: CoordinationStore, *, configured: bool = False) -> dict[str, Any]:
    """Every operational setting in force (``ops_settings``) as ``{key: value}``.

    Args:
        store: the coordination store.
        configured: give a setting that an active remedy override holds (``ops_overrides``,
            e.g. a halved ``max_parallel:<job>``) its baseline, the value it returns to: what
            a recommendation should be compared with, not the temporary remedy.
    """
    ensure_ops_tables(store)
    with store.read() as conn:
        rows = conn.execute(sa.select(settings_table.c.key, settings_table.c.value)).fetchall()
        active = (
            conn.execute(
                sa.select(overrides_table.c.key, overrides_table.c.baseline)
                .where(overrides_table.c.status == "active")
                .order_by(overrides_table.c.override_id)
            ).fetchall()
            if configured
            else []
        )
    settings = {r.key: r.value for r in rows}
    settings.update({r.key: r.baseline for r in active if r.baseline is not None})
    return settings


class ReviewQueue:
    """Configuration changes waiting for a person: propose, list, approve (apply), reject.

    Args:
        store: the coordination store.
        clock: the time source (tests use a fixed clock).
    """

    def __init__(self, store: CoordinationStore, *, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.clock = clock
        self.settings = OpsSettings(store)

    # -- reading ----------------------------------------------------------------------------

    def item(self, item_id: str) -> ReviewItem:
        """The item ``item_id``.

        Raises:
            KeyError: if there is none.
        """
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(review_table).where(review_table.c.item_id == item_id)
            ).first()
        if row is None:
            raise KeyError(f"no review item {item_id!r}")
        return _item(row)

    def pending(self) -> list[ReviewItem]:
        """The items waiting for a reviewer, oldest first."""
        q = (
            sa.select(review_table)
            .where(review_table.c.status == PENDING)
            .order_by(review_table.c.created_at, review_table.c.item_id)
        )
        with self.store.read() as conn:
            return [_item(r) for r in conn.execute(q).fetchall()]

    def items(self) -> pd.DataFrame:
        """Every item (columns of ``ops_review_queue``), oldest first."""
        q = sa.select(review_table).order_by(review_table.c.created_at, review_table.c.item_id)
        with self.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q).fetchall()]
        return pd.DataFrame(rows, columns=ITEM_COLUMNS)

    # -- proposing --------------------------------------------------------------------------

    def propose(self, rec: Recommendation) -> str:
        """Queue ``rec`` for review, idempotently.

        Returns:
            ``queued`` (new), ``requeued`` (a rejected item whose evidence grew materially, or
            a superseded one proposed again), or the status of the item that is already there
            and left as it is: ``pending`` (its evidence refreshed), ``approved``, ``applied``,
            ``rejected``.

        Raises:
            ValueError: for an unknown kind or a proposed value outside its bounds.
        """
        proposed = check_value(rec.kind, rec.proposed)
        now = self.clock()
        proposal = {
            "setting": rec.setting,
            "current": rec.current,
            "proposed": proposed,
            "effect": rec.effect,
            "confidence": rec.confidence,
        }
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(review_table).where(review_table.c.item_id == rec.id)
            ).first()
            where_item = review_table.c.item_id == rec.id
            if row is None:
                outcome = QUEUED
                conn.execute(
                    review_table.insert().values(
                        item_id=rec.id,
                        kind=rec.kind,
                        subject=rec.subject,
                        proposal=proposal,
                        evidence=dict(rec.evidence),
                        status=PENDING,
                        created_at=now,
                    )
                )
            elif row.status == PENDING:
                conn.execute(
                    review_table.update()
                    .where(where_item)
                    .values(proposal=proposal, evidence=dict(rec.evidence))
                )
                return PENDING
            elif row.status == SUPERSEDED or (
                row.status == REJECTED and materially_changed(row.evidence or {}, rec.evidence)
            ):
                outcome = REQUEUED
                previous = {
                    "status": row.status,
                    "reviewer": row.reviewer,
                    "note": row.note,
                    "decided_at": str(row.decided_at) if row.decided_at else None,
                    "counts": (row.evidence or {}).get("counts"),
                }
                conn.execute(
                    review_table.update()
                    .where(where_item)
                    .values(
                        proposal=proposal,
                        evidence={**rec.evidence, "previous_decision": previous},
                        status=PENDING,
                        created_at=now,
                        decided_at=None,
                        reviewer=None,
                        note=None,
                    )
                )
            else:
                return str(row.status)
            # One pending value per setting: a newer proposal supersedes older pending ones.
            conn.execute(
                review_table.update()
                .where(
                    review_table.c.kind == rec.kind,
                    review_table.c.subject == rec.subject,
                    review_table.c.status == PENDING,
                    review_table.c.item_id != rec.id,
                )
                .values(status=SUPERSEDED, decided_at=now, note=f"superseded by {rec.id}")
            )
        return outcome

    # -- deciding ---------------------------------------------------------------------------

    def approve(self, item_id: str, reviewer: str, note: str = "") -> ReviewItem:
        """Approve ``item_id`` and apply it: write its setting through ``OpsSettings`` (reason
        naming the item and the reviewer) and record it as ``applied`` with the time, the
        reviewer, the note and the value it replaced.

        Raises:
            KeyError: if there is no such item.
            ValueError: if it is not pending (or approved but not yet applied), its kind is
                unknown or its value is outside the kind's bounds — nothing is changed then.
        """
        if not reviewer:
            raise ValueError("a reviewer must be named")
        item = self.item(item_id)
        if item.status not in (PENDING, APPROVED):
            raise ValueError(f"review item {item_id} is {item.status}, not pending")
        value = check_value(item.kind, item.proposal.get("proposed"))
        key = setting_key(item.kind, item.subject)
        if item.proposal.get("setting") not in (None, key):
            raise ValueError(f"review item {item_id} names setting {item.proposal['setting']!r}")
        now = self.clock()
        reason = f"review {item_id} approved by {reviewer}: {note}"
        # One transaction: claim the item from the status read above (a second reviewer's
        # claim then matches nothing), write the setting, end the override it replaces and
        # record it applied. A crash leaves nothing half done.
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == key)
            ).first()
            before = row[0] if row is not None else None
            claimed = conn.execute(
                review_table.update()
                .where(review_table.c.item_id == item_id, review_table.c.status == item.status)
                .values(
                    status=APPLIED,
                    decided_at=now,
                    reviewer=reviewer,
                    note=note,
                    applied_at=now,
                    proposal={**item.proposal, "applied": value, "replaced": before},
                )
            ).rowcount
            if claimed != 1:
                raise ValueError(f"review item {item_id} was decided meanwhile")
            conn.execute(sa.delete(settings_table).where(settings_table.c.key == key))
            conn.execute(
                settings_table.insert().values(key=key, value=value, changed_at=now, reason=reason)
            )
            conn.execute(
                overrides_table.update()
                .where(overrides_table.c.key == key, overrides_table.c.status == "active")
                .values(
                    status="replaced",
                    ended_at=now,
                    end_reason=f"review {item_id} set {key}={value}",
                )
            )
        return self.item(item_id)

    def reject(self, item_id: str, reviewer: str, note: str = "") -> ReviewItem:
        """Reject a pending ``item_id`` (nothing is applied); it comes back only if its
        evidence grows materially.

        Raises:
            KeyError: if there is no such item.
            ValueError: if it is not pending.
        """
        if not reviewer:
            raise ValueError("a reviewer must be named")
        with self.store.transaction() as conn:
            done = conn.execute(
                review_table.update()
                .where(review_table.c.item_id == item_id, review_table.c.status == PENDING)
                .values(status=REJECTED, decided_at=self.clock(), reviewer=reviewer, note=note)
            ).rowcount
        item = self.item(item_id)  # KeyError if missing
        if done != 1:
            raise ValueError(f"review item {item_id} is {item.status}, not pending")
        return item


__all__ = [
    "APPLIED",
    "APPROVED",
    "ITEM_COLUMNS",
    "PENDING",
    "QUEUED",
    "REJECTED",
    "REQUEUED",
    "SUPERSEDED",
    "ReviewItem",
    "ReviewQueue",
    "current_settings",
    "materially_changed",
]
