"""The monitoring loop: alerts from health, incidents from alerts, verdicts from incidents.

One call of :func:`evaluate_alerts` evaluates the alert rules on the run-metadata events,
lets the :class:`~orchestration_project.operations.alerting.AlertManager` deduplicate, resolve, cool down
and group them, hands the notifications to a delivery function, opens an incident for every
critical notification and closes alert incidents whose alerts stopped firing. Then it judges
alerts: an alert about a job or an asset that overlaps a failure incident of that job or asset
is *true*; so is an alert about a subject that a silent remedy touched at the time (a route
switched, a breaker tripped, a source skipped, a quarantine spike, an action on a predicted
failure: the operational events of ``healing.opevents``), because something real happened there
even though no run failed. An alert that nothing confirmed within ``grace`` after it resolved is
*false*: the verdict stays strict, an alert about a subject nothing happened to is still false.
The false-positive rate of the scorecard is the share of false among judged alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from ml.health import COLUMNS as HEALTH_COLUMNS
from ml.health import health_metrics
from orchestration_project.operations.alerting import (
    AlertManager,
    Notification,
    Rule,
    default_rules,
    evaluate_rules,
)
from orchestration_project.operations.failures import TIMEOUT, TRANSIENT
from orchestration_project.operations.healing import Healer, incidents_frame, op_events

NETWORK_CLASSES = (TRANSIENT, TIMEOUT)
ROUTES = ("http", "browser")


@dataclass
class MonitoringOutcome:
    """What one evaluation did."""

    alerts: int = 0
    notifications: list[Notification] = field(default_factory=list)
    deliveries: list[Any] = field(default_factory=list)
    incidents_opened: list[str] = field(default_factory=list)
    incidents_resolved: list[str] = field(default_factory=list)
    confirmed: int = 0
    expired_false: int = 0


def health_frame(events: Mapping[str, pd.DataFrame], now: datetime) -> pd.DataFrame:
    """Health metrics for every dimension of ``events``."""
    frames = [health_metrics(ev, dimension=d, now=now) for d, ev in events.items() if len(ev)]
    frames = [f.dropna(axis=1, how="all") for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=HEALTH_COLUMNS)
    return pd.concat(frames, ignore_index=True).reindex(columns=HEALTH_COLUMNS)


def evaluate_alerts(
    *,
    events: Mapping[str, pd.DataFrame],
    manager: AlertManager,
    healer: Healer,
    now: datetime,
    health: pd.DataFrame | None = None,
    rules: list[Rule] | None = None,
    deliver: Callable[[list[Notification]], list[Any]] | None = None,
    grace: timedelta = timedelta(hours=1),
    lookback: timedelta = timedelta(hours=1),
    evidence: timedelta = timedelta(hours=24),
    silent: pd.DataFrame | None = None,
) -> MonitoringOutcome:
    """Evaluate rules, notify, open and close alert incidents, and judge alerts.

    Args:
        events: event frames per dimension (job, asset, agent, route).
        manager: the alert manager (its store keeps state between calls).
        healer: the healer (incidents).
        now: evaluation time.
        health: precomputed health metrics (computed from ``events`` when omitted).
        rules: alert rules (default: :func:`default_rules`).
        deliver: sends notifications (e.g. ``AlertingResource.deliver``); returns results.
        grace: how long after resolving an unconfirmed alert is judged false.
        lookback: how long before a failure an alert about it still counts as confirmed.
        evidence: how long after an incident ended an alert about it still counts as confirmed
            (the longest rule window: a 24-hour success rate reflects a failure for 24 hours).
        silent: silent remedies derived from run metadata rather than recorded in the store
            (``operations.events.silent_retries``: steps healed by their own retry), in the
            columns of ``healing.OP_EVENT_COLUMNS``; they confirm alerts like stored events.
    """
    out = MonitoringOutcome()
    health = health if health is not None else health_frame(events, now)
    alerts = evaluate_rules(
        rules or default_rules(),
        events=events,
        health=health,
        now=now,
        since=manager.last_evaluated_at(),
    )
    out.alerts = len(alerts)
    out.notifications = manager.process(alerts, now=now)
    if deliver is not None and out.notifications:
        out.deliveries = deliver(out.notifications)
    for note in out.notifications:
        if note.severity == "critical":
            inc = healer.on_alert(
                subject_kind=note.subject_kind,
                subject=note.subject,
                severity=note.severity,
                message=note.text(),
                at=min(a.at for a in note.alerts),
                rule=note.alerts[0].rule,
            )
            if inc is not None:
                out.incidents_opened.append(inc.incident_id)
    firing = {(a.subject_kind, a.subject) for a in alerts}
    for inc in healer.incidents(statuses=["open"]):
        if inc.source == "alert" and (inc.subject_kind, inc.subject) not in firing:
            for closed in healer.on_alert_resolved(
                subject_kind=inc.subject_kind, subject=inc.subject
            ):
                out.incidents_resolved.append(closed.incident_id)
    out.confirmed = confirm_alerts(manager, healer, now=now, lookback=lookback, evidence=evidence)
    remedies = [op_events(healer.store, since=now - evidence)]
    if silent is not None and len(silent):
        remedies.append(silent[pd.to_datetime(silent["at"], utc=True) >= now - evidence])
    found = [r for r in remedies if len(r)]
    events = pd.concat(found, ignore_index=True) if found else remedies[0]
    out.confirmed += confirm_from_op_events(manager, events, lookback=lookback)
    out.expired_false = len(manager.expire_unconfirmed(now, grace=grace) or [])
    return out


def confirm_alerts(
    manager: AlertManager,
    healer: Healer,
    *,
    now: datetime,
    lookback: timedelta = timedelta(hours=1),
    evidence: timedelta = timedelta(hours=24),
) -> int:
    """Mark true the alerts that a failure incident (a failed run, or a failed check of a run
    that succeeded) confirms: same job or asset (or, for a network or timeout failure, a fetch
    route), and an alert episode overlapping ``[failure - lookback, end + evidence]`` where
    ``end`` is when the incident recovered or closed. Alerts about subjects that never failed
    stay unconfirmed and are judged false after the grace period."""
    return confirm_from_incidents(
        manager, incidents_frame(healer.incidents()), now=now, lookback=lookback, evidence=evidence
    )


def confirm_from_incidents(
    manager: AlertManager,
    incidents: pd.DataFrame,
    *,
    now: datetime,
    lookback: timedelta = timedelta(hours=1),
    evidence: timedelta = timedelta(hours=24),
) -> int:
    """:func:`confirm_alerts` over an incidents frame (``healing.incidents_frame`` columns)."""
    df = incidents[incidents["source"].isin(["run_failure", "asset_check"])]
    marked = 0
    for inc in df.itertuples():
        ended = inc.recovered_at if pd.notna(inc.recovered_at) else inc.closed_at
        ended = ended if pd.notna(ended) else now
        start = inc.failure_at - lookback
        subjects = [("job", inc.job_name, ended + evidence)]
        if inc.step_key:
            subjects.append(("asset", inc.step_key, ended + evidence))
        if inc.failure_class in NETWORK_CLASSES:
            # A network failure confirms alerts about the fetch routes around the same time
            # (route rules look at short windows, so only within ``lookback`` of the end).
            subjects += [("route", route, ended + lookback) for route in ROUTES]
        for kind, subject, end in subjects:
            if subject:
                marked += len(
                    manager.confirm_incident(
                        inc.incident_id, subject_kind=kind, subject=subject, start=start, end=end
                    )
                )
    return marked


def op_event_subjects(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The alert subjects ``(subject_kind, subject)`` an operational event touched: its own
    subject when alerts can be about it (job, asset, route), plus the job, asset (step key) and
    routes its detail names. A breaker on a route touches that route."""
    detail = event.get("detail") or {}
    out: list[tuple[str, str]] = []
    if event.get("subject_kind") in ("job", "asset", "route", "agent"):
        out.append((str(event["subject_kind"]), str(event["subject"])))
    if detail.get("job"):
        out.append(("job", str(detail["job"])))
    if detail.get("asset"):
        out.append(("asset", str(detail["asset"])))
    out += [("route", str(r)) for r in detail.get("routes") or []]
    return list(dict.fromkeys(out))


