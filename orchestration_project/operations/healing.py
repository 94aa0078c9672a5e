"""Incident response and self-healing: incidents, remedies, circuit breakers, settings.

A failed run opens an incident (or joins the open incident of its root run, when it was itself
a recovery attempt). Its failure is classified from the error events of its event log
(``orchestration_project.operations.failures``) and a remedy is chosen by class:

| class | remedy |
|---|---|
| transient_network, timeout | re-execute from failure after an exponential backoff |
| resource_exhaustion | lower the job's concurrency, then re-execute from failure with backoff |
| bad_input, upstream_data, code_error | escalate to a human (no retry can fix them) |

After ``max_attempts`` re-executions an incident is escalated too. A non-blocking asset check
that fails in a run that succeeded opens an ``asset_check`` incident (``upstream_data``,
escalated), recovered when a later evaluation of the check passes. A re-execution that
succeeds is verified: every asset check it ran must have passed (counts against upstream, no
duplicate keys, references intact), and only then is the incident *recovered*. Every step of
this is an action row with a time, so a post-incident report can show the timeline, the time to
detect and the time to recover.

Circuit breakers guard sources and routes: steps record failures and successes; after
``failure_threshold`` failures within ``window`` a breaker opens, callers skip the source or
switch to another route, and after ``cooldown`` one trial call is let through (half-open); its
success closes the breaker.

The state lives in the coordination store (SQLite locally, PostgreSQL in production), not in the
warehouse, so a locked or corrupt warehouse cannot stop incident response.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import aware, utcnow
from orchestration_project.operations.failures import (
    BAD_INPUT,
    CODE,
    RESOURCE,
    TIMEOUT,
    TRANSIENT,
    UPSTREAM,
    classify_failure,
    root_error,
)

ops_metadata = sa.MetaData()

incidents_table = sa.Table(
    "ops_incidents",
    ops_metadata,
    sa.Column("incident_id", sa.String(80), primary_key=True),
    sa.Column("source", sa.String(40), nullable=False),  # run_failure | alert | asset_check
    sa.Column("subject_kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("job_name", sa.String(300)),
    sa.Column("root_run_id", sa.String(80), unique=True),
    sa.Column("step_key", sa.String(300)),
    sa.Column("failure_class", sa.String(40)),
    sa.Column("error_class", sa.String(200)),
    sa.Column("message", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recovered_at", sa.DateTime(timezone=True)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("consistency", sa.String(20)),
    sa.Column("report_path", sa.String(1000)),
)

actions_table = sa.Table(
    "ops_incident_actions",
    ops_metadata,
    sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(80), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # done | planned | launched | failed
    sa.Column("due_at", sa.DateTime(timezone=True)),
    sa.Column("run_id", sa.String(80)),
    sa.Column("detail", sa.JSON),
    sa.UniqueConstraint("incident_id", "action", "run_id", name="uq_action_per_run"),
)

breakers_table = sa.Table(
    "ops_circuit_breakers",
    ops_metadata,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),  # closed | open | half_open
    sa.Column("failures", sa.JSON, nullable=False),  # recent failure times (ISO)
    sa.Column("opened_at", sa.DateTime(timezone=True)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text),
)

settings_table = sa.Table(
    "ops_settings",
    ops_metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text),
)

REEXECUTE = "reexecute_from_failure"
LOWER_CONCURRENCY = "lower_concurrency"
ESCALATE = "escalate"
REMEDY_BY_CLASS: dict[str, str] = {
    TRANSIENT: REEXECUTE,
    TIMEOUT: REEXECUTE,
    RESOURCE: LOWER_CONCURRENCY,
    BAD_INPUT: ESCALATE,
    UPSTREAM: ESCALATE,
    CODE: ESCALATE,
}
INCIDENT_TAG = "orchestration/incident"
ACTION_TAG = "orchestration/remedy_action"
ROOT_TAG = "orchestration/root_run_id"  # the original run of a recovery launched by a sensor
OPEN_STATUSES = ("open", "remediating")
CHECK_SCAN_FIRST_LOOKBACK = timedelta(days=1)


def _aware(d: datetime | None) -> datetime | None:
    """``aware`` that also reads a missing value (NaT from a DataFrame) as None."""
    return None if d is None or pd.isna(d) else aware(d)


def logical_root_run_id(run: dg.DagsterRun) -> str:
    """The run a recovery belongs to: Dagster's root run, or for a recovery launched by the
    remedy sensor (a new run, not a Dagster re-execution) the root it names in its tags."""
    return run.tags.get(ROOT_TAG) or run.root_run_id or run.run_id


def ensure_ops_tables(store: CoordinationStore) -> None:
    """Create the incident, action, breaker and settings tables if missing."""
    store.create_tables(ops_metadata)


# ---------------------------------------------------------------------------------------------
# Settings and circuit breakers
# ---------------------------------------------------------------------------------------------


class OpsSettings:
    """Small operational settings the healer changes and steps obey (e.g. concurrency)."""

    def __init__(self, store: CoordinationStore) -> None:
        self.store = store
        ensure_ops_tables(store)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` or ``default``."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == key)
            ).first()
        return default if row is None else row[0]

    def set(self, key: str, value: Any, *, reason: str = "") -> None:
        """Set ``key`` (insert or replace)."""
        with self.store.transaction() as conn:
            conn.execute(sa.delete(settings_table).where(settings_table.c.key == key))
            conn.execute(
                settings_table.insert().values(
                    key=key, value=value, changed_at=utcnow(), reason=reason
                )
            )

    def max_parallel(self, job_name: str, default: int) -> int:
        """The concurrency a job's fan-out may use: its own ``default``, capped by the healer
        under resource exhaustion. The default is remembered, so the healer halves what the
        job really uses."""
        if self.get(f"default_parallel:{job_name}") != default:
            self.set(f"default_parallel:{job_name}", default, reason="observed")
        return int(min(default, self.get(f"max_parallel:{job_name}", default)))


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
            return state

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


# ---------------------------------------------------------------------------------------------
# Reading failures from the event log
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFailure:
    """The first error of a failed run, classified."""

    run_id: str
    root_run_id: str
    job_name: str
    step_key: str | None
    error_class: str
    message: str
    failure_class: str
    at: datetime


def read_run_failure(instance: dg.DagsterInstance, run_id: str) -> RunFailure:
    """The first step failure (else the run failure) of ``run_id``, with its class."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise KeyError(f"no run {run_id}")
    ET = dg.DagsterEventType
    first: tuple[Any, Any] | None = None
    run_fail: tuple[Any, Any] | None = None
    for rec in instance.all_logs(run_id, of_type={ET.STEP_FAILURE, ET.RUN_FAILURE}):
        ev = rec.dagster_event
        if ev is None:
            continue
        if ev.event_type == ET.STEP_FAILURE and first is None:
            first = (rec, ev)
        elif ev.event_type == ET.RUN_FAILURE:
            run_fail = (rec, ev)
    rec, ev = first or run_fail or (None, None)
    if rec is None:
        # A run marked failed with no failure event (e.g. its worker died): the run record.
        record = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))[0]
        at = record.end_time or record.update_timestamp.timestamp()
        cls, msg, step = "RunWorkerLost", "run failed without a failure event", None
    else:
        err = root_error(getattr(ev.event_specific_data, "error", None))
        cls = (err.cls_name if err else None) or "unknown"
        msg = ((err.message if err else ev.message) or "").strip()
        at, step = rec.timestamp, ev.step_key
        if ev.event_type == ET.RUN_FAILURE and err is None:
            cls = "RunFailure"
    kind = classify_failure(cls, msg)
    return RunFailure(
        run_id=run_id,
        root_run_id=logical_root_run_id(run),
        job_name=run.job_name,
        step_key=step,
        error_class=cls,
        message=msg[:2000],
        failure_class=kind.failure_class,
        at=datetime.fromtimestamp(at, UTC),
    )


