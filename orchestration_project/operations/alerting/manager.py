"""The :class:`AlertManager`: deduplication, auto-resolution, cooldown, grouping into
:class:`~orchestration_project.operations.alerting.model.Notification`s, and verdicts that
measure the false-positive rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from orchestration_project.operations.alerting.model import (
    SEVERITY_RANK,
    Alert,
    AlertRecord,
    FalsePositiveRate,
    Notification,
    ProcessSummary,
    _py_utc,
    _utc,
)
from orchestration_project.operations.alerting.store import AlertStore

__all__ = ["AlertManager"]


def _alert_id(fingerprint: str, opened: datetime) -> str:
    """A readable, deterministic episode id: the fingerprint and the opening time."""
    return f"{fingerprint[:12]}-{_utc(opened):%Y%m%dT%H%M%S}"


class AlertManager:
    """Decides which alerts reach people and keeps every alert's history for verdicts.

    Per :meth:`process` call (one evaluation of the rules):

    * **deduplication** — an alert whose fingerprint is already firing bumps ``count`` and
      ``last_at`` and is not notified again (unless its severity rose: an escalation is sent);
    * **auto-resolution** — a firing fingerprint absent from the evaluation is resolved;
    * **cooldown** — a fingerprint resolved less than ``cooldown`` ago that fires again is
      reopened silently (``suppressed`` + 1): flapping does not page;
    * **grouping** — the alerts to send are grouped into one :class:`Notification` per
      (subject kind, subject), at the group's highest severity.

    Args:
        store: Where the state lives.
        cooldown: Quiet period after a resolution.
    """

    def __init__(self, store: AlertStore, *, cooldown: timedelta = timedelta(minutes=30)) -> None:
        """Bind to a store."""
        self.store = store
        self.cooldown = cooldown
        self.last_summary: ProcessSummary | None = None

    def last_evaluated_at(self) -> datetime | None:
        """When alerts were last processed (pass it as ``since`` to :func:`evaluate_rules`)."""
        return self.store.last_evaluated_at()

    def process(self, alerts: Iterable[Alert], *, now: datetime) -> list[Notification]:
        """Apply deduplication, resolution, cooldown and grouping; persist; return what to send.

        Args:
            alerts: Every alert of one evaluation (the complete set: a firing alert missing
                from it is resolved).
            now: The evaluation time.

        Returns:
            One notification per subject with something new to say, most severe first.
        """
        now_dt = _py_utc(now)
        batch: dict[str, Alert] = {}
        for a in alerts:
            prev = batch.get(a.fingerprint)
            if prev is None or (SEVERITY_RANK[a.severity], a.at) > (
                SEVERITY_RANK[prev.severity],
                prev.at,
            ):
                batch[a.fingerprint] = a

        latest: dict[str, AlertRecord] = {}
        for r in self.store.records():
            cur = latest.get(r.fingerprint)
            if cur is None or _order_key(r) > _order_key(cur):
                latest[r.fingerprint] = r

        changed: list[AlertRecord] = []
        to_send: list[tuple[Alert, AlertRecord]] = []
        counts = dict.fromkeys(("opened", "deduplicated", "escalated", "suppressed", "resolved"), 0)
        for fp, a in batch.items():
            rec = latest.get(fp)
            if rec is not None and rec.status == "firing":
                escalated = SEVERITY_RANK[a.severity] > SEVERITY_RANK[rec.severity]
                _absorb(rec, a)
                counts["escalated" if escalated else "deduplicated"] += 1
                if escalated:
                    to_send.append((a, rec))
                changed.append(rec)
            elif (
                rec is not None
                and rec.resolved_at is not None
                and now_dt - rec.resolved_at < self.cooldown
            ):
                escalated = SEVERITY_RANK[a.severity] > SEVERITY_RANK[rec.severity]
                _absorb(rec, a)
                rec.status, rec.resolved_at = "firing", None
                if escalated:
                    counts["escalated"] += 1
                    to_send.append((a, rec))
                else:
                    rec.suppressed += 1
                    counts["suppressed"] += 1
                changed.append(rec)
            else:
                rec = AlertRecord(
                    alert_id=_alert_id(fp, now_dt),
                    fingerprint=fp,
                    rule=a.rule,
                    kind=a.kind,
                    severity=a.severity,
                    subject_kind=a.subject_kind,
                    subject=a.subject,
                    value=a.value,
                    threshold=a.threshold,
                    message=a.message,
                    first_at=a.at,
                    last_at=a.at,
                    opened_at=now_dt,
                )
                counts["opened"] += 1
                to_send.append((a, rec))
                changed.append(rec)

        for fp, rec in latest.items():
            if rec.status == "firing" and fp not in batch:
                rec.status, rec.resolved_at = "resolved", now_dt
                counts["resolved"] += 1
                changed.append(rec)

        for _, rec in to_send:
            rec.notified_at = now_dt
        notifications = _group(to_send, now_dt)
        self.store.save(changed)
        self.last_summary = ProcessSummary(
            evaluated_at=now_dt, alerts=len(batch), notifications=len(notifications), **counts
        )
        self.store.record_evaluation(self.last_summary)
        return notifications

    # -- verdicts ----------------------------------------------------------------------------

    def _resolve_refs(self, refs: Iterable[str]) -> list[AlertRecord]:
        """Records for alert ids or fingerprints (a fingerprint means its latest episode)."""
        records = self.store.records()
        by_id = {r.alert_id: r for r in records}
        latest: dict[str, AlertRecord] = {}
        for r in records:
            if r.fingerprint not in latest or _order_key(r) > _order_key(latest[r.fingerprint]):
                latest[r.fingerprint] = r
        out, unknown = [], []
        for ref in refs:
            rec = by_id.get(ref) or latest.get(ref)
            (out if rec is not None else unknown).append(rec or ref)
        if unknown:
            raise KeyError(f"no alert with id or fingerprint {unknown}")
        return list({r.alert_id: r for r in out}.values())

    def mark(
        self, alert_ids_or_fingerprints: str | Iterable[str], verdict: bool, incident_id: str | None
    ) -> list[str]:
        """Record whether alerts were true (an incident confirmed them) or false.

        Args:
            alert_ids_or_fingerprints: Alert ids, or fingerprints (meaning each one's latest
                episode). Unknown references raise ``KeyError`` before anything changes.
            verdict: ``True`` for a real problem, ``False`` for a false alarm.
            incident_id: The incident that decided it, if any.

        Returns:
            The alert ids marked.
        """
        refs = (
            [alert_ids_or_fingerprints]
            if isinstance(alert_ids_or_fingerprints, str)
            else (list(alert_ids_or_fingerprints))
        )
        records = self._resolve_refs(refs)
        for r in records:
            r.verdict, r.incident_id = bool(verdict), incident_id
        self.store.save(records)
        return [r.alert_id for r in records]

    def confirm_incident(
        self,
        incident_id: str,
        *,
        subject_kind: str,
        subject: str,
        start: datetime,
        end: datetime,
    ) -> list[str]:
        """Mark true every alert about ``subject`` whose episode overlaps ``[start, end]``.

        The link from incidents (say, a failure analysis or a post-mortem) back to alerts.

        Returns:
            The alert ids marked.
        """
        lo, hi = _py_utc(start), _py_utc(end)
        hits = []
        for r in self.store.records():
            if r.subject_kind != subject_kind or r.subject != subject:
                continue
            ep_end = r.resolved_at or max(r.last_at, r.opened_at or r.last_at)
            ep_start = min(r.first_at, r.opened_at or r.first_at)
            if ep_start <= hi and ep_end >= lo:
                r.verdict, r.incident_id = True, incident_id
                hits.append(r)
        self.store.save(hits)
        return [r.alert_id for r in hits]

    def expire_unconfirmed(
        self, now: datetime, grace: timedelta = timedelta(hours=24)
    ) -> list[str]:
        """Mark false the resolved alerts that no incident confirmed within ``grace``.

        Returns:
            The alert ids marked false.
        """
        limit = _py_utc(now) - grace
        stale = [
            r
            for r in self.store.records()
            if r.status == "resolved"
            and r.verdict is None
            and r.resolved_at is not None
            and r.resolved_at <= limit
        ]
        for r in stale:
            r.verdict = False
        self.store.save(stale)
        return [r.alert_id for r in stale]

    def false_positive_rate(self, *, rule: str | None = None) -> FalsePositiveRate:
        """``false / (true + false)`` over alert episodes (of one rule, if given)."""
        records = [r for r in self.store.records() if rule is None or r.rule == rule]
        true = sum(r.verdict is True for r in records)
        false = sum(r.verdict is False for r in records)
        unconfirmed = sum(r.verdict is None for r in records)
        return FalsePositiveRate(
            true=true,
            false=false,
            unconfirmed=unconfirmed,
            rate=false / (true + false) if true + false else None,
        )


def _order_key(r: AlertRecord) -> tuple[datetime, datetime, str]:
    """Which of a fingerprint's episodes is the latest."""
    return (r.opened_at or r.first_at, r.first_at, r.alert_id)


