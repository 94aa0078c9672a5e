"""Remedies that undo themselves: every setting a remedy changes is an *override* with its
baseline, a recovery rule and an expiry (table ``ops_overrides``).

Kinds and their rules:

| kind | set by | undone when |
|---|---|---|
| ``concurrency`` (``max_parallel:<job>``) | the healer, on a resource-exhaustion failure | one step back (double, never above the baseline) after N successful runs of the job with no resource failure since the last change |
| ``breaker`` (``breaker:<name>``) | a circuit breaker that opened | the breaker closes (cooldown, then a trial call) |
| ``route`` (``route:<host>``) | a step switching a source to the browser (``route_switch``) | that source's HTTP-route breaker closes |
| ``skip_source`` (``skip_source:<host>``) | a step skipping a source (``source_skipped``) | that source's breaker closes |

Every override also expires (``expires_at``, ``overrides:max_lifetime_s``, default 24 h): then
its baseline is restored anyway (concurrency set back, breaker closed). Concurrency has
hysteresis: a lowering starts a new override row and a restore step starts another, each
counting quiet runs only from its own start, and a resource failure resets the count. A
concurrency setting someone changed by hand (its reason no longer names the override) ends the
override as ``replaced``: the rule never overwrites an operator. N is ``overrides:quiet_runs``
(default 3); both settings live in :class:`~.schema.OpsSettings`.

Quiet runs are counted in the Dagster run storage's own order (runs created after a watermark
run), not by clock time, so a healer on a test clock and the run storage agree.
:meth:`Overrides.evaluate` applies every rule; the healer calls it at the end of
:meth:`~.healer.Healer.check_recoveries`, which the remedy sensor runs on every tick.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import utcnow
from orchestration_project.operations.healing.breakers import CircuitBreakers
from orchestration_project.operations.healing.opevents import ROUTE_SWITCH, SOURCE_SKIPPED
from orchestration_project.operations.healing.schema import (
    OpsSettings,
    _aware,
    actions_table,
    breakers_table,
    ensure_ops_tables,
    op_events_table,
    overrides_table,
    settings_table,
)

CONCURRENCY = "concurrency"
BREAKER = "breaker"
ROUTE = "route"
SKIP_SOURCE = "skip_source"
OVERRIDE_KINDS = (CONCURRENCY, BREAKER, ROUTE, SKIP_SOURCE)
ACTIVE, RESTORED, EXPIRED, REPLACED = "active", "restored", "expired", "replaced"
RESTORE_CONCURRENCY = "restore_concurrency"  # the incident action of each restore step
QUIET_RUNS_KEY = "overrides:quiet_runs"
MAX_LIFETIME_KEY = "overrides:max_lifetime_s"
DEFAULT_QUIET_RUNS = 3
DEFAULT_MAX_LIFETIME = timedelta(hours=24)
_EVENT_CURSOR_KEY = "overrides:op_events_cursor"
OVERRIDE_COLUMNS = [c.name for c in overrides_table.columns]


@dataclass(frozen=True)
class ConcurrencyChange:
    """What :meth:`Overrides.lower_concurrency` did."""

    job: str
    before: int
    after: int
    baseline: int
    override_id: int
    expires_at: datetime


def newest_run_id(instance: dg.DagsterInstance) -> str | None:
    """The newest run of ``instance`` (a watermark: runs after it were created later)."""
    recs = instance.get_run_records(limit=1)
    return recs[0].dagster_run.run_id if recs else None


def _tag(override_id: int) -> str:
    """The start of the settings reason that marks a value as this override's."""
    return f"override {override_id}:"


def _set(conn: sa.Connection, key: str, value: Any, now: datetime, reason: str) -> None:
    conn.execute(sa.delete(settings_table).where(settings_table.c.key == key))
    conn.execute(
        settings_table.insert().values(key=key, value=value, changed_at=now, reason=reason)
    )


def _setting(conn: sa.Connection, key: str) -> Any:
    return conn.execute(sa.select(settings_table).where(settings_table.c.key == key)).first()