def unfinished_assets(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetKey]:
    """Assets planned in ``run_id`` but not materialised: what a re-execution from failure
    must produce."""
    ET = dg.DagsterEventType
    planned: list[dg.AssetKey] = []
    done: set[dg.AssetKey] = set()
    for rec in instance.all_logs(
        run_id, of_type={ET.ASSET_MATERIALIZATION_PLANNED, ET.ASSET_MATERIALIZATION}
    ):
        ev = rec.dagster_event
        if ev is None or ev.asset_key is None:
            continue
        if ev.event_type == ET.ASSET_MATERIALIZATION_PLANNED:
            planned.append(ev.asset_key)
        else:
            done.add(ev.asset_key)
    return [k for k in dict.fromkeys(planned) if k not in done]


def check_outcomes(instance: dg.DagsterInstance, run_id: str) -> tuple[int, list[str]]:
    """(checks evaluated, names of the failed ones) in ``run_id``."""
    ET = dg.DagsterEventType
    n, failed = 0, []
    for rec in instance.all_logs(run_id, of_type={ET.ASSET_CHECK_EVALUATION}):
        data = rec.dagster_event.event_specific_data
        n += 1
        if not data.passed:
            failed.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    return n, failed


# ---------------------------------------------------------------------------------------------
# The healer
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemedyPolicy:
    """How hard the healer tries.

    Attributes:
        max_attempts: re-executions per incident before escalating.
        backoff_base_s: delay before the first re-execution.
        backoff_factor: multiplier per further attempt.
        backoff_max_s: the longest delay.
        jitter: +/- share of random jitter (deterministic per incident and attempt).
    """

    max_attempts: int = 4
    backoff_base_s: float = 20.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 240.0
    jitter: float = 0.2

    def delay_s(self, attempt: int, salt: str = "") -> float:
        """Backoff before re-execution number ``attempt`` (1-based)."""
        base = min(self.backoff_base_s * self.backoff_factor ** (attempt - 1), self.backoff_max_s)
        r = random.Random(int(hashlib.sha256(f"{salt}:{attempt}".encode()).hexdigest()[:8], 16))
        return base * (1 + self.jitter * (2 * r.random() - 1))


