"""Alerting: rules turn health metrics and event streams into alerts; a manager decides which
alerts reach a human, and remembers every alert so that incidents can later confirm or refute it.

Pure Python and pandas, importable and testable without Dagster. The pieces:

* :class:`Alert` — one rule's finding about one subject (a job, an asset, an agent, a route...),
  identified across evaluations by its :attr:`Alert.fingerprint` (rule, subject kind, subject).
* Rules, each with ``evaluate(*, events, health, now, since) -> list[Alert]``:
  :class:`ThresholdRule` (a health metric crosses a limit), :class:`BurnRateRule` (multi-window,
  multi-burn-rate SLO alerting from the Google SRE workbook) and :class:`AnomalyRule` (a
  bucketed metric series streamed through :func:`ml.anomaly.score_series`).
  :func:`evaluate_rules` runs a list of them; :func:`default_rules` is a generic set that works
  for any job, asset, agent or route.
* :class:`AlertManager` — deduplication (an alert already firing is counted, not re-sent),
  auto-resolution (a firing alert absent from an evaluation is resolved), cooldown (an alert
  that fires again soon after resolving is reopened silently: flapping does not page), grouping
  (one :class:`Notification` per subject per evaluation, at the group's highest severity) and
  verdicts (each alert is later marked true or false, so the false-positive rate is measured).
* :class:`AlertStore` — where alert state lives: :class:`InMemoryAlertStore` for tests and
  benchmarks, :class:`WarehouseAlertStore` for table ``operations.alerts`` (state survives a
  new manager, so deduplication works across separate asset runs).

Delivery (log, file, webhook, Slack) lives in :mod:`resources.alerting`.
"""

from __future__ import annotations

import copy
import hashlib
import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ml.anomaly import DEFAULT_THRESHOLD, score_series
from ml.health import COLUMNS as HEALTH_COLUMNS
from ml.health import health_metrics

if TYPE_CHECKING:
    from orchestration_project.common.warehouse import TableStore as Warehouse

__all__ = [
    "ALERTS_TABLE",
    "ALERT_COLUMNS",
    "EVALUATIONS_TABLE",
    "SCHEMA",
    "SEVERITY_RANK",
    "Alert",
    "AlertManager",
    "AlertRecord",
    "AlertStore",
    "AnomalyRule",
    "BurnRateRule",
    "BurnWindow",
    "FalsePositiveRate",
    "InMemoryAlertStore",
    "Notification",
    "ProcessSummary",
    "Rule",
    "ThresholdRule",
    "WarehouseAlertStore",
    "default_rules",
    "evaluate_rules",
]

Severity = Literal["info", "warning", "critical"]
AlertKind = Literal["threshold", "burn_rate", "anomaly", "incident"]
Signal = Literal["latency", "error_rate", "throughput"]

SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}
SCHEMA = "operations"
ALERTS_TABLE = "alerts"
EVALUATIONS_TABLE = "alert_evaluations"

_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


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