def _absorb(rec: AlertRecord, a: Alert) -> None:
    """Fold a repeat of an alert into its record."""
    rec.count += 1
    rec.last_at = max(rec.last_at, a.at)
    rec.value, rec.threshold, rec.message = a.value, a.threshold, a.message
    if SEVERITY_RANK[a.severity] > SEVERITY_RANK[rec.severity]:
        rec.severity = a.severity


def _group(pairs: Sequence[tuple[Alert, AlertRecord]], now: datetime) -> list[Notification]:
    """One notification per (subject kind, subject), most severe first."""
    groups: dict[tuple[str, str], list[tuple[Alert, AlertRecord]]] = {}
    for a, rec in pairs:
        groups.setdefault((a.subject_kind, a.subject), []).append((a, rec))
    out = []
    for (kind, subject), items in groups.items():
        items.sort(key=lambda p: (-SEVERITY_RANK[p[0].severity], p[0].rule))
        out.append(
            Notification(
                subject_kind=kind,
                subject=subject,
                severity=items[0][0].severity,
                alerts=tuple(a for a, _ in items),
                alert_ids=tuple(r.alert_id for _, r in items),
                at=now,
            )
        )
    out.sort(key=lambda n: (-SEVERITY_RANK[n.severity], n.subject_kind, n.subject))
    return out