@dataclass
class Incident:
    """One incident as stored."""

    incident_id: str
    source: str
    subject_kind: str
    subject: str
    job_name: str | None
    root_run_id: str | None
    step_key: str | None
    failure_class: str | None
    error_class: str | None
    message: str | None
    status: str
    severity: str
    failure_at: datetime
    detected_at: datetime
    recovered_at: datetime | None
    closed_at: datetime | None
    attempts: int
    consistency: str | None
    report_path: str | None

    @property
    def time_to_detect_s(self) -> float:
        """Seconds from the failure to its detection."""
        return (self.detected_at - self.failure_at).total_seconds()

    @property
    def time_to_recover_s(self) -> float | None:
        """Seconds from the failure to a verified recovery (None if not recovered)."""
        if self.recovered_at is None:
            return None
        return (self.recovered_at - self.failure_at).total_seconds()


def _incident(row: Any) -> Incident:
    d = dict(row._mapping)
    for k in ("failure_at", "detected_at", "recovered_at", "closed_at"):
        d[k] = _aware(d[k])
    return Incident(**d)


Notify = Callable[[dict[str, Any]], None]


class Healer:
    """Opens incidents for failed runs, applies remedies by failure class and verifies
    recoveries. Driven by the run-failure and remedy sensors, or by :meth:`poll` in-process.

    Args:
        store: the coordination store holding incident state.
        policy: retry and backoff policy.
        notify: called with a dict for every incident opened, escalated or recovered (the
            alerting resource delivers it).
        clock: the time source (tests use a fixed clock).
    """

    def __init__(
        self,
        store: CoordinationStore,
        *,
        policy: RemedyPolicy | None = None,
        notify: Notify | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.policy = policy or RemedyPolicy()
        self.notify = notify or (lambda _event: None)
        self.clock = clock
        self.settings = OpsSettings(store)
        self.scan_cursor: float | None = None  # newest run update seen by scan_checks
        ensure_ops_tables(store)

    # -- records ----------------------------------------------------------------------------

    def incident(self, incident_id: str) -> Incident:
        """The incident ``incident_id``."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(incidents_table).where(incidents_table.c.incident_id == incident_id)
            ).first()
        if row is None:
            raise KeyError(incident_id)
        return _incident(row)

    def incidents(self, *, statuses: Iterable[str] | None = None) -> list[Incident]:
        """Every incident (optionally only those with one of ``statuses``), oldest first."""
        q = sa.select(incidents_table).order_by(incidents_table.c.failure_at)
        if statuses is not None:
            q = q.where(incidents_table.c.status.in_(list(statuses)))
        with self.store.read() as conn:
            return [_incident(r) for r in conn.execute(q).fetchall()]

    def actions(self, incident_id: str | None = None) -> pd.DataFrame:
        """Actions (all, or one incident's), in order."""
        q = sa.select(actions_table).order_by(actions_table.c.at, actions_table.c.action_id)
        if incident_id is not None:
            q = q.where(actions_table.c.incident_id == incident_id)
        with self.store.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q).fetchall()]
        df = pd.DataFrame(rows, columns=[c.name for c in actions_table.columns])
        for c in ("at", "due_at"):
            df[c] = pd.to_datetime(df[c], utc=True)
        return df

    def _act(
        self,
        conn: sa.Connection,
        incident_id: str,
        action: str,
        *,
        status: str = "done",
        at: datetime | None = None,
        due_at: datetime | None = None,
        run_id: str | None = None,
        **detail: Any,
    ) -> None:
        conn.execute(
            self.store.insert_ignore(actions_table).values(
                incident_id=incident_id,
                at=at or self.clock(),
                action=action,
                status=status,
                due_at=due_at,
                run_id=run_id,
                detail=json.loads(json.dumps(detail, default=str)),
            )
        )

    def _update(self, conn: sa.Connection, incident_id: str, **values: Any) -> None:
        conn.execute(
            incidents_table.update()
            .where(incidents_table.c.incident_id == incident_id)
            .values(**values)
        )

    # -- failures ---------------------------------------------------------------------------

    def on_run_failure(self, instance: dg.DagsterInstance, run_id: str) -> Incident:
        """Handle the failure of ``run_id``: open or join its incident, classify, remedy.

        Idempotent: handling the same failed run twice changes nothing the second time.
        """
        with self.store.read() as conn:
            handled = conn.execute(
                sa.select(actions_table.c.incident_id).where(
                    actions_table.c.action == "failure_detected", actions_table.c.run_id == run_id
                )
            ).first()
        if handled is not None:  # cheap path: no event-log read for a run already handled
            return self.incident(handled.incident_id)
        self.link_launched_runs(instance)  # a failed recovery run proves its launch
        failure = read_run_failure(instance, run_id)
        now = self.clock()
        incident_id = "inc-" + failure.root_run_id[:13]
        escalation: dict[str, Any] | None = None
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(incidents_table).where(
                    incidents_table.c.root_run_id == failure.root_run_id
                )
            ).first()
            seen = conn.execute(
                sa.select(actions_table.c.action_id).where(
                    actions_table.c.incident_id == incident_id,
                    actions_table.c.action == "failure_detected",
                    actions_table.c.run_id == run_id,
                )
            ).first()
            if seen is not None:
                return _incident(row)
            if row is None:
                conn.execute(
                    incidents_table.insert().values(
                        incident_id=incident_id,
                        source="run_failure",
                        subject_kind="job",
                        subject=failure.job_name,
                        job_name=failure.job_name,
                        root_run_id=failure.root_run_id,
                        step_key=failure.step_key,
                        failure_class=failure.failure_class,
                        error_class=failure.error_class,
                        message=failure.message,
                        status="open",
                        severity="warning",
                        failure_at=failure.at,
                        detected_at=now,
                        attempts=0,
                    )
                )
                attempts = 0
            else:
                attempts = row.attempts
                # The incident's root cause is the first failure; later ones are recorded.
            self._act(
                conn,
                incident_id,
                "failure_detected",
                run_id=run_id,
                at=now,
                step=failure.step_key,
                failure_class=failure.failure_class,
                error_class=failure.error_class,
                message=failure.message[:500],
                failed_at=failure.at.isoformat(),
            )
            remedy = REMEDY_BY_CLASS.get(failure.failure_class, ESCALATE)
            if remedy != ESCALATE and attempts >= self.policy.max_attempts:
                remedy, why = ESCALATE, f"{attempts} re-executions did not recover it"
            else:
                why = f"{failure.failure_class} cannot be fixed by retrying"
            if remedy == LOWER_CONCURRENCY:
                key = f"max_parallel:{failure.job_name}"
                current = int(
                    self.settings.get(key)
                    or self.settings.get(f"default_parallel:{failure.job_name}")
                    or 4
                )
                lowered = max(1, current // 2)
                conn.execute(sa.delete(settings_table).where(settings_table.c.key == key))
                conn.execute(
                    settings_table.insert().values(
                        key=key, value=lowered, changed_at=now, reason=f"incident {incident_id}"
                    )
                )
                self._act(
                    conn,
                    incident_id,
                    LOWER_CONCURRENCY,
                    run_id=run_id,
                    at=now,
                    job=failure.job_name,
                    before=current,
                    after=lowered,
                )
                remedy = REEXECUTE
            if remedy == REEXECUTE:
                delay = self.policy.delay_s(attempts + 1, salt=incident_id)
                self._act(
                    conn,
                    incident_id,
                    REEXECUTE,
                    status="planned",
                    run_id=run_id,
                    at=now,
                    due_at=now + timedelta(seconds=delay),
                    attempt=attempts + 1,
                    backoff_s=round(delay, 2),
                    parent_run_id=run_id,
                )
                self._update(conn, incident_id, status="remediating", attempts=attempts + 1)
            else:
                self._act(conn, incident_id, ESCALATE, run_id=run_id, at=now, reason=why)
                self._update(conn, incident_id, status="escalated", severity="critical")
                escalation = {"reason": why}
        incident = self.incident(incident_id)
        if escalation is not None:
            self._close(incident_id, status="escalated")
            incident = self.incident(incident_id)
            self.notify({"event": "incident_escalated", **_summary(incident), **escalation})
        elif row is None:
            self.notify({"event": "incident_opened", **_summary(incident)})
        return incident

    # -- remedies ---------------------------------------------------------------------------

    def due_reexecutions(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """Planned re-executions whose backoff has passed: action_id, incident_id, parent run."""
        now = now or self.clock()
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(actions_table).where(
                    actions_table.c.action == REEXECUTE, actions_table.c.status == "planned"
                )
            ).fetchall()
        return [
            {
                "action_id": r.action_id,
                "incident_id": r.incident_id,
                "parent_run_id": r.run_id,
                "due_at": _aware(r.due_at),
            }
            for r in rows
            if (_aware(r.due_at) or now) <= now
        ]

    def next_due_at(self) -> datetime | None:
        """When the next planned re-execution is due (None: nothing planned)."""
        with self.store.read() as conn:
            value = conn.execute(
                sa.select(sa.func.min(actions_table.c.due_at)).where(
                    actions_table.c.action == REEXECUTE, actions_table.c.status == "planned"
                )
            ).scalar()
        return _aware(value)

    def mark_launched(self, action_id: int, run_id: str | None) -> None:
        """Record that planned re-execution ``action_id`` was launched as ``run_id``."""
        with self.store.transaction() as conn:
            conn.execute(
                actions_table.update()
                .where(actions_table.c.action_id == action_id)
                .values(status="launched")
            )
            row = conn.execute(
                sa.select(actions_table).where(actions_table.c.action_id == action_id)
            ).first()
            detail = dict(row.detail or {})
            detail["launched_run_id"] = run_id
            detail["launched_at"] = self.clock().isoformat()
            conn.execute(
                actions_table.update()
                .where(actions_table.c.action_id == action_id)
                .values(detail=detail)
            )

    # -- recovery ---------------------------------------------------------------------------

    def check_recoveries(self, instance: dg.DagsterInstance) -> list[Incident]:
        """Close incidents whose latest re-execution succeeded and whose checks all passed."""
        recovered = []
        for inc in self.incidents(statuses=["remediating"]):
            runs = instance.get_run_records(
                dg.RunsFilter(tags={INCIDENT_TAG: inc.incident_id}),
                order_by="create_timestamp",
                ascending=True,
            )
            self._link_launched_runs(runs)
            ok = [r for r in runs if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
            if not ok:
                continue
            rec = ok[-1]
            run_id = rec.dagster_run.run_id
            n_checks, failed = check_outcomes(instance, run_id)
            ended = datetime.fromtimestamp(rec.end_time or rec.update_timestamp.timestamp(), UTC)
            with self.store.transaction() as conn:
                self._act(
                    conn,
                    inc.incident_id,
                    "verify_consistency",
                    run_id=run_id,
                    at=self.clock(),
                    checks=n_checks,
                    failed=failed,
                )
                if failed:
                    self._act(
                        conn,
                        inc.incident_id,
                        ESCALATE,
                        run_id=run_id,
                        reason=f"recovered run failed checks: {', '.join(failed)}",
                    )
                    self._update(
                        conn,
                        inc.incident_id,
                        status="escalated",
                        severity="critical",
                        consistency="failed",
                    )
                else:
                    self._act(conn, inc.incident_id, "recovered", run_id=run_id, at=ended)
                    self._update(
                        conn,
                        inc.incident_id,
                        status="recovered",
                        recovered_at=ended,
                        consistency="passed",
                    )
            self._close(inc.incident_id, status=None)
            done = self.incident(inc.incident_id)
            self.notify(
                {
                    "event": "incident_recovered" if not failed else "incident_escalated",
                    **_summary(done),
                }
            )
            recovered.append(done)
        return recovered

    def link_launched_runs(self, instance: dg.DagsterInstance) -> int:
        """Record as launched every planned re-execution whose run Dagster now has (found by
        its action tag), with the run's id; return how many were linked. The remedy sensor
        calls this first on each tick: an action is *launched* only once its run exists."""
        with self.store.read() as conn:
            pending = conn.execute(
                sa.select(actions_table.c.action_id, actions_table.c.incident_id).where(
                    actions_table.c.action == REEXECUTE, actions_table.c.status == "planned"
                )
            ).fetchall()
        linked = 0
        for action_id, incident_id in pending:
            tags = {ACTION_TAG: str(action_id), INCIDENT_TAG: incident_id}
            runs = instance.get_run_records(dg.RunsFilter(tags=tags), limit=1)
            if runs:
                self.mark_launched(int(action_id), runs[0].dagster_run.run_id)
                linked += 1
        return linked

    def _link_launched_runs(self, runs: list[Any]) -> None:
        """Record the run id of re-executions whose run exists (launched by the remedy
        sensor, which only learns it once the daemon created the run)."""
        for rec in runs:
            action_id = rec.dagster_run.tags.get(ACTION_TAG)
            if not action_id or not action_id.isdigit():
                continue
            with self.store.read() as conn:
                row = conn.execute(
                    sa.select(actions_table).where(actions_table.c.action_id == int(action_id))
                ).first()
            if row is None or (row.detail or {}).get("launched_run_id"):
                continue
            self.mark_launched(int(action_id), rec.dagster_run.run_id)

    def _close(self, incident_id: str, *, status: str | None) -> None:
        with self.store.transaction() as conn:
            values: dict[str, Any] = {"closed_at": self.clock()}
            if status:
                values["status"] = status
            self._update(conn, incident_id, **values)

    # -- alerts -----------------------------------------------------------------------------

    def on_alert(
        self,
        *,
        subject_kind: str,
        subject: str,
        severity: str,
        message: str,
        at: datetime,
        rule: str,
    ) -> Incident | None:
        """A health alert opens an incident for its subject unless one covers it already: an
        open incident about the subject, or a failure incident of that job (or step) that is
        open or was escalated within the last hour (people already know), or a failed-check
        incident of the asset that has not recovered.

        Returns the new incident, or None when one already covers the subject.
        """
        now = self.clock()
        for inc in self.incidents():
            if inc.source not in ("run_failure", "asset_check"):
                continue
            covers = (
                subject_kind == "job" and inc.job_name == subject and inc.source == "run_failure"
            ) or (subject_kind == "asset" and inc.step_key == subject)
            recent = inc.status in OPEN_STATUSES or (
                inc.status == "escalated"
                and (inc.closed_at is None or now - inc.closed_at <= timedelta(hours=1))
            )
            if covers and recent:
                return None
        with self.store.transaction() as conn:
            open_row = conn.execute(
                sa.select(incidents_table.c.incident_id).where(
                    incidents_table.c.subject_kind == subject_kind,
                    incidents_table.c.subject == subject,
                    incidents_table.c.status.in_(OPEN_STATUSES),
                )
            ).first()
            if open_row is not None:
                return None
            incident_id = (
                "alr-" + hashlib.sha256(f"{subject_kind}|{subject}|{at}".encode()).hexdigest()[:8]
            )
            conn.execute(
                self.store.insert_ignore(incidents_table).values(
                    incident_id=incident_id,
                    source="alert",
                    subject_kind=subject_kind,
                    subject=subject,
                    failure_class=None,
                    message=message[:2000],
                    status="open",
                    severity=severity,
                    failure_at=at,
                    detected_at=now,
                    attempts=0,
                )
            )
            self._act(conn, incident_id, "alert_fired", at=now, rule=rule, message=message)
        incident = self.incident(incident_id)
        self.notify({"event": "incident_opened", **_summary(incident)})
        return incident

    def on_alert_resolved(self, *, subject_kind: str, subject: str) -> list[Incident]:
        """Close the open alert incidents of a subject whose alerts stopped firing."""
        now = self.clock()
        closed = []
        for inc in self.incidents(statuses=["open"]):
            if (inc.source, inc.subject_kind, inc.subject) != ("alert", subject_kind, subject):
                continue
            with self.store.transaction() as conn:
                self._act(conn, inc.incident_id, "alert_resolved", at=now)
                self._update(
                    conn, inc.incident_id, status="resolved", recovered_at=now, closed_at=now
                )
            closed.append(self.incident(inc.incident_id))
        return closed

    # -- data checks ------------------------------------------------------------------------

    def scan_checks(
        self, instance: dg.DagsterInstance, *, since: datetime | None = None
    ) -> list[Incident]:
        """Turn failed asset checks of runs that *succeeded* into incidents.

        A non-blocking check (a site that yielded no pages, say) can fail while its run
        succeeds: nothing crashed, but the data is suspect, and without this nobody would know.
        Such a failure opens an ``asset_check`` incident about the asset, classified
        ``upstream_data`` and escalated at once (no retry fixes data that upstream did not
        deliver). It stays escalated, and open for reporting, until a later evaluation of the
        same check passes: then it is *recovered*, and its time to recover is how long the data
        stayed wrong. A check failing again while its incident is open is recorded on it.
        Failed runs are left to :meth:`on_run_failure` (their re-executions' checks are verified
        by :meth:`check_recoveries`).

        Idempotent: runs are read from ``since`` (the caller's cursor less a minute; the remedy
        sensor keeps it in its Dagster sensor cursor; default a day back) and a run already
        scanned adds nothing. After a scan, :attr:`scan_cursor` holds the newest run update
        seen, for the caller to store.

        Returns:
            The incidents opened or recovered by this scan.
        """
        if since is None:
            # Without a cursor a scan looks back a day, not through all the instance's history.
            since = self.clock() - CHECK_SCAN_FIRST_LOOKBACK
        records = instance.get_run_records(
            dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS], updated_after=since),
            order_by="update_timestamp",
            ascending=True,
        )
        if not records:
            return []
        with self.store.read() as conn:
            scanned = {
                r.run_id
                for r in conn.execute(
                    sa.select(actions_table.c.run_id).where(
                        actions_table.c.action.in_(["check_failed", "check_passed"]),
                        actions_table.c.run_id.in_([r.dagster_run.run_id for r in records]),
                    )
                ).fetchall()
            }
        changed: dict[str, Incident] = {}
        for rec in records:
            run = rec.dagster_run
            if run.run_id in scanned:
                continue
            for ev_rec in instance.all_logs(
                run.run_id, of_type={dg.DagsterEventType.ASSET_CHECK_EVALUATION}
            ):
                data = ev_rec.dagster_event.event_specific_data
                at = datetime.fromtimestamp(ev_rec.timestamp, UTC)
                inc = self._on_check(
                    run,
                    asset=data.asset_key.to_user_string(),
                    check=data.check_name,
                    passed=bool(data.passed),
                    severity=getattr(data.severity, "value", str(data.severity)),
                    metadata={
                        k: str(getattr(v, "value", v))[:300] for k, v in data.metadata.items()
                    },
                    at=at,
                )
                if inc is not None:
                    changed[inc.incident_id] = inc
        newest = _aware(max(r.update_timestamp for r in records))
        self.scan_cursor = newest.timestamp()
        return list(changed.values())

    def _on_check(
        self,
        run: dg.DagsterRun,
        *,
        asset: str,
        check: str,
        passed: bool,
        severity: str,
        metadata: dict[str, str],
        at: datetime,
    ) -> Incident | None:
        now = self.clock()
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(incidents_table).where(
                    incidents_table.c.source == "asset_check",
                    incidents_table.c.step_key == asset,
                    incidents_table.c.error_class == check,
                    incidents_table.c.recovered_at.is_(None),
                )
            ).first()
            if passed:
                # Only a pass after the failure recovers it (a rescan sees older runs again).
                if row is None or at <= _aware(row.failure_at):
                    return None
                self._act(conn, row.incident_id, "check_passed", run_id=run.run_id, at=at)
                self._act(conn, row.incident_id, "recovered", run_id=run.run_id, at=at)
                self._update(
                    conn,
                    row.incident_id,
                    status="recovered",
                    recovered_at=at,
                    closed_at=now,
                    consistency="passed",
                )
                event = "incident_recovered"
                incident_id = row.incident_id
            elif row is not None:
                self._act(
                    conn, row.incident_id, "check_failed", run_id=run.run_id, at=at, **metadata
                )
                return None
            else:
                incident_id = (
                    "chk-"
                    + hashlib.sha256(f"{asset}|{check}|{run.run_id}".encode()).hexdigest()[:12]
                )
                why = f"check {check} on {asset} failed in run {run.run_id[:8]}"
                conn.execute(
                    incidents_table.insert().values(
                        incident_id=incident_id,
                        source="asset_check",
                        subject_kind="asset",
                        subject=asset,
                        job_name=run.job_name,
                        root_run_id=None,
                        step_key=asset,
                        failure_class=UPSTREAM,
                        error_class=check,
                        message=f"{why} ({severity}): {json.dumps(metadata)[:1500]}",
                        status="escalated",
                        severity="critical" if severity == "ERROR" else "warning",
                        failure_at=at,
                        detected_at=now,
                        attempts=0,
                        consistency="failed",
                    )
                )
                self._act(conn, incident_id, "check_failed", run_id=run.run_id, at=at, **metadata)
                self._act(
                    conn,
                    incident_id,
                    ESCALATE,
                    run_id=run.run_id,
                    at=now,
                    reason=f"{UPSTREAM} cannot be fixed by retrying: {why}",
                )
                event = "incident_escalated"
        incident = self.incident(incident_id)
        self.notify({"event": event, **_summary(incident)})
        return incident

    def set_report_path(self, incident_id: str, path: str) -> None:
        """Remember where the post-incident report was written."""
        with self.store.transaction() as conn:
            self._update(conn, incident_id, report_path=path)


def _summary(inc: Incident) -> dict[str, Any]:
    return {
        "incident_id": inc.incident_id,
        "status": inc.status,
        "severity": inc.severity,
        "subject_kind": inc.subject_kind,
        "subject": inc.subject,
        "failure_class": inc.failure_class,
        "step_key": inc.step_key,
        "message": (inc.message or "")[:300],
        "attempts": inc.attempts,
    }


def incidents_frame(incidents: list[Incident]) -> pd.DataFrame:
    """Incidents as a frame with time to detect and time to recover in seconds."""
    cols = [f.name for f in Incident.__dataclass_fields__.values()]
    df = pd.DataFrame([inc.__dict__ for inc in incidents], columns=cols)
    df["ttd_s"] = [inc.time_to_detect_s for inc in incidents]
    df["ttr_s"] = [inc.time_to_recover_s for inc in incidents]
    for c in ("failure_at", "detected_at", "recovered_at", "closed_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df
