"""The :class:`Healer`: opens incidents for failed runs, failed asset checks and health alerts,
applies remedies by failure class (re-execute with backoff, lower concurrency, escalate) and
verifies recoveries. Settings its remedies change are overrides with a recovery rule
(:mod:`orchestration_project.operations.healing.overrides`).

Over 500 lines because :class:`Healer` is one class of about 600 lines: its methods share the
private record helpers (``_act``, ``_update``, ``_close``) and call each other across failure
handling, remedies, recovery, alerts and check scanning; splitting it would mean mixins or new
helper objects, a change of design rather than a move. Its records and policy live in
:mod:`orchestration_project.operations.healing.incidents`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import utcnow
from orchestration_project.operations.failures import RESOURCE, UPSTREAM
from orchestration_project.operations.healing.eventlog import check_outcomes, read_run_failure
from orchestration_project.operations.healing.incidents import (
    Incident,
    Notify,
    RemedyPolicy,
    _incident,
    _summary,
)
from orchestration_project.operations.healing.overrides import Overrides, newest_run_id
from orchestration_project.operations.healing.schema import (
    ACTION_TAG,
    CHECK_SCAN_FIRST_LOOKBACK,
    ESCALATE,
    INCIDENT_TAG,
    LOWER_CONCURRENCY,
    OPEN_STATUSES,
    REEXECUTE,
    REMEDY_BY_CLASS,
    OpsSettings,
    _aware,
    actions_table,
    ensure_ops_tables,
    incidents_table,
)


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
        self.overrides = Overrides(store, clock=clock)
        self.override_changes: list[dict[str, Any]] = []  # from the last check_recoveries
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
        watermark = newest_run_id(instance)  # quiet runs of a lowered job count after it
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
            # The retry budget: the policy's, unless a reviewed recommendation set one for
            # this job (``max_attempts:<job>``, ``operations.review``).
            budget = self.settings.get(f"max_attempts:{failure.job_name}")
            budget = self.policy.max_attempts if budget is None else int(budget)
            if remedy != ESCALATE and attempts >= budget:
                remedy, why = ESCALATE, f"{attempts} re-executions did not recover it"
            else:
                why = f"{failure.failure_class} cannot be fixed by retrying"
            if remedy == LOWER_CONCURRENCY:
                # An override with a recovery rule and an expiry (``healing.overrides``), not a
                # one-way setting: quiet runs give the fan-out back step by step.
                change = self.overrides.lower_concurrency(
                    conn, failure.job_name, incident_id=incident_id, watermark=watermark, now=now
                )
                self._act(
                    conn,
                    incident_id,
                    LOWER_CONCURRENCY,
                    run_id=run_id,
                    at=now,
                    job=failure.job_name,
                    before=change.before,
                    after=change.after,
                    baseline=change.baseline,
                    override_id=change.override_id,
                    expires_at=change.expires_at.isoformat(),
                )
                remedy = REEXECUTE
            elif failure.failure_class == RESOURCE:  # escalated: no lowering, but not quiet
                self.overrides.reset_quiet_count(
                    conn, failure.job_name, watermark=watermark, why=f"incident {incident_id}"
                )
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
        """Close incidents whose latest re-execution succeeded and whose checks all passed,
        then apply the recovery rules of every override (:meth:`.Overrides.evaluate`; what they
        changed is left in :attr:`override_changes`): a lowered concurrency comes back one
        step per ``overrides:quiet_runs`` successful runs, not with the recovery itself."""
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
        # Every tick of the remedy sensor passes here: the overrides' recovery rules run too.
        self.override_changes = self.overrides.evaluate(instance)
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

    def acknowledge(self, incident_id: str, *, by: str, note: str = "") -> None:
        """Record that the person ``by`` has taken ``incident_id`` on (an ``acknowledged``
        action in its timeline); the healer's remedies go on."""
        with self.store.transaction() as conn:
            self._act(conn, incident_id, "acknowledged", by=by, note=note)

    def resolve_by_person(self, incident_id: str, *, by: str, note: str = "") -> None:
        """Close ``incident_id`` as resolved by the person ``by`` (a ``resolved_by_person``
        action, status ``resolved``); the caller checks that the incident may be closed."""
        now = self.clock()
        inc = self.incident(incident_id)
        with self.store.transaction() as conn:
            self._act(conn, incident_id, "resolved_by_person", at=now, by=by, note=note)
            self._update(
                conn,
                incident_id,
                status="resolved",
                recovered_at=inc.recovered_at or now,
                closed_at=now,
            )

    def set_report_path(self, incident_id: str, path: str) -> None:
        """Remember where the post-incident report was written."""
        with self.store.transaction() as conn:
            self._update(conn, incident_id, report_path=path)
