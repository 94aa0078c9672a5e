"""Configuration recommendations computed from the incident history and the run metadata.

Pure logic over frames (no store, no Dagster): each rule reads incidents
(:func:`~orchestration_project.operations.healing.incidents_frame`), incident actions
(``Healer.actions()``), the current operational settings (``ops_settings`` as a dict) and, for
fetch timeouts, the consolidated fetch attempts (``operations.fetch_attempts``), and returns
:class:`Recommendation` objects with their evidence. A person approves or rejects them through
the review queue (:mod:`orchestration_project.operations.review`), which applies an approved
one by writing its setting.

| kind | setting written | who reads it | rule |
|---|---|---|---|
| ``retry_budget`` | ``max_attempts:<job>`` | the healer: re-executions per incident before escalating | every recovered incident of the job recovered by re-execution *b* or earlier, and incidents that used more re-executions all failed: budget *b* |
| ``concurrency_default`` | ``max_parallel:<job>`` | ``OpsSettings.max_parallel`` (the job's fan-out) and the healer's halving | the healer lowered the job's fan-out at least *k* times in the window: the lowest fan-out at which its incidents recovered |
| ``fetch_timeout`` | ``fetch_timeout_s:<route>`` | the fetching steps of the route (recommended only for routes whose steps read it) | most timeouts of the route end at the configured limit while successful fetches' p99 latency is close to it: p99 × 1.5 |

Every value is bounded (:data:`SETTINGS`); :func:`check_value` refuses unknown kinds and
out-of-range values, and the review queue calls it before it queues or applies anything.
A recommendation's id is a stable hash of kind, subject and proposed value, so a rule that
finds the same thing again produces the same id.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from orchestration_project.common.time import utcnow
from orchestration_project.operations.failures import TIMEOUT
from orchestration_project.operations.healing import LOWER_CONCURRENCY, REEXECUTE, RemedyPolicy

RETRY_BUDGET = "retry_budget"
CONCURRENCY_DEFAULT = "concurrency_default"
FETCH_TIMEOUT = "fetch_timeout"
DEFAULT_RETRY_BUDGET = RemedyPolicy().max_attempts  # the healer's default budget


@dataclass(frozen=True)
class SettingSpec:
    """One kind of setting a recommendation may change.

    Attributes:
        prefix: the ``OpsSettings`` key is ``<prefix>:<subject>``.
        low: the smallest value ever applied.
        high: the largest value ever applied.
        integer: whether the value is a whole number.
        reader: who reads the setting (shown to the reviewer).
    """

    prefix: str
    low: float
    high: float
    integer: bool
    reader: str


SETTINGS: dict[str, SettingSpec] = {
    RETRY_BUDGET: SettingSpec(
        "max_attempts", 1, 10, True, "the healer: re-executions per incident before escalating"
    ),
    CONCURRENCY_DEFAULT: SettingSpec(
        "max_parallel", 1, 64, True, "OpsSettings.max_parallel: the job's fan-out"
    ),
    FETCH_TIMEOUT: SettingSpec(
        "fetch_timeout_s", 1.0, 120.0, False, "the fetching steps: total time per page (s)"
    ),
}


def setting_key(kind: str, subject: str) -> str:
    """The ``OpsSettings`` key a recommendation of ``kind`` about ``subject`` writes.

    Raises:
        ValueError: for an unknown kind.
    """
    return f"{_spec(kind).prefix}:{subject}"


def _spec(kind: str) -> SettingSpec:
    if kind not in SETTINGS:
        raise ValueError(f"unknown recommendation kind {kind!r}; known kinds: {sorted(SETTINGS)}")
    return SETTINGS[kind]


def check_value(kind: str, value: Any) -> int | float:
    """``value`` as the number a setting of ``kind`` holds, if it is within the kind's bounds.

    Raises:
        ValueError: for an unknown kind, a value that is not a finite number, a fraction where
            a whole number is needed, or a value outside ``[low, high]``.
    """
    spec = _spec(kind)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{kind}: {value!r} is not a finite number")
    if spec.integer and value != int(value):
        raise ValueError(f"{kind}: {value!r} is not a whole number")
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{kind}: {value!r} is outside the bounds [{spec.low:g}, {spec.high:g}]")
    return int(value) if spec.integer else round(float(value), 1)


def recommendation_id(kind: str, subject: str, proposed: Any) -> str:
    """A stable id from kind, subject and proposed value (``rec-`` + 16 hex digits)."""
    text = json.dumps([kind, subject, check_value(kind, proposed)])
    return "rec-" + hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Recommendation:
    """One proposed configuration change with its evidence.

    Attributes:
        kind: one of :data:`SETTINGS`.
        subject: the job (retry budget, concurrency) or route (fetch timeout).
        current: the value in force now.
        proposed: the value to apply (within the kind's bounds).
        evidence: ``counts`` (numbers a reviewer can check), ``incidents`` (ids it rests on),
            ``text`` (one sentence) and rule-specific details.
        effect: what applying it is expected to change.
        confidence: 0-1, growing with the amount of evidence.
    """

    kind: str
    subject: str
    current: int | float
    proposed: int | float
    evidence: dict[str, Any] = field(default_factory=dict)
    effect: str = ""
    confidence: float = 0.5

    @property
    def setting(self) -> str:
        """The ``OpsSettings`` key it writes."""
        return setting_key(self.kind, self.subject)

    @property
    def id(self) -> str:
        """Its stable id (kind + subject + proposed value)."""
        return recommendation_id(self.kind, self.subject, self.proposed)

    def as_row(self) -> dict[str, Any]:
        """One flat row for a table (evidence counts and incidents as JSON text)."""
        return {
            "item_id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "setting": self.setting,
            "current": float(self.current),
            "proposed": float(self.proposed),
            "confidence": float(self.confidence),
            "evidence": str(self.evidence.get("text", "")),
            "counts": json.dumps(self.evidence.get("counts", {}), sort_keys=True),
            "incidents": json.dumps(list(self.evidence.get("incidents", []))),
            "effect": self.effect,
        }


ROW_COLUMNS = list(
    Recommendation(RETRY_BUDGET, "", 1, 1).as_row()  # the column order of ``as_row``
)


def _confidence(n: float, cap: float = 0.95) -> float:
    """n/(n+2): 0.6 with three observations, 0.8 with eight, never above ``cap``."""
    return round(min(cap, n / (n + 2)), 2) if n > 0 else 0.0


def _recent(df: pd.DataFrame, column: str, since: datetime) -> pd.DataFrame:
    if df.empty or column not in df.columns:
        return df
    at = pd.to_datetime(df[column], utc=True, errors="coerce")
    return df[at >= pd.Timestamp(since)]


def _details(actions: pd.DataFrame, action: str) -> pd.DataFrame:
    """The ``detail`` dicts of one action as columns, with the incident id and time."""
    rows = actions[actions["action"] == action] if len(actions) else actions
    out = [
        {"incident_id": r["incident_id"], "at": r["at"], **(r["detail"] or {})}
        for _, r in rows.iterrows()
    ]
    return pd.DataFrame(out)


def retry_budget_recommendations(
    incidents: pd.DataFrame,
    actions: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    runs: pd.DataFrame | None = None,
    now: datetime | None = None,
    window: timedelta = timedelta(days=14),
    min_incidents: int = 3,
    default_budget: int = DEFAULT_RETRY_BUDGET,
) -> list[Recommendation]:
    """A lower retry budget for jobs whose incidents never recover after re-execution *b*.

    Per job, over run-failure incidents of the window that were re-executed at least once: the
    recovered ones give the re-execution that succeeded (their ``attempts``); the escalated
    ones (other than recoveries that failed their checks) used re-executions that all failed.
    With at least ``min_incidents`` of them, one recovery or more, and escalated incidents that
    spent more than *b* = the latest successful re-execution, the budget *b* would have
    escalated those sooner and saved their re-executions beyond *b* (and, given ``runs``
    from ``operations.runs``, their run time). Nothing is recommended when *b* is not below
    the budget in force (``settings['max_attempts:<job>']`` or ``default_budget``).
    """
    now = now or utcnow()
    inc = _recent(incidents, "failure_at", now - window)
    if inc.empty:
        return []
    inc = inc[(inc["source"] == "run_failure") & (inc["attempts"] >= 1) & inc["job_name"].notna()]
    launched = _details(actions, REEXECUTE)
    out = []
    for job, g in inc.groupby("job_name"):
        recovered = g[g["status"] == "recovered"]
        exhausted = g[(g["status"] == "escalated") & (g["consistency"] != "failed")]
        n = len(recovered) + len(exhausted)
        if n < min_incidents or recovered.empty or exhausted.empty:
            continue
        best = int(recovered["attempts"].max())
        current = int(settings.get(setting_key(RETRY_BUDGET, str(job)), default_budget))
        wasted = int((exhausted["attempts"] - best).clip(lower=0).sum())
        if best >= current or wasted <= 0:
            continue
        seconds = None
        if runs is not None and len(launched) and "launched_run_id" in launched.columns:
            beyond = launched[
                launched["incident_id"].isin(exhausted["incident_id"])
                & (pd.to_numeric(launched["attempt"], errors="coerce") > best)
            ]
            spent = runs[runs["run_id"].isin(beyond["launched_run_id"].dropna())]
            seconds = round(float(pd.to_numeric(spent["duration_s"]).fillna(0).sum()), 1)
        by_attempt = recovered["attempts"].astype(int).value_counts().sort_index()
        ids = sorted(g.loc[g.index.isin(recovered.index.union(exhausted.index)), "incident_id"])
        text = (
            f"{len(recovered)} of {n} incidents of {job} recovered, none after re-execution "
            f"{best}; {len(exhausted)} escalated after using up to "
            f"{int(exhausted['attempts'].max())} re-executions ({wasted} beyond {best} that "
            "never succeeded)"
        )
        out.append(
            Recommendation(
                kind=RETRY_BUDGET,
                subject=str(job),
                current=current,
                proposed=best,
                evidence={
                    "counts": {
                        "incidents": n,
                        "recovered": len(recovered),
                        "escalated": len(exhausted),
                        "reexecutions": int(
                            recovered["attempts"].sum() + exhausted["attempts"].sum()
                        ),
                        "wasted_reexecutions": wasted,
                    },
                    "recovered_by_attempt": {str(k): int(v) for k, v in by_attempt.items()},
                    "wasted_run_seconds": seconds,
                    "incidents": ids,
                    "text": text,
                },
                effect=(
                    f"the healer escalates {job} incidents after {best} re-execution(s) "
                    f"instead of {current}: {wasted} re-execution runs saved over the last "
                    f"{window.days} days"
                    + (f" ({seconds:g} s of run time)" if seconds else "")
                    + ", and people hear of unrecoverable incidents sooner"
                ),
                confidence=_confidence(n),
            )
        )
    return out


def concurrency_recommendations(
    incidents: pd.DataFrame,
    actions: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    now: datetime | None = None,
    window: timedelta = timedelta(days=7),
    min_lowerings: int = 3,
) -> list[Recommendation]:
    """A lower default fan-out for jobs whose concurrency the healer keeps halving.

    Per job, the healer's ``lower_concurrency`` actions in the window: with at least
    ``min_lowerings`` of them, the proposal is the lowest fan-out at which a lowered incident
    recovered (the lowest it reached, if none recovered yet): an incident that failed again at
    a fan-out still lowered by an earlier one shows that fan-out was not enough. It is
    recommended when below the default the job runs with: ``settings['max_parallel:<job>']``
    (pass the *configured* settings, where a value a remedy override holds is its baseline:
    ``review.current_settings(store, configured=True)``), else the default the job reported
    (``default_parallel:<job>``), else the baseline of the first lowering.
    """
    now = now or utcnow()
    lowered = _recent(_details(actions, LOWER_CONCURRENCY), "at", now - window)
    if lowered.empty or "job" not in lowered.columns:
        return []
    status = (
        dict(zip(incidents["incident_id"], incidents["status"], strict=False))
        if len(incidents)
        else {}
    )
    out = []
    for job, g in lowered.groupby("job"):
        if len(g) < min_lowerings:
            continue
        final = g.groupby("incident_id")["after"].min().astype(int)
        recovered = final[[status.get(i) == "recovered" for i in final.index]]
        proposed = int((recovered if len(recovered) else final).min())
        first_row = g.sort_values("at").iloc[0]
        baseline = first_row.get("baseline")
        first = int(first_row["before"] if baseline is None or pd.isna(baseline) else baseline)
        current = settings.get(setting_key(CONCURRENCY_DEFAULT, str(job)))
        if current is None:
            current = settings.get(f"default_parallel:{job}", first)
        current = int(current)
        if proposed >= current:
            continue
        text = (
            f"the healer lowered {job}'s fan-out {len(g)} times in {len(final)} "
            f"resource-exhaustion incidents within {window.days} days; "
            f"{len(recovered)} recovered, at a fan-out of {proposed} or more"
        )
        out.append(
            Recommendation(
                kind=CONCURRENCY_DEFAULT,
                subject=str(job),
                current=current,
                proposed=proposed,
                evidence={
                    "counts": {
                        "lowerings": len(g),
                        "incidents": len(final),
                        "recovered": len(recovered),
                    },
                    "lowest_by_incident": {str(k): int(v) for k, v in final.items()},
                    "incidents": sorted(final.index.astype(str)),
                    "text": text,
                },
                effect=(
                    f"{job} runs with at most {proposed} parallel workers instead of {current}: "
                    "fewer resource-exhaustion failures, incidents and re-executions"
                ),
                confidence=_confidence(len(g)),
            )
        )
    return out


def fetch_timeout_recommendations(
    fetch_attempts: pd.DataFrame,
    settings: Mapping[str, Any],
    configured: Mapping[str, float],
    *,
    incidents: pd.DataFrame | None = None,
    now: datetime | None = None,
    window: timedelta = timedelta(days=7),
    min_timeouts: int = 5,
    min_ok: int = 20,
    near: float = 0.9,
    near_share: float = 0.8,
    close: float = 0.75,
    factor: float = 1.5,
) -> list[Recommendation]:
    """A longer fetch timeout for routes whose timeouts are the limit cutting slow pages off.

    Per route of ``configured`` (its configured timeout; ``settings['fetch_timeout_s:<route>']``
    when one was applied), over the window's fetch attempts: at least ``min_timeouts``
    timeouts, of which at least ``near_share`` ended at ``near`` × the timeout or later (the
    limit cut them off), and at least ``min_ok`` successful fetches whose p99 latency is
    ``close`` × the timeout or more (successes already come close to it). Proposal:
    p99 × ``factor``, within the kind's bounds, if that is above the current timeout.
    ``incidents`` (optional) adds the window's ``timeout`` incidents to the evidence.
    """
    now = now or utcnow()
    attempts = _recent(fetch_attempts, "attempted_at", now - window)
    timeout_incidents: list[str] = []
    if incidents is not None and len(incidents):
        recent = _recent(incidents, "failure_at", now - window)
        timeout_incidents = sorted(recent.loc[recent["failure_class"] == TIMEOUT, "incident_id"])
    spec = SETTINGS[FETCH_TIMEOUT]
    out = []
    for route, configured_s in configured.items():
        if attempts.empty:
            break
        current = float(settings.get(setting_key(FETCH_TIMEOUT, route), configured_s))
        a = attempts[attempts["route"] == route]
        latency = pd.to_numeric(a["latency_s"], errors="coerce")
        timeouts = latency[a["outcome"] == "timeout"].dropna()
        ok = latency[a["outcome"] == "ok"].dropna()
        failed = int((~a["outcome"].isin(["ok", "refused", "robots_disallowed"])).sum())
        if len(timeouts) < min_timeouts or len(ok) < min_ok:
            continue
        at_limit = int((timeouts >= near * current).sum())
        p99 = float(ok.quantile(0.99))
        if at_limit / len(timeouts) < near_share or p99 < close * current:
            continue
        proposed = round(min(spec.high, max(spec.low, p99 * factor)), 1)
        if proposed <= current:
            continue
        text = (
            f"{at_limit} of {len(timeouts)} {route} timeouts ended at the {current:g} s limit "
            f"({len(timeouts)} of {failed} failed fetches were timeouts); successful fetches' "
            f"p99 latency is {p99:.2f} s ({p99 / current:.0%} of the limit, n={len(ok)})"
        )
        out.append(
            Recommendation(
                kind=FETCH_TIMEOUT,
                subject=str(route),
                current=current,
                proposed=proposed,
                evidence={
                    "counts": {
                        "attempts": len(a),
                        "timeouts": len(timeouts),
                        "timeouts_at_limit": at_limit,
                        "failed": failed,
                        "ok": len(ok),
                    },
                    "ok_p99_s": round(p99, 3),
                    "incidents": timeout_incidents,
                    "text": text,
                },
                effect=(
                    f"{route} fetches get {proposed:g} s instead of {current:g} s: pages that "
                    "now time out just past the limit succeed (p99 × 1.5 leaves headroom), "
                    "slow-page retries and route switches drop"
                ),
                confidence=round(
                    min(0.95, at_limit / len(timeouts) * _confidence(len(timeouts), 1.0)), 2
                ),
            )
        )
    return out


def recommend(
    incidents: pd.DataFrame,
    actions: pd.DataFrame,
    settings: Mapping[str, Any],
    *,
    runs: pd.DataFrame | None = None,
    fetch_attempts: pd.DataFrame | None = None,
    fetch_timeouts: Mapping[str, float] | None = None,
    now: datetime | None = None,
) -> list[Recommendation]:
    """Every rule's recommendations with their default thresholds, by kind and subject."""
    now = now or utcnow()
    recs = retry_budget_recommendations(incidents, actions, settings, runs=runs, now=now)
    recs += concurrency_recommendations(incidents, actions, settings, now=now)
    if fetch_attempts is not None and fetch_timeouts:
        recs += fetch_timeout_recommendations(
            fetch_attempts, settings, fetch_timeouts, incidents=incidents, now=now
        )
    return sorted(recs, key=lambda r: (r.kind, r.subject))


def recommendations_frame(recs: list[Recommendation]) -> pd.DataFrame:
    """Recommendations as a table (columns :data:`ROW_COLUMNS`)."""
    return pd.DataFrame([r.as_row() for r in recs], columns=ROW_COLUMNS)


__all__ = [
    "CONCURRENCY_DEFAULT",
    "DEFAULT_RETRY_BUDGET",
    "FETCH_TIMEOUT",
    "RETRY_BUDGET",
    "ROW_COLUMNS",
    "SETTINGS",
    "Recommendation",
    "SettingSpec",
    "check_value",
    "concurrency_recommendations",
    "fetch_timeout_recommendations",
    "recommend",
    "recommendation_id",
    "recommendations_frame",
    "retry_budget_recommendations",
    "setting_key",
]
