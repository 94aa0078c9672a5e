"""Alerting rules: :class:`ThresholdRule` (a health metric crosses a limit),
:class:`BurnRateRule` (multi-window, multi-burn-rate SLO alerting) and :class:`AnomalyRule` (a
bucketed metric series scored by :func:`ml.anomaly.score_series`), with :func:`evaluate_rules`
to run a list of them and :func:`default_rules`, a generic set for any job, asset, agent or route.

Slightly over 500 lines: the three rules share the :class:`Rule` interface and the event
helpers (``_events_until``, ``_fmt_num``, ``_fmt_td``), and :func:`default_rules` uses all of
them, so splitting one rule out would only scatter what is read together.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from ml.anomaly import DEFAULT_THRESHOLD, score_series
from ml.health import COLUMNS as HEALTH_COLUMNS
from ml.health import health_metrics
from orchestration_project.operations.alerting.model import (
    SEVERITY_RANK,
    Alert,
    Severity,
    _check_severity,
    _py_utc,
    _utc,
)

__all__ = [
    "DEFAULT_BURN_WINDOWS",
    "AnomalyRule",
    "BurnRateRule",
    "BurnWindow",
    "Rule",
    "Signal",
    "ThresholdRule",
    "default_rules",
    "evaluate_rules",
]

Signal = Literal["latency", "error_rate", "throughput"]

_OPS: Mapping[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _fmt_num(x: float | None) -> str:
    """A compact human rendering of a number."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.3g}"


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
        min_change: The smallest departure from the typical value (the median of earlier
            buckets, in the signal's unit) worth an alert: a step 0.3 s slower than usual is
            anomalous to the detector but is scheduler noise on a shared machine, not news.
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
    min_change: float = 0.0

    def __post_init__(self) -> None:
        if self.min_change < 0:
            raise ValueError("min_change must be >= 0")
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
        """Whether bucket ``i`` departs from the median of earlier buckets the watched way, by at
        least ``min_change``."""
        if self.direction == "both" and not self.min_change:
            return True
        prior = values[:i][np.isfinite(values[:i])]
        if not len(prior):
            return False
        median = float(np.median(prior))
        if self.direction == "both":
            return abs(values[i] - median) >= self.min_change
        change = values[i] - median if self.direction == "up" else median - values[i]
        return change > 0 and change >= self.min_change


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
        # Latency anomalies need a departure worth a look (min_change, seconds).
        AnomalyRule("job_duration_anomaly", "job", "latency", bucket="1h", min_change=1.0),
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
        AnomalyRule("asset_duration_anomaly", "asset", "latency", bucket="1h", min_change=1.0),
        # Agents: error rate and latency.
        ThresholdRule(
            "agent_error_rate", "agent", "error_rate", ">", 0.2, window="1h", min_events=5
        ),
        AnomalyRule("agent_latency_anomaly", "agent", "latency", bucket="15min", min_change=0.5),
        # Routes (fetching): error rate, budget burn, latency and error anomalies.
        ThresholdRule(
            "route_error_rate", "route", "error_rate", ">", 0.2, window="1h", min_events=5
        ),
        BurnRateRule("route_error_budget_burn", "route", slo_target=0.99),
        AnomalyRule("route_latency_anomaly", "route", "latency", bucket="5min", min_change=0.1),
        AnomalyRule("route_error_anomaly", "route", "error_rate", bucket="15min"),
    ]