def _fmt_num(x: float | None) -> str:
    """A compact human rendering of a number."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.3g}"


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


# -- rules -------------------------------------------------------------------------------------


def _events_until(events: pd.DataFrame | None, now: pd.Timestamp) -> pd.DataFrame:
    """A clean copy of an event frame: UTC ``at``, bool ``ok``, float latency, nothing after
    ``now`` (no look-ahead), rows without a time or an entity dropped."""
    cols = ["at", "entity", "ok", "latency_s"]
    if events is None or events.empty:
        return pd.DataFrame(columns=cols)
    df = events.copy()
    df["at"] = pd.to_datetime(df["at"], utc=True, errors="coerce")
    df = df.dropna(subset=["at", "entity"])
    df["entity"] = df["entity"].astype(str)
    df["ok"] = df["ok"].fillna(False).astype(bool)
    if "latency_s" not in df:
        df["latency_s"] = np.nan
    df["latency_s"] = pd.to_numeric(df["latency_s"], errors="coerce")
    return df[df["at"] <= now]


class Rule(ABC):
    """An alerting rule: looks at events and health metrics as of ``now`` and returns alerts.

    Every rule has a ``name`` (part of the alert fingerprint, so keep it stable) and a
    ``dimension`` (the kind of subject it watches: ``"job"``, ``"asset"``, ``"agent"``...).
    """

    name: str
    dimension: str

    @abstractmethod
    def evaluate(
        self,
        *,
        events: Mapping[str, pd.DataFrame],
        health: pd.DataFrame,
        now: datetime,
        since: datetime | None = None,
    ) -> list[Alert]:
        """Alerts as of ``now``.

        Args:
            events: Event frames per dimension (columns ``at``, ``entity``, ``ok``,
                ``latency_s``), as built by ``assets.operations``.
            health: A :func:`ml.health.health_metrics` frame (all dimensions concatenated).
            now: The evaluation time; nothing after it is looked at.
            since: The previous evaluation time, if any (rules that judge closed time buckets
                judge only those that closed after it).
        """


@dataclass(frozen=True)
class ThresholdRule(Rule):
    """A health metric of an entity over one window crosses a fixed limit.

    Example: ``ThresholdRule("job_success_rate", "job", "success_rate", "<", 0.9, window="24h")``
    fires for every job whose success rate over the last 24 h is below 90 %.

    Attributes:
        name: Rule name.
        dimension: The health frame's ``dimension`` to watch.
        metric: A column of the health frame (``success_rate``, ``error_rate``,
            ``latency_p95_s``, ``throughput_per_h``, ``freshness_s``, ``cost_usd``...).
        op: ``"<"``, ``"<="``, ``">"`` or ``">="``: the alert condition is ``metric op value``.
        value: The limit.
        window: The health frame's ``window`` (``"1h"``, ``"24h"``, ``"7d"``).
        severity: Severity of the alert.
        min_events: Entities with fewer events in the window are not judged (too little data).
    """

    name: str
    dimension: str
    metric: str
    op: str
    value: float
    window: str = "1h"
    severity: Severity = "warning"
    min_events: int = 3

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"op {self.op!r} is not one of {list(_OPS)}")
        _check_severity(self.severity)

    def evaluate(
        self,
        *,
        events: Mapping[str, pd.DataFrame],
        health: pd.DataFrame,
        now: datetime,
        since: datetime | None = None,
    ) -> list[Alert]:
        """One alert per entity whose metric crosses the limit (see :meth:`Rule.evaluate`)."""
        if health is None or health.empty or self.metric not in health.columns:
            return []
        rows = health[(health["dimension"] == self.dimension) & (health["window"] == self.window)]
        rows = rows[pd.to_numeric(rows["events"], errors="coerce").fillna(0) >= self.min_events]
        compare = _OPS[self.op]
        out = []
        for row in rows.itertuples(index=False):
            raw = getattr(row, self.metric)
            if raw is None or pd.isna(raw):
                continue
            observed = float(raw)
            if not compare(observed, self.value):
                continue
            out.append(
                Alert(
                    rule=self.name,
                    kind="threshold",
                    severity=self.severity,
                    subject_kind=self.dimension,
                    subject=str(row.entity),
                    value=observed,
                    threshold=float(self.value),
                    message=(
                        f"{self.metric} {_fmt_num(observed)} {self.op} {_fmt_num(self.value)} "
                        f"over the last {self.window} ({int(row.events)} events)"
                    ),
                    at=_py_utc(now),
                )
            )
        return out


@dataclass(frozen=True)
class BurnWindow:
    """One tier of multi-window burn-rate alerting.

    Attributes:
        long: The long window (how much budget has been spent).
        short: The short window (is it still burning? lets the alert reset quickly).
        burn_factor: The burn rate both windows must exceed (1 = the budget lasts exactly the
            SLO period; 14.4 over 1 h spends 2 % of a 30-day budget).
        severity: Severity when this tier fires.
    """

    long: timedelta
    short: timedelta
    burn_factor: float
    severity: Severity

    def __post_init__(self) -> None:
        _check_severity(self.severity)
        if self.short > self.long:
            raise ValueError("the short window must not be longer than the long window")


#: The SRE workbook's paging tiers: 2 % of a 30-day budget in 1 h, 5 % in 6 h.
DEFAULT_BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(timedelta(hours=1), timedelta(minutes=5), 14.4, "critical"),
    BurnWindow(timedelta(hours=6), timedelta(minutes=30), 6.0, "warning"),
)


@dataclass(frozen=True)
class BurnRateRule(Rule):
    """Error-budget burn-rate alerting (Google SRE workbook, "multiwindow, multi-burn-rate").

    With an SLO target ``s`` the error budget is ``1 - s``; the burn rate of a window is its
    error ratio divided by the budget. A tier ``(long, short, factor, severity)`` fires for an
    entity when the burn rate over *both* the long and the short window exceeds ``factor``:
    the long window shows that a meaningful share of the budget is gone, the short one that it
    is still going (so the alert resets soon after a fix). The most severe firing tier wins.

    Attributes:
        name: Rule name.
        dimension: Which event frame to watch.
        slo_target: The success-ratio objective, e.g. 0.99.
        windows: The tiers, as :class:`BurnWindow` or ``(long, short, factor, severity)`` tuples.
        min_events: The long window needs at least this many events (a handful of runs says
            little about a ratio), and the short window at least one.
    """

    name: str
    dimension: str
    slo_target: float = 0.99
    windows: Sequence[BurnWindow | tuple[timedelta, timedelta, float, str]] = DEFAULT_BURN_WINDOWS
    min_events: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.slo_target < 1.0:
            raise ValueError("slo_target must be strictly between 0 and 1")
        tiers = tuple(w if isinstance(w, BurnWindow) else BurnWindow(*w) for w in self.windows)
        tiers = tuple(sorted(tiers, key=lambda w: -SEVERITY_RANK[w.severity]))
        object.__setattr__(self, "windows", tiers)

    @staticmethod
    def _ratio(ev: pd.DataFrame, now: pd.Timestamp, length: timedelta) -> tuple[int, float]:
        """(events, error ratio) over ``(now - length, now]``."""
        w = ev[ev["at"] > now - pd.Timedelta(length)]
        n = len(w)
        return n, float((~w["ok"]).sum()) / n if n else 0.0

    def evaluate(
        self,
        *,
        events: Mapping[str, pd.DataFrame],
        health: pd.DataFrame,
        now: datetime,
        since: datetime | None = None,
    ) -> list[Alert]:
        """At most one alert per entity: its most severe firing tier."""
        now_ts = _utc(now)
        ev = _events_until(events.get(self.dimension), now_ts)
        if ev.empty:
            return []
        longest = max(pd.Timedelta(w.long) for w in self.windows)
        ev = ev[ev["at"] > now_ts - longest]
        budget = 1.0 - self.slo_target
        out = []
        for entity, group in ev.groupby("entity", sort=True):
            for tier in self.windows:
                n_long, r_long = self._ratio(group, now_ts, tier.long)
                n_short, r_short = self._ratio(group, now_ts, tier.short)
                if n_long < self.min_events or n_short < 1:
                    continue
                burn_long, burn_short = r_long / budget, r_short / budget
                if burn_long > tier.burn_factor and burn_short > tier.burn_factor:
                    out.append(
                        Alert(
                            rule=self.name,
                            kind="burn_rate",
                            severity=tier.severity,
                            subject_kind=self.dimension,
                            subject=str(entity),
                            value=burn_long,
                            threshold=tier.burn_factor,
                            message=(
                                f"error budget burning {burn_long:.1f}x over "
                                f"{_fmt_td(tier.long)} ({r_long:.1%} of {n_long} failed) and "
                                f"{burn_short:.1f}x over {_fmt_td(tier.short)}; limit "
                                f"{tier.burn_factor:g}x for SLO {self.slo_target:.2%}"
                            ),
                            at=_py_utc(now_ts),
                        )
                    )
                    break
        return out


def _fmt_td(td: timedelta) -> str:
    """``timedelta(hours=1)`` → ``"1h"``, ``timedelta(minutes=30)`` → ``"30m"``."""
    s = int(td.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0 and s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


_SIGNAL_LABEL = {"latency": "p95 latency", "error_rate": "error ratio", "throughput": "events"}
_DEFAULT_DIRECTION = {"latency": "up", "error_rate": "up", "throughput": "both"}


@dataclass(frozen=True)
class AnomalyRule(Rule):
    """An entity's metric, bucketed into a regular series, does something it has not done
    recently — scored by the streaming detector :func:`ml.anomaly.score_series`.

    Per entity, events are bucketed (``bucket`` wide, aligned to the epoch) into p95 latency,
    error ratio or event count (empty buckets: missing for latency and error ratio, 0 for
    throughput), from the entity's first bucket within ``history`` up to the newest *closed*
    bucket — a bucket ``[start, start + bucket)`` is judged only once ``start + bucket <= now``,
    so nothing after ``now`` and no partial bucket ever counts. The buckets judged are those that
    closed after ``since`` (the previous evaluation; at most ``max_catch_up`` of them), or only
    the newest closed bucket without ``since``. The detector is causal, so a bucket's score
    depends only on buckets before it.

    Attributes:
        name: Rule name.
        dimension: Which event frame to watch.
        signal: ``"latency"``, ``"error_rate"`` or ``"throughput"``.
        bucket: Bucket width as a pandas frequency (``"5min"``, ``"1h"``).
        threshold: Score at or above which a bucket is anomalous.
        severity: Severity of the alert.
        direction: ``"up"``, ``"down"`` or ``"both"``: which departures count (default: up for
            latency and error ratio — a faster or cleaner service is not an incident — both for
            throughput).
        history: How far back the series reaches.
        max_catch_up: Most buckets judged in one evaluation after a long gap.
    """

    name: str
    dimension: str
    signal: Signal
    bucket: str = "5min"
    threshold: float = DEFAULT_THRESHOLD
    severity: Severity = "warning"
    direction: str | None = None
    history: timedelta = timedelta(days=7)
    max_catch_up: int = 12

    def __post_init__(self) -> None:
        if self.signal not in _SIGNAL_LABEL:
            raise ValueError(f"signal {self.signal!r} is not one of {list(_SIGNAL_LABEL)}")
        _check_severity(self.severity)
        direction = self.direction or _DEFAULT_DIRECTION[self.signal]
        if direction not in ("up", "down", "both"):
            raise ValueError(f"direction {direction!r} is not up, down or both")
        object.__setattr__(self, "direction", direction)
        if pd.Timedelta(self.bucket) <= pd.Timedelta(0):
            raise ValueError("bucket must be a positive duration")

    def series(self, events: pd.DataFrame, *, now: datetime) -> dict[str, pd.Series]:
        """The bucketed series per entity, indexed by bucket start, up to the newest closed
        bucket (exposed for inspection and tests)."""
        freq = pd.Timedelta(self.bucket)
        now_ts = _utc(now)
        end = now_ts.floor(freq)  # end of the newest closed bucket
        ev = _events_until(events, now_ts)
        ev = ev[(ev["at"] < end) & (ev["at"] >= end - pd.Timedelta(self.history))]
        out: dict[str, pd.Series] = {}
        for entity, group in ev.groupby("entity", sort=True):
            starts = group["at"].dt.floor(freq)
            index = pd.date_range(starts.min(), end - freq, freq=freq)
            if self.signal == "latency":
                values = group["latency_s"].groupby(starts).quantile(0.95)
                s = values.reindex(index)
            elif self.signal == "error_rate":
                s = (~group["ok"]).astype(float).groupby(starts).mean().reindex(index)
            else:
                s = group["ok"].groupby(starts).size().astype(float).reindex(index, fill_value=0.0)
            out[str(entity)] = s
        return out

    def evaluate(
        self,
        *,
        events: Mapping[str, pd.DataFrame],
        health: pd.DataFrame,
        now: datetime,
        since: datetime | None = None,
    ) -> list[Alert]:
        """At most one alert per entity: the highest-scoring anomalous bucket judged now."""
        freq = pd.Timedelta(self.bucket)
        out = []
        for entity, s in self.series(events.get(self.dimension), now=now).items():
            if s.empty:
                continue
            scores = score_series(s.to_numpy(dtype=float))
            ends = s.index + freq
            judged = np.arange(len(s))
            if since is None:
                judged = judged[-1:]
            else:
                judged = judged[ends > _utc(since)][-self.max_catch_up :]
            best: tuple[float, int] | None = None
            values = s.to_numpy(dtype=float)
            for i in judged:
                if not np.isfinite(values[i]) or scores[i] < self.threshold:
                    continue
                if not self._right_direction(values, i):
                    continue
                if best is None or scores[i] > best[0]:
                    best = (float(scores[i]), int(i))
            if best is None:
                continue
            score, i = best
            prior = values[:i][np.isfinite(values[:i])]
            typical = float(np.median(prior)) if len(prior) else float("nan")
            start = s.index[i]
            unit = " s" if self.signal == "latency" else ""
            out.append(
                Alert(
                    rule=self.name,
                    kind="anomaly",
                    severity=self.severity,
                    subject_kind=self.dimension,
                    subject=entity,
                    value=score,
                    threshold=float(self.threshold),
                    message=(
                        f"anomalous {_SIGNAL_LABEL[self.signal]} {_fmt_num(values[i])}{unit} in "
                        f"{start:%Y-%m-%d %H:%M}–{start + freq:%H:%M} UTC (typical "
                        f"{_fmt_num(typical)}{unit}; score {score:.2f} >= {self.threshold:g})"
                    ),
                    at=start.to_pydatetime(),
                )
            )
        return out

    def _right_direction(self, values: np.ndarray, i: int) -> bool:
        """Whether bucket ``i`` departs from the median of earlier buckets the watched way."""
        if self.direction == "both":
            return True
        prior = values[:i][np.isfinite(values[:i])]
        if not len(prior):
            return False
        median = float(np.median(prior))
        return values[i] > median if self.direction == "up" else values[i] < median


def evaluate_rules(
    rules: Iterable[Rule],
    *,
    events: Mapping[str, pd.DataFrame],
    health: pd.DataFrame | None = None,
    now: datetime,
    since: datetime | None = None,
) -> list[Alert]:
    """Run every rule and return all their alerts.

    Args:
        rules: The rules.
        events: Event frames per dimension (``job``, ``asset``, ``agent``, ``route``...).
        health: The health-metrics frame; computed from ``events`` with
            :func:`ml.health.health_metrics` when omitted.
        now: The evaluation time.
        since: The previous evaluation time (see :class:`AnomalyRule`); take it from
            :meth:`AlertManager.last_evaluated_at`.
    """
    if health is None:
        frames = [health_metrics(ev, dimension=d, now=now) for d, ev in events.items()]
        frames = [f.dropna(axis=1, how="all") for f in frames if not f.empty]
        health = (
            pd.concat(frames, ignore_index=True).reindex(columns=HEALTH_COLUMNS)
            if frames
            else pd.DataFrame(columns=HEALTH_COLUMNS)
        )
    out: list[Alert] = []
    for rule in rules:
        out.extend(rule.evaluate(events=events, health=health, now=now, since=since))
    return out


def default_rules() -> list[Rule]:
    """A generic rule set for any job, asset, agent or route (nothing domain-specific).

    Severities follow "would I wake someone for it": budget burns that exhaust a month's budget
    in days are critical; degraded success rates and anomalies are warnings.
    """
    return [
        # Jobs: a low success rate over a day, and fast error-budget burn for frequent jobs.
        ThresholdRule("job_success_rate", "job", "success_rate", "<", 0.9, window="24h"),
        BurnRateRule("job_error_budget_burn", "job", slo_target=0.95),
        AnomalyRule("job_duration_anomaly", "job", "latency", bucket="1h"),
        # Assets: repeated materialisation failures; every recent attempt failing is critical.
        ThresholdRule(
            "asset_failures", "asset", "error_rate", ">=", 0.25, window="24h", min_events=2
        ),
        ThresholdRule(
            "asset_failing",
            "asset",
            "success_rate",
            "<=",
            0.0,
            window="1h",
            severity="critical",
            min_events=2,
        ),
        AnomalyRule("asset_duration_anomaly", "asset", "latency", bucket="1h"),
        # Agents: error rate and latency.
        ThresholdRule(
            "agent_error_rate", "agent", "error_rate", ">", 0.2, window="1h", min_events=5
        ),
        AnomalyRule("agent_latency_anomaly", "agent", "latency", bucket="15min"),
        # Routes (fetching): error rate, budget burn, latency and error anomalies.
        ThresholdRule(
            "route_error_rate", "route", "error_rate", ">", 0.2, window="1h", min_events=5
        ),
        BurnRateRule("route_error_budget_burn", "route", slo_target=0.99),
        AnomalyRule("route_latency_anomaly", "route", "latency", bucket="5min"),
        AnomalyRule("route_error_anomaly", "route", "error_rate", bucket="15min"),
    ]


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


def _records_frame(records: Sequence[AlertRecord]) -> pd.DataFrame:
    """Records as a frame with explicit column types (so the first write fixes good types)."""
    rows = [asdict(r) for r in records]
    df = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    for col, dtype in ALERT_COLUMNS.items():
        if dtype.startswith("datetime"):
            df[col] = pd.to_datetime(df[col], utc=True)
        else:
            df[col] = df[col].astype(dtype)
    return df


def _none(v: Any) -> Any:
    """``None`` for pandas' missing markers, else ``v``."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _records_from_frame(df: pd.DataFrame) -> list[AlertRecord]:
    """The inverse of :func:`_records_frame` (tolerates missing optional columns)."""
    out = []
    for row in df.to_dict("records"):
        kw = {k: _none(row.get(k)) for k in ALERT_COLUMNS}
        for k in _TIME_FIELDS:
            if kw[k] is not None:
                kw[k] = _py_utc(kw[k])
        for k in ("value", "threshold"):
            kw[k] = float(kw[k]) if kw[k] is not None else None
        kw["count"] = int(kw["count"] or 0)
        kw["suppressed"] = int(kw["suppressed"] or 0)
        kw["verdict"] = bool(kw["verdict"]) if kw["verdict"] is not None else None
        for k in ("alert_id", "fingerprint", "rule", "kind", "severity", "subject_kind"):
            kw[k] = str(kw[k])
        kw["subject"] = str(kw["subject"])
        kw["message"] = str(kw["message"] or "")
        out.append(AlertRecord(**kw))
    return out


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