def confirm_from_op_events(
    manager: AlertManager,
    events: pd.DataFrame,
    *,
    lookback: timedelta = timedelta(hours=1),
) -> int:
    """Mark true the alerts that a silent remedy confirms: an alert about a subject the event
    touched (:func:`op_event_subjects`) whose episode overlaps ``[at - lookback, at +
    lookback]``. Windowed rules look back, so an alert may start a little before the remedy
    that answered the same problem, or go on a little after it.

    Args:
        manager: the alert manager.
        events: operational events (``healing.op_events`` columns).
        lookback: how far around the event an alert episode still counts.

    Returns:
        How many alert verdicts were set.
    """
    # Overlapping windows of the same subject are merged first (a breaker open for an hour
    # records an event per run), so the alert store is read once per episode, not per event.
    windows: dict[tuple[str, str], list[list[Any]]] = {}
    for ev in sorted(events.to_dict("records"), key=lambda e: pd.Timestamp(e["at"])):
        at = pd.Timestamp(ev["at"]).to_pydatetime()
        ref = f"op-event-{ev['event_id']}:{ev['kind']}"
        for key in op_event_subjects(ev):
            spans = windows.setdefault(key, [])
            if spans and at - lookback <= spans[-1][1]:
                spans[-1][1] = at + lookback
            else:
                spans.append([at - lookback, at + lookback, ref])
    marked = 0
    for (kind, subject), spans in windows.items():
        for start, end, ref in spans:
            marked += len(
                manager.confirm_incident(
                    ref, subject_kind=kind, subject=subject, start=start, end=end
                )
            )
    return marked