def _end(conn: sa.Connection, override_id: int, status: str, why: str, now: datetime) -> bool:
    """End an active override; False when another process ended it first."""
    res = conn.execute(
        overrides_table.update()
        .where(overrides_table.c.override_id == override_id, overrides_table.c.status == ACTIVE)
        .values(status=status, ended_at=now, end_reason=why[:2000])
    )
    return res.rowcount == 1


def _active_row(conn: sa.Connection, key: str) -> Any:
    return conn.execute(
        sa.select(overrides_table)
        .where(overrides_table.c.key == key, overrides_table.c.status == ACTIVE)
        .order_by(overrides_table.c.override_id.desc())
    ).first()


class Overrides:
    """The override bookkeeping and its recovery rules, in the coordination store.

    Args:
        store: the coordination store.
        clock: the time source (the healer passes its own).
    """

    def __init__(self, store: CoordinationStore, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        self.settings = OpsSettings(store)
        ensure_ops_tables(store)

    @property
    def quiet_runs(self) -> int:
        """Successful runs without resource exhaustion that earn one restore step (N)."""
        return max(1, int(self.settings.get(QUIET_RUNS_KEY, DEFAULT_QUIET_RUNS)))

    @property
    def max_lifetime(self) -> timedelta:
        """How long any override may last before its baseline is restored anyway."""
        default = DEFAULT_MAX_LIFETIME.total_seconds()
        return timedelta(seconds=float(self.settings.get(MAX_LIFETIME_KEY, default)))

    # -- reading ----------------------------------------------------------------------------

    def all(
        self, *, statuses: Iterable[str] | None = None, incident_id: str | None = None
    ) -> pd.DataFrame:
        """Overrides (columns :data:`OVERRIDE_COLUMNS`), oldest first."""
        q = sa.select(overrides_table).order_by(overrides_table.c.override_id)
        if statuses is not None:
            q = q.where(overrides_table.c.status.in_(list(statuses)))
        if incident_id is not None:
            q = q.where(overrides_table.c.incident_id == incident_id)
        with self.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        df = pd.DataFrame(rows, columns=OVERRIDE_COLUMNS)
        for c in ("set_at", "expires_at", "ended_at"):
            df[c] = pd.to_datetime(df[c], utc=True)
        return df

    def active(self) -> pd.DataFrame:
        """The overrides in force now."""
        return self.all(statuses=[ACTIVE])

    # -- concurrency ------------------------------------------------------------------------

    def lower_concurrency(
        self,
        conn: sa.Connection,
        job: str,
        *,
        incident_id: str,
        watermark: str | None,
        now: datetime,
    ) -> ConcurrencyChange:
        """Halve ``job``'s concurrency (never below 1) inside the caller's transaction, as a
        new active override that replaces any earlier one (keeping its baseline).

        Args:
            conn: the healer's open transaction.
            job: the job whose ``max_parallel:<job>`` setting is lowered.
            incident_id: the incident whose remedy this is.
            watermark: the newest run now (:func:`newest_run_id`): quiet runs count after it.
            now: the time of the change.
        """
        key = f"max_parallel:{job}"
        row, current_row = _active_row(conn, key), _setting(conn, key)
        if row is not None and not _owned(current_row, row.override_id):
            _end(conn, row.override_id, REPLACED, _hand_change(current_row), now)
            row = None
        default = _setting(conn, f"default_parallel:{job}")
        current = int(
            (current_row.value if current_row is not None else None)
            or (default.value if default is not None else None)
            or 4
        )
        baseline = int(row.baseline) if row is not None else current
        lowered = max(1, current // 2)
        expires = now + self.max_lifetime
        why = f"incident {incident_id}: resource exhaustion, {current} -> {lowered}"
        new_id = self._insert(
            conn,
            key=key,
            kind=CONCURRENCY,
            value=lowered,
            baseline=baseline,
            reason=why,
            incident_id=incident_id,
            set_at=now,
            expires_at=expires,
            rule={"quiet_runs": self.quiet_runs, "after_run_id": watermark, "step": "double"},
        )
        if row is not None:
            _end(conn, row.override_id, REPLACED, f"lowered again by incident {incident_id}", now)
        _set(conn, key, lowered, now, f"{_tag(new_id)} {why}")
        return ConcurrencyChange(job, current, lowered, baseline, new_id, expires)

    def reset_quiet_count(
        self, conn: sa.Connection, job: str, *, watermark: str | None, why: str
    ) -> bool:
        """A resource failure that did not lower ``job``'s concurrency (its incident was
        escalated) still restarts the quiet-run count of its active override."""
        row = _active_row(conn, f"max_parallel:{job}")
        if row is None:
            return False
        rule = {**(row.rule or {}), "after_run_id": watermark, "reset_by": why[:300]}
        conn.execute(
            overrides_table.update()
            .where(overrides_table.c.override_id == row.override_id)
            .values(rule=rule)
        )
        return True

    def _insert(self, conn: sa.Connection, **values: Any) -> int:
        res = conn.execute(overrides_table.insert().values(status=ACTIVE, **values))
        return int(res.inserted_primary_key[0])

    # -- the rules --------------------------------------------------------------------------

    def evaluate(self, instance: dg.DagsterInstance) -> list[dict[str, Any]]:
        """Apply every recovery rule and expiry once; returns what changed (one dict per
        override recorded, restored, expired or replaced, with its reason)."""
        changes = self._sync_breakers()
        for row in self._active_rows(CONCURRENCY):
            change = self._evaluate_concurrency(instance, row)
            if change is not None:
                changes.append(change)
        return changes

    def _active_rows(self, *kinds: str) -> list[Any]:
        with self.store.read() as conn:
            return conn.execute(
                sa.select(overrides_table)
                .where(overrides_table.c.status == ACTIVE, overrides_table.c.kind.in_(kinds))
                .order_by(overrides_table.c.override_id)
            ).fetchall()

    def _evaluate_concurrency(self, instance: dg.DagsterInstance, row: Any) -> dict | None:
        now = self.clock()
        job = row.key.split(":", 1)[1]
        after_run = (row.rule or {}).get("after_run_id")
        quiet = 0
        if now < _aware(row.expires_at):
            quiet = len(
                instance.get_run_records(
                    dg.RunsFilter(job_name=job, statuses=[dg.DagsterRunStatus.SUCCESS]),
                    cursor=after_run,
                    ascending=True,
                )
            )
            if quiet < self.quiet_runs:
                return None
        watermark = newest_run_id(instance)
        with self.store.transaction() as conn:
            current = _setting(conn, row.key)
            if not _owned(current, row.override_id):
                why = _hand_change(current)
                return self._ended(conn, row, REPLACED, why, now)
            value, baseline = int(row.value), int(row.baseline)
            if now >= _aware(row.expires_at):
                status, after = EXPIRED, baseline
                why = f"expired at {_aware(row.expires_at):%Y-%m-%d %H:%M} UTC: baseline restored"
            else:
                status, after = RESTORED, min(baseline, value * 2)
                why = (
                    f"{quiet} successful run(s) of {job} without resource exhaustion since the "
                    f"last change: {value} -> {after}"
                    + (" (baseline)" if after == baseline else f" (baseline {baseline})")
                )
            if not _end(conn, row.override_id, status, why, now):
                return None
            tag = f"override {row.override_id} {status}: {why}"
            if after < baseline:
                new_id = self._insert(
                    conn,
                    key=row.key,
                    kind=CONCURRENCY,
                    value=after,
                    baseline=baseline,
                    reason=f"restore step of override {row.override_id}",
                    incident_id=row.incident_id,
                    set_at=now,
                    expires_at=row.expires_at,
                    rule={
                        **(row.rule or {}),
                        "quiet_runs": self.quiet_runs,
                        "after_run_id": watermark,
                        "reset_by": None,
                    },
                )
                tag = f"{_tag(new_id)} restore step ({why})"
            _set(conn, row.key, after, now, tag)
            if row.incident_id:
                conn.execute(
                    actions_table.insert().values(
                        incident_id=row.incident_id,
                        at=now,
                        action=RESTORE_CONCURRENCY,
                        status="done",
                        detail={
                            "job": job,
                            "before": value,
                            "value": after,
                            "baseline": baseline,
                            "override_id": int(row.override_id),
                            "outcome": status,
                            "reason": why,
                        },
                    )
                )
        return {"override_id": row.override_id, "key": row.key, "status": status, "reason": why}

    @staticmethod
    def _ended(conn: sa.Connection, row: Any, status: str, why: str, now: datetime) -> dict | None:
        if not _end(conn, row.override_id, status, why, now):
            return None
        return {"override_id": row.override_id, "key": row.key, "status": status, "reason": why}

    # -- breakers, route switches and skipped sources ----------------------------------------

    def _sync_breakers(self) -> list[dict[str, Any]]:
        """Record an override for every open breaker and for every route switch or skipped
        source (``ops_events``) whose breaker is still open; end those whose breaker closed;
        expire (closing the breaker) those past their lifetime."""
        now = self.clock()
        cooldown = CircuitBreakers(self.store).cooldown.total_seconds()
        lifetime = self.max_lifetime
        changes: list[dict[str, Any]] = []
        with self.store.transaction() as conn:
            breakers = {r.name: r for r in conn.execute(sa.select(breakers_table))}
            open_now = {n: r for n, r in breakers.items() if r.state in ("open", "half_open")}
            cursor = _setting(conn, _EVENT_CURSOR_KEY)
            events = conn.execute(
                sa.select(op_events_table)
                .where(
                    op_events_table.c.kind.in_([ROUTE_SWITCH, SOURCE_SKIPPED]),
                    op_events_table.c.event_id > int(cursor.value if cursor is not None else 0),
                )
                .order_by(op_events_table.c.event_id)
            ).fetchall()
            wanted: dict[str, dict[str, Any]] = {}
            for name, r in open_now.items():
                at = _aware(r.opened_at) or now
                wanted[f"breaker:{name}"] = {
                    "kind": BREAKER,
                    "value": "open",
                    "baseline": "closed",
                    "reason": f"breaker {name} opened: {(r.reason or '')[:300]}",
                    "set_at": at,
                    "expires_at": at + lifetime,
                    "rule": {"breaker_cooldown_s": cooldown, "breaker": name},
                }
            for ev in events:
                spec = _event_override(ev, cooldown, lifetime)
                if spec is not None and spec["rule"]["breaker"] in open_now:
                    wanted.setdefault(spec.pop("key"), spec)
            for key, spec in wanted.items():
                if _active_row(conn, key) is None:
                    oid = self._insert(conn, key=key, incident_id=None, **spec)
                    changes.append({"override_id": oid, "key": key, "status": ACTIVE})
            if events:
                _set(conn, _EVENT_CURSOR_KEY, int(events[-1].event_id), now, "overrides")
            active = conn.execute(
                sa.select(overrides_table).where(
                    overrides_table.c.status == ACTIVE,
                    overrides_table.c.kind.in_([BREAKER, ROUTE, SKIP_SOURCE]),
                )
            ).fetchall()
            expired: dict[str, str] = {}  # breaker -> why, closed because an override expired
            for row in active:
                name = (row.rule or {}).get("breaker", "")
                if name not in expired and name in open_now and now >= _aware(row.expires_at):
                    expired[name] = (
                        f"expired at {_aware(row.expires_at):%Y-%m-%d %H:%M} UTC: "
                        f"breaker {name} closed, baseline restored"
                    )
                    _close_breaker(conn, name, now, expired[name])
                if name in expired:
                    change = self._ended(conn, row, EXPIRED, expired[name], now)
                elif name not in open_now:
                    why = f"breaker {name} closed: a trial call after its cooldown succeeded"
                    change = self._ended(conn, row, RESTORED, why, now)
                else:
                    change = None
                if change is not None:
                    changes.append(change)
        return changes


def _event_override(ev: Any, cooldown: float, lifetime: timedelta) -> dict[str, Any] | None:
    """The override a route switch or skipped source stands for (None: not a source event).
    The breaker is the event's ``detail["breaker"]`` or, by the canary's naming,
    ``route:http:<host>`` for a route switch and ``source:<host>`` for a skipped source."""
    detail = dict(ev.detail or {})
    host = ev.subject
    at = _aware(ev.at)
    if ev.kind == ROUTE_SWITCH:
        kind, value, baseline = ROUTE, detail.get("to", "browser"), detail.get("from", "http")
        breaker = detail.get("breaker") or f"route:http:{host}"
    elif ev.kind == SOURCE_SKIPPED:
        kind, value, baseline = SKIP_SOURCE, "skipped", "fetched"
        breaker = detail.get("breaker") or f"source:{host}"
    else:
        return None
    return {
        "key": f"{kind}:{host}",
        "kind": kind,
        "value": value,
        "baseline": baseline,
        "reason": f"{ev.kind} of {host} while breaker {breaker} is open",
        "set_at": at,
        "expires_at": at + lifetime,
        "rule": {"breaker_cooldown_s": cooldown, "breaker": breaker},
    }


def _close_breaker(conn: sa.Connection, name: str, now: datetime, why: str) -> None:
    """Close breaker ``name`` (an expired override restores its baseline anyway)."""
    conn.execute(
        breakers_table.update()
        .where(breakers_table.c.name == name)
        .values(state="closed", failures=[], opened_at=None, changed_at=now, reason=why[:2000])
    )


def _owned(setting: Any, override_id: int) -> bool:
    """Whether the stored setting is still the one override ``override_id`` wrote."""
    return setting is not None and (setting.reason or "").startswith(_tag(override_id))


def _hand_change(setting: Any) -> str:
    if setting is None:
        return "setting removed by hand; the override no longer applies"
    return f"changed by hand to {setting.value!r} ({setting.reason or 'no reason given'})"


def overrides_markdown(
    df: pd.DataFrame, *, limit: int = 30, empty: str = "(no active overrides)"
) -> str:
    """Overrides (the last ``limit``) as a Markdown table: key, value, baseline, status, since,
    expiry, rule, reason and incident; ``empty`` when there are none."""
    if df.empty:
        return empty
    view = pd.DataFrame(
        {
            "key": df["key"],
            "kind": df["kind"],
            "value": df["value"].astype(str),
            "baseline": df["baseline"].astype(str),
            "status": df["status"],
            "since": df["set_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "expires": df["expires_at"].dt.strftime("%Y-%m-%d %H:%M"),
            "rule": [_rule_text(r) for r in df["rule"]],
            "reason": df["reason"].fillna("").str.slice(0, 120),
            "incident": df["incident_id"].fillna(""),
        }
    )
    return view.tail(limit).to_markdown(index=False)


def _rule_text(rule: Any) -> str:
    rule = dict(rule or {})
    if "breaker_cooldown_s" in rule:
        return f"ends when {rule.get('breaker')} closes (cooldown {rule['breaker_cooldown_s']:g} s)"
    if "quiet_runs" in rule:
        return f"x2 after {rule['quiet_runs']} quiet runs"
    return str(rule)


__all__ = [
    "ACTIVE",
    "BREAKER",
    "CONCURRENCY",
    "DEFAULT_MAX_LIFETIME",
    "DEFAULT_QUIET_RUNS",
    "EXPIRED",
    "MAX_LIFETIME_KEY",
    "OVERRIDE_COLUMNS",
    "OVERRIDE_KINDS",
    "QUIET_RUNS_KEY",
    "REPLACED",
    "RESTORED",
    "RESTORE_CONCURRENCY",
    "ROUTE",
    "SKIP_SOURCE",
    "ConcurrencyChange",
    "Overrides",
    "newest_run_id",
    "overrides_markdown",
]