class AlertStore(ABC):
    """Where the :class:`AlertManager` keeps alert episodes and its evaluation log."""

    @abstractmethod
    def records(self) -> list[AlertRecord]:
        """Every stored alert episode (copies: changing them changes nothing until saved)."""

    @abstractmethod
    def save(self, records: Sequence[AlertRecord]) -> None:
        """Insert or replace these records (by ``alert_id``)."""

    @abstractmethod
    def record_evaluation(self, summary: ProcessSummary) -> None:
        """Append one evaluation to the log."""

    @abstractmethod
    def last_evaluated_at(self) -> datetime | None:
        """The time of the latest logged evaluation, if any."""


class InMemoryAlertStore(AlertStore):
    """Alert state in a dictionary: for tests, benchmarks and one-off evaluations."""

    def __init__(self) -> None:
        """An empty store."""
        self._records: dict[str, AlertRecord] = {}
        self.evaluations: list[ProcessSummary] = []

    def records(self) -> list[AlertRecord]:
        """Copies of every stored record."""
        return [copy.copy(r) for r in self._records.values()]

    def save(self, records: Sequence[AlertRecord]) -> None:
        """Insert or replace records by id."""
        for r in records:
            self._records[r.alert_id] = copy.copy(r)

    def record_evaluation(self, summary: ProcessSummary) -> None:
        """Append to :attr:`evaluations`."""
        self.evaluations.append(summary)

    def last_evaluated_at(self) -> datetime | None:
        """The latest evaluation time."""
        return max((e.evaluated_at for e in self.evaluations), default=None)


