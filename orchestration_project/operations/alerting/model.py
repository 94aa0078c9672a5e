"""Alerting's data model: :class:`Alert`, :class:`Notification`, the stored
:class:`AlertRecord` and its column types, the summaries the manager reports, severities and
table names. No rules, storage or decisions here: every other alerting module builds on this one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd

__all__ = [
    "ALERTS_TABLE",
    "ALERT_COLUMNS",
    "EVALUATIONS_TABLE",
    "SCHEMA",
    "SEVERITY_RANK",
    "Alert",
    "AlertKind",
    "AlertRecord",
    "FalsePositiveRate",
    "Notification",
    "ProcessSummary",
    "Severity",
]

Severity = Literal["info", "warning", "critical"]
AlertKind = Literal["threshold", "burn_rate", "anomaly", "incident"]

SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}
SCHEMA = "operations"
ALERTS_TABLE = "alerts"
EVALUATIONS_TABLE = "alert_evaluations"


def _check_severity(severity: str) -> None:
    if severity not in SEVERITY_RANK:
        raise ValueError(f"severity {severity!r} is not one of {list(SEVERITY_RANK)}")


def _utc(when: datetime | pd.Timestamp) -> pd.Timestamp:
    """``when`` as a UTC timestamp (a naive time is taken to be UTC)."""
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _py_utc(when: datetime | pd.Timestamp) -> datetime:
    """``when`` as a timezone-aware ``datetime`` in UTC."""
    return _utc(when).to_pydatetime()


# -- alerts and notifications ---------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One rule's finding about one subject at one data time.

    Attributes:
        rule: Name of the rule that fired.
        kind: ``"threshold"``, ``"burn_rate"``, ``"anomaly"`` or ``"incident"``.
        severity: ``"info"``, ``"warning"`` or ``"critical"``.
        subject_kind: What the subject is: ``"job"``, ``"asset"``, ``"agent"``, ``"route"``...
        subject: The entity's name.
        value: The observed value (metric, burn rate or anomaly score).
        threshold: The limit the value was compared with.
        message: One human-readable sentence.
        at: The data time the alert refers to (UTC).
    """

    rule: str
    kind: AlertKind
    severity: Severity
    subject_kind: str
    subject: str
    value: float | None
    threshold: float | None
    message: str
    at: datetime

    def __post_init__(self) -> None:
        _check_severity(self.severity)
        object.__setattr__(self, "at", _py_utc(self.at))

    @property
    def fingerprint(self) -> str:
        """Stable identity across evaluations: a hash of (rule, subject kind, subject)."""
        raw = "\x1f".join((self.rule, self.subject_kind, self.subject))
        return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, including the fingerprint."""
        out = asdict(self)
        out["at"] = self.at.isoformat()
        out["fingerprint"] = self.fingerprint
        return out


@dataclass(frozen=True)
class Notification:
    """What is sent to people: the new alerts of one evaluation about one subject.

    Attributes:
        subject_kind: Kind of the subject all alerts are about.
        subject: The subject's name.
        severity: The highest severity among ``alerts``.
        alerts: The alerts, most severe first.
        alert_ids: The stored alert id of each alert (same order), for marking verdicts.
        at: When the notification was produced (the evaluation time).
    """

    subject_kind: str
    subject: str
    severity: Severity
    alerts: tuple[Alert, ...]
    alert_ids: tuple[str, ...]
    at: datetime

    @property
    def title(self) -> str:
        """A one-line summary, e.g. ``[CRITICAL] job daily_report: 2 alerts``."""
        n = len(self.alerts)
        what = self.alerts[0].rule if n == 1 else f"{n} alerts"
        return f"[{self.severity.upper()}] {self.subject_kind} {self.subject}: {what}"

    def text(self) -> str:
        """Plain multi-line text: the title, then one line per alert."""
        lines = [self.title]
        for alert, alert_id in zip(self.alerts, self.alert_ids, strict=True):
            lines.append(f"- {alert.severity} {alert.rule}: {alert.message} (alert {alert_id})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (what the file and webhook sinks write)."""
        return {
            "subject_kind": self.subject_kind,
            "subject": self.subject,
            "severity": self.severity,
            "title": self.title,
            "text": self.text(),
            "at": self.at.isoformat(),
            "alerts": [
                {**a.to_dict(), "alert_id": i}
                for a, i in zip(self.alerts, self.alert_ids, strict=True)
            ],
        }