class WarehouseAlertStore(AlertStore):
    """Alert state in warehouse tables ``operations.alerts`` (one row per episode, replaced by
    ``alert_id``) and ``operations.alert_evaluations`` (one row per evaluation, appended).

    Reads the whole alerts table on each call: it holds one row per alert episode, which stays
    small, and plain table reads work the same on DuckDB and PostgreSQL. Concurrent managers on
    one warehouse would race (read, decide, write): run the alerting asset in the warehouse pool
    so that Dagster serialises it.

    Args:
        warehouse: Any :class:`~orchestration_project.common.warehouse.TableStore`.
        schema: Schema of the two tables.
    """

    def __init__(self, warehouse: Warehouse, *, schema: str = SCHEMA) -> None:
        """Bind to a warehouse."""
        self.warehouse = warehouse
        self.schema = schema

    def records(self) -> list[AlertRecord]:
        """Every row of ``operations.alerts``."""
        if not self.warehouse.table_exists(ALERTS_TABLE, schema=self.schema):
            return []
        return _records_from_frame(self.warehouse.read_table(ALERTS_TABLE, schema=self.schema))

    def save(self, records: Sequence[AlertRecord]) -> None:
        """Replace the rows of these alert ids in one transaction."""
        if not records:
            return
        self.warehouse.upsert_rows(
            ALERTS_TABLE,
            _records_frame(records),
            key="alert_id",
            keys=[r.alert_id for r in records],
            schema=self.schema,
        )

    def record_evaluation(self, summary: ProcessSummary) -> None:
        """Append a row to ``operations.alert_evaluations``."""
        row = asdict(summary)
        df = pd.DataFrame([row])
        df["evaluated_at"] = pd.to_datetime(df["evaluated_at"], utc=True)
        self.warehouse.write_table(EVALUATIONS_TABLE, df, schema=self.schema, mode="append")

    def last_evaluated_at(self) -> datetime | None:
        """The latest ``evaluated_at`` in the evaluation log."""
        if not self.warehouse.table_exists(EVALUATIONS_TABLE, schema=self.schema):
            return None
        df = self.warehouse.read_table(EVALUATIONS_TABLE, schema=self.schema)
        if df.empty:
            return None
        return _py_utc(pd.to_datetime(df["evaluated_at"], utc=True).max())


# -- the manager -------------------------------------------------------------------------------


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