# -- state -------------------------------------------------------------------------------------


@dataclass
class AlertRecord:
    """The stored state of one alert episode (one row of ``operations.alerts``).

    An episode opens when a fingerprint starts firing, absorbs repeats (``count``), may be
    resolved and — within the cooldown — silently reopened (``suppressed`` counts those), and
    finally gets a verdict: true when an incident confirmed it, false otherwise.
    """

    alert_id: str
    fingerprint: str
    rule: str
    kind: str
    severity: str
    subject_kind: str
    subject: str
    value: float | None
    threshold: float | None
    message: str
    first_at: datetime
    last_at: datetime
    count: int = 1
    status: Literal["firing", "resolved"] = "firing"
    resolved_at: datetime | None = None
    notified_at: datetime | None = None
    suppressed: int = 0
    verdict: bool | None = None
    incident_id: str | None = None
    opened_at: datetime | None = None

    def alert(self) -> Alert:
        """The latest :class:`Alert` this record holds."""
        return Alert(
            rule=self.rule,
            kind=self.kind,  # type: ignore[arg-type]
            severity=self.severity,  # type: ignore[arg-type]
            subject_kind=self.subject_kind,
            subject=self.subject,
            value=self.value,
            threshold=self.threshold,
            message=self.message,
            at=self.last_at,
        )


ALERT_COLUMNS: Mapping[str, str] = {
    "alert_id": "string",
    "fingerprint": "string",
    "rule": "string",
    "kind": "string",
    "severity": "string",
    "subject_kind": "string",
    "subject": "string",
    "value": "Float64",
    "threshold": "Float64",
    "message": "string",
    "first_at": "datetime64[ns, UTC]",
    "last_at": "datetime64[ns, UTC]",
    "count": "int64",
    "status": "string",
    "resolved_at": "datetime64[ns, UTC]",
    "notified_at": "datetime64[ns, UTC]",
    "suppressed": "int64",
    "verdict": "boolean",
    "incident_id": "string",
    "opened_at": "datetime64[ns, UTC]",
}
_TIME_FIELDS = ("first_at", "last_at", "resolved_at", "notified_at", "opened_at")


@dataclass(frozen=True)
class ProcessSummary:
    """What one :meth:`AlertManager.process` call did (also logged by the store).

    Attributes:
        evaluated_at: The evaluation time.
        alerts: Alerts received (after collapsing duplicates of one fingerprint).
        opened: New alert episodes, each notified.
        deduplicated: Alerts that were already firing (counted, not notified).
        escalated: Firing alerts whose severity rose (notified again).
        suppressed: Alerts reopened silently within the cooldown.
        resolved: Firing alerts absent from this evaluation, now resolved.
        notifications: Notifications returned.
    """

    evaluated_at: datetime
    alerts: int = 0
    opened: int = 0
    deduplicated: int = 0
    escalated: int = 0
    suppressed: int = 0
    resolved: int = 0
    notifications: int = 0


@dataclass(frozen=True)
class FalsePositiveRate:
    """Measured precision of alerting: verdicts counted over alert episodes.

    Attributes:
        true: Alerts an incident confirmed.
        false: Alerts marked false, or resolved without confirmation past the grace period.
        unconfirmed: Alerts without a verdict yet (not in the rate).
        rate: ``false / (true + false)``, or ``None`` before any verdict.
    """

    true: int
    false: int
    unconfirmed: int
    rate: float | None
