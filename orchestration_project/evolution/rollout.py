"""Gradual rollout of a new version of a workflow step, with statistical promotion and automatic
rollback. Pure code: no Dagster, no storage (the state is a plain value the caller stores).

A **rollout** (:class:`RolloutSpec`, declared in ``rollouts.yaml``) replaces the ``current``
version of a step (an extraction rule set, a content strategy, a routing model, a form mapping)
by a ``candidate`` version, in **stages**: a growing share of the units (pages, customers,
briefs) runs the candidate, e.g. 5 % → 25 % → 100 %.

* **Assignment** (:func:`unit_bucket`, :func:`in_canary`): a unit's bucket is GrowthBook's hash
  (:func:`ml.experiments.gb_hash`) of its id seeded by the rollout id, a number in [0, 1); the
  unit runs the candidate at stage ``p %`` when its bucket is below ``p / 100``. Stateless,
  the same in every process, and monotone: a unit in the 5 % stays in at 25 %.
* **Stage decision** (:func:`decide_stage`): over the per-unit observations of the current stage
  (both arms, the same period: the runs since the stage began; a unit's latest observation
  counts once), every metric is tested for **non-inferiority** of the candidate
  (:func:`ml.experiments.noninferiority.noninferiority_test`): with ``d`` the improvement of the
  candidate's mean over the current version's (signed so that positive is better), ``H0: d <=
  -margin`` is rejected at one-sided level ``alpha`` when the lower one-sided ``1 - alpha``
  bound of ``d`` (Welch t, or GrowthBook's always-valid confidence sequence with ``test:
  sequential``) lies above ``-margin``. A metric is ``worse`` when it is not non-inferior and the
  upper bound is below 0 (the candidate is significantly worse). When the observations carry a
  covariate for a metric (``<metric>_covariate``: a value of the unit the version cannot change,
  e.g. the extraction seconds spent before a rule set acts), the metric is first regression-
  adjusted (:func:`regression_adjust`: CUPED with one slope per arm), which removes the
  between-unit variation the covariate explains — what makes a 5 % stage of a handful of units
  decidable. Then:

  - ``rollback`` when any metric is ``worse``;
  - ``promote`` when every metric is non-inferior (to the next stage; into the last stage,
    100 %, means the rollout is complete and the candidate becomes the current version);
  - ``hold`` otherwise: fewer than ``min_units_per_arm`` units in an arm, a sample-ratio
    mismatch (:func:`ml.experiments.srm_check`, the split does not match the share), or an
    inconclusive metric.

  Rollback is checked first (a clearly worse candidate is withdrawn even when the split looks
  off); every decision needs ``min_units_per_arm`` units in each arm. When neither arm varies
  at all on a metric (every page passed its checks), the observed difference is taken as exact.
  With ``test: welch`` each decision is a fixed-horizon test, valid for one look per stage;
  ``test: sequential`` stays valid however often the sensor decides again.

  Every decision carries its evidence: per metric both arms' n, mean and standard deviation,
  the difference, the bounds, the margin, both p-values and the verdict.
* **State** (:class:`RolloutState`, :func:`start_rollout`, :func:`apply_decision`): the stage,
  the versions, the status (``canary``, ``completed``, ``rolled_back``) and the history of
  decisions; :meth:`RolloutState.assign` tells a step which version a unit runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from ml.experiments.assignment import gb_hash
from ml.experiments.checks import srm_check
from ml.experiments.noninferiority import noninferiority_test
from ml.experiments.summary import ArmStats

__all__ = [
    "ARMS",
    "CANDIDATE",
    "COVARIATE_SUFFIX",
    "CURRENT",
    "OBSERVATIONS_SCHEMA",
    "OBSERVATIONS_TABLE",
    "OBSERVATION_COLUMNS",
    "ROLLOUTS_PATH",
    "MetricSpec",
    "RolloutSpec",
    "RolloutState",
    "StageDecision",
    "apply_decision",
    "canary_units",
    "regression_adjust",
    "rollout_observation_rows",
    "decide_stage",
    "in_canary",
    "load_rollouts",
    "parse_rollouts",
    "stage_history",
    "stage_observations",
    "start_rollout",
    "unit_bucket",
]

ROLLOUTS_PATH = Path(__file__).with_name("rollouts.yaml")
"""The declared rollouts of the platform."""
CURRENT = "current"
CANDIDATE = "candidate"
ARMS = (CURRENT, CANDIDATE)
OBSERVATION_COLUMNS = [
    "rollout_id",
    "stage",
    "percent",
    "unit",
    "arm",
    "version",
    "run_id",
    "observed_at",
]
"""The identifying columns of a per-unit observation; one further column per metric."""
OBSERVATIONS_SCHEMA = "evolution"
OBSERVATIONS_TABLE = "rollout_observations"
"""Where the rolled-out steps record their per-unit observations (warehouse schema, table):
one row per rollout and unit, its latest (key ``observation_key``)."""

Decision = Literal["promote", "hold", "rollback"]
Status = Literal["canary", "completed", "rolled_back"]


@dataclass(frozen=True)
class MetricSpec:
    """A metric a rollout is judged on.

    Attributes:
        name: The observation column (e.g. ``check_pass``, ``quarantine_rate``, ``cost_s``).
        higher_is_better: The metric's direction.
        margin: The non-inferiority margin, in the metric's unit.
        relative_margin: Or a share of the current arm's mean (the larger of the two is used).
        description: What it measures (shown with the evidence).
    """

    name: str
    higher_is_better: bool = True
    margin: float = 0.0
    relative_margin: float = 0.0
    description: str = ""

    def margin_for(self, current_mean: float) -> float:
        """The margin against a current arm whose mean is ``current_mean``."""
        return max(self.margin, self.relative_margin * abs(current_mean))


@dataclass(frozen=True)
class RolloutSpec:
    """A declared rollout: which step, which versions, which stages, judged how.

    Attributes:
        rollout_id: Unique id; also the assignment hash's seed.
        step: The workflow step whose version rolls out (e.g. ``extraction_rule_set``).
        current_version: The version running today.
        candidate_version: The new version.
        unit_kind: What a unit is (``page``, ``customer``, ``brief``).
        stages: Canary shares in percent, increasing, ending at 100.
        metrics: The metrics judged (check pass rate, quality metrics, cost).
        min_units_per_arm: Fewest units in each arm before a stage can be decided, one per
            stage before the last (a single number applies to every stage).
        alpha: One-sided significance level of every bound.
        test: ``welch`` (one look per batch of data) or ``sequential`` (always valid).
        tuning: Total units where the sequential interval is tightest.
        description: Why this rollout.
    """

    rollout_id: str
    step: str
    current_version: str
    candidate_version: str
    unit_kind: str
    stages: tuple[int, ...]
    metrics: tuple[MetricSpec, ...]
    min_units_per_arm: tuple[int, ...]
    alpha: float = 0.05
    test: Literal["welch", "sequential"] = "welch"
    tuning: float = 1000.0
    description: str = ""

    def __post_init__(self) -> None:
        st = list(self.stages)
        if len(st) < 2 or st[-1] != 100 or any(b <= a for a, b in zip(st, st[1:], strict=False)):
            raise ValueError(f"{self.rollout_id}: stages must increase and end at 100, got {st}")
        if st[0] <= 0:
            raise ValueError(f"{self.rollout_id}: the first stage must be above 0 %")
        if not self.metrics:
            raise ValueError(f"{self.rollout_id}: a rollout needs at least one metric")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"{self.rollout_id}: alpha must be in (0, 0.5)")
        if self.current_version == self.candidate_version:
            raise ValueError(f"{self.rollout_id}: the candidate is the current version")
        if self.test not in ("welch", "sequential"):
            raise ValueError(f"{self.rollout_id}: test must be 'welch' or 'sequential'")

    def percent(self, stage: int) -> int:
        """The canary share of stage ``stage`` (0-based), in percent."""
        return self.stages[stage]

    def min_units(self, stage: int) -> int:
        """Fewest units per arm before stage ``stage`` can be decided."""
        m = self.min_units_per_arm
        return m[min(stage, len(m) - 1)]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (stored with the state, so a decision uses the spec it started
        with)."""
        d = asdict(self)
        d["stages"] = list(self.stages)
        d["min_units_per_arm"] = list(self.min_units_per_arm)
        d["metrics"] = [asdict(m) for m in self.metrics]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RolloutSpec:
        """The inverse of :meth:`as_dict`."""
        d = dict(d)
        d["stages"] = tuple(d["stages"])
        d["min_units_per_arm"] = tuple(d["min_units_per_arm"])
        d["metrics"] = tuple(MetricSpec(**m) for m in d["metrics"])
        return cls(**d)


def _metric(m: Mapping[str, Any]) -> MetricSpec:
    direction = str(m.get("direction", "higher"))
    if direction not in ("higher", "lower"):
        raise ValueError(f"metric {m.get('name')}: direction must be 'higher' or 'lower'")
    return MetricSpec(
        name=str(m["name"]),
        higher_is_better=direction == "higher",
        margin=float(m.get("margin", 0.0)),
        relative_margin=float(m.get("relative_margin", 0.0)),
        description=str(m.get("description", "")),
    )


def parse_rollouts(data: Mapping[str, Any]) -> dict[str, RolloutSpec]:
    """Rollout specs from the parsed YAML document (``{"rollouts": [...]}``), by id.

    Each entry: ``id``, ``step``, ``current``, ``candidate``, ``unit``, ``stages``,
    ``metrics`` (``name``, ``direction: higher|lower``, ``margin`` and/or
    ``relative_margin``, ``description``), ``min_units_per_arm`` (a number or one per stage),
    ``alpha``, ``test``, ``tuning``, ``description``.
    """
    out: dict[str, RolloutSpec] = {}
    for r in data.get("rollouts") or []:
        mins = r.get("min_units_per_arm", 10)
        spec = RolloutSpec(
            rollout_id=str(r["id"]),
            step=str(r["step"]),
            current_version=str(r["current"]),
            candidate_version=str(r["candidate"]),
            unit_kind=str(r.get("unit", "unit")),
            stages=tuple(int(s) for s in r.get("stages", (5, 25, 100))),
            metrics=tuple(_metric(m) for m in r["metrics"]),
            min_units_per_arm=tuple(int(x) for x in (mins if isinstance(mins, list) else [mins])),
            alpha=float(r.get("alpha", 0.05)),
            test=r.get("test", "welch"),
            tuning=float(r.get("tuning", 1000.0)),
            description=str(r.get("description", "")).strip(),
        )
        if spec.rollout_id in out:
            raise ValueError(f"rollout {spec.rollout_id} is declared twice")
        out[spec.rollout_id] = spec
    return out


def load_rollouts(path: Path | str | None = None) -> dict[str, RolloutSpec]:
    """The rollouts declared in ``path`` (default: the packaged ``rollouts.yaml``), by id."""
    text = Path(path or ROLLOUTS_PATH).read_text(encoding="utf-8")
    return parse_rollouts(yaml.safe_load(text) or {})


# -- assignment ----------------------------------------------------------------------------------


def unit_bucket(rollout_id: str, unit: str) -> float:
    """The unit's bucket in [0, 1): GrowthBook's hash (version 2) of ``unit`` seeded by the
    rollout id."""
    b = gb_hash(rollout_id, str(unit))
    assert b is not None  # version 2 always hashes
    return b


def in_canary(rollout_id: str, unit: str, percent: float) -> bool:
    """Whether ``unit`` runs the candidate when the canary share is ``percent`` %. Monotone in
    ``percent``: a unit in at 5 % is in at every larger share."""
    return unit_bucket(rollout_id, unit) < percent / 100.0


# -- state ---------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RolloutState:
    """Where a rollout stands.

    Attributes:
        spec: The spec the rollout started with.
        stage: Index of the current stage in ``spec.stages``.
        status: ``canary`` (running a stage), ``completed`` (the candidate is the current
            version everywhere) or ``rolled_back`` (the current version everywhere).
        current_version: The version units outside the canary run (the candidate's after
            completion).
        started_at: When the rollout started.
        stage_started_at: When the current stage began (its observations are "the period").
        decisions: Every promote and rollback decision so far (dicts), oldest first.
        holds: How many hold decisions the current stage has had.
    """

    spec: RolloutSpec
    stage: int
    status: Status
    current_version: str
    started_at: datetime
    stage_started_at: datetime
    decisions: tuple[dict[str, Any], ...] = ()
    holds: int = 0

    @property
    def rollout_id(self) -> str:
        """The rollout's id."""
        return self.spec.rollout_id

    @property
    def percent(self) -> int:
        """The share of units running the candidate now: the stage's while in canary, 100
        when completed, 0 when rolled back."""
        if self.status == "completed":
            return 100
        if self.status == "rolled_back":
            return 0
        return self.spec.percent(self.stage)

    @property
    def active(self) -> bool:
        """Whether stages are still being decided."""
        return self.status == "canary"

    def assign(self, unit: str) -> tuple[str, str]:
        """The arm and version ``unit`` runs now: ``("candidate", v)`` or ``("current", v)``."""
        if self.status == "completed":
            return CURRENT, self.spec.candidate_version
        if self.status == "canary" and in_canary(self.rollout_id, unit, self.percent):
            return CANDIDATE, self.spec.candidate_version
        return CURRENT, self.spec.current_version

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "spec": self.spec.as_dict(),
            "stage": self.stage,
            "status": self.status,
            "current_version": self.current_version,
            "started_at": self.started_at.isoformat(),
            "stage_started_at": self.stage_started_at.isoformat(),
            "decisions": list(self.decisions),
            "holds": self.holds,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RolloutState:
        """The inverse of :meth:`as_dict`."""
        return cls(
            spec=RolloutSpec.from_dict(d["spec"]),
            stage=int(d["stage"]),
            status=d["status"],
            current_version=str(d["current_version"]),
            started_at=datetime.fromisoformat(d["started_at"]),
            stage_started_at=datetime.fromisoformat(d["stage_started_at"]),
            decisions=tuple(d.get("decisions") or ()),
            holds=int(d.get("holds", 0)),
        )


def start_rollout(spec: RolloutSpec, *, now: datetime | None = None) -> RolloutState:
    """A rollout at its first stage."""
    at = now or _now()
    return RolloutState(
        spec=spec,
        stage=0,
        status="canary",
        current_version=spec.current_version,
        started_at=at,
        stage_started_at=at,
    )


# -- decisions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageDecision:
    """One stage decision and its evidence.

    Attributes:
        rollout_id: The rollout.
        stage: The decided stage's index.
        percent: Its canary share.
        decision: ``promote``, ``hold`` or ``rollback``.
        next_percent: The share after the decision (100 on completion, 0 on rollback).
        reason: One sentence a person can act on.
        units: Units per arm in the evidence.
        evidence: Per metric: both arms' n/mean/sd, difference, bounds, margin, p-values,
            verdict.
        srm_p_value: The sample-ratio-mismatch check's p-value of the split.
        decided_at: When.
        seconds: How long the decision took to compute from the data.
    """

    rollout_id: str
    stage: int
    percent: int
    decision: Decision
    next_percent: int
    reason: str
    units: dict[str, int]
    evidence: list[dict[str, Any]]
    srm_p_value: float
    decided_at: datetime
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        d = asdict(self)
        d["decided_at"] = self.decided_at.isoformat()
        return d


def stage_observations(state: RolloutState, observations: pd.DataFrame) -> pd.DataFrame:
    """The observations that decide the current stage: this rollout, this stage, the versions of
    its arms; one row per unit (its latest observation)."""
    if observations.empty:
        return observations
    spec = state.spec
    obs = observations[
        (observations["rollout_id"] == spec.rollout_id) & (observations["stage"] == state.stage)
    ]
    expected = {CURRENT: spec.current_version, CANDIDATE: spec.candidate_version}
    obs = obs[obs["version"] == obs["arm"].map(expected)]
    if obs.empty:
        return obs
    return obs.sort_values("observed_at", kind="stable").drop_duplicates("unit", keep="last")


def rollout_observation_rows(
    units: pd.DataFrame, state: RolloutState, *, run_id: str, now: datetime | None = None
) -> pd.DataFrame:
    """Per-unit measurements of a step (a ``unit`` column and one column per metric) as
    observations of ``state``'s current stage: :data:`OBSERVATION_COLUMNS` (the arm and version
    each unit ran, from :meth:`RolloutState.assign`), an ``observation_key`` (rollout and unit:
    a unit's newer observation replaces its older one), then the measurements."""
    at = (now or _now()).astimezone(UTC).replace(tzinfo=None)
    arms = [state.assign(str(u)) for u in units["unit"]]
    ids = pd.DataFrame(
        {
            "observation_key": [f"{state.rollout_id}|{u}" for u in units["unit"]],
            "rollout_id": state.rollout_id,
            "stage": state.stage,
            "percent": state.percent,
            "unit": units["unit"].astype(str).to_numpy(),
            "arm": [a for a, _ in arms],
            "version": [v for _, v in arms],
            "run_id": run_id,
            "observed_at": at,
        },
        index=units.index,
    )
    rest = units.drop(columns=[c for c in units.columns if c in ids.columns])
    return pd.concat([ids, rest], axis=1).reset_index(drop=True)


def _arm_summary(values: np.ndarray) -> dict[str, float | None]:
    n = int(values.size)
    return {
        "n": n,
        "mean": float(values.mean()) if n else None,
        "sd": float(values.std(ddof=1)) if n > 1 else 0.0,
    }


COVARIATE_SUFFIX = "_covariate"
"""An observation column ``<metric>_covariate`` holds a value of the unit that the version it
runs cannot change (measured before the version acts); it adjusts the metric (CUPED)."""


def regression_adjust(
    y: np.ndarray, x: np.ndarray, arms: np.ndarray
) -> tuple[np.ndarray, dict[str, float]]:
    """Regression adjustment by a covariate, one slope per arm (Lin 2013; CUPED, Deng et al.
    2013, with the slope fitted in each arm): ``y - theta_arm (x - mean x)``, where ``theta_arm
    = cov(x, y) / var(x)`` within the arm (0 when ``x`` does not vary there) and ``mean x`` is
    over both arms. Each arm's adjusted mean estimates its mean at the common covariate mean;
    the variation the covariate explains leaves the per-unit values, so a few units decide what
    would otherwise need many. Valid because the covariate does not depend on the arm."""
    out = y.astype(float).copy()
    center = float(x.mean()) if x.size else 0.0
    thetas: dict[str, float] = {}
    for arm in ARMS:
        mask = arms == arm
        xa, ya = x[mask], y[mask]
        theta = 0.0
        if xa.size >= 2 and float(np.var(xa)) > 0.0:
            theta = float(np.cov(xa, ya, ddof=1)[0, 1] / np.var(xa, ddof=1))
        out[mask] = ya - theta * (xa - center)
        thetas[arm] = theta
    return out, thetas


def _evidence(spec: RolloutSpec, obs: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for m in spec.metrics:
        if m.name not in obs.columns:
            raise KeyError(f"observations have no column for metric {m.name!r}")
        cov = m.name + COVARIATE_SUFFIX
        cols = [m.name] + ([cov] if cov in obs.columns else [])
        sub = obs[["arm", *cols]].copy()
        for c in cols:
            sub[c] = pd.to_numeric(sub[c], errors="coerce")
        sub = sub.dropna()
        y = sub[m.name].to_numpy(dtype=float)
        arms = sub["arm"].to_numpy()
        theta: dict[str, float] | None = None
        if cov in sub.columns:
            y, theta = regression_adjust(y, sub[cov].to_numpy(dtype=float), arms)
        vals = {arm: y[arms == arm] for arm in ARMS}
        raw = {arm: sub.loc[sub["arm"] == arm, m.name].to_numpy(dtype=float) for arm in ARMS}
        a, b = (ArmStats.from_values(vals[arm]) for arm in ARMS)
        margin = m.margin_for(float(raw[CURRENT].mean()) if raw[CURRENT].size else 0.0)
        res = noninferiority_test(
            a,
            b,
            margin=margin,
            higher_is_better=m.higher_is_better,
            alpha=spec.alpha,
            method=spec.test,
            tuning=spec.tuning,
        )
        out.append(
            {
                "metric": m.name,
                "direction": "higher" if m.higher_is_better else "lower",
                CURRENT: _arm_summary(vals[CURRENT]),
                CANDIDATE: _arm_summary(vals[CANDIDATE]),
                "raw_means": {arm: _arm_summary(raw[arm])["mean"] for arm in ARMS},
                "adjustment_slopes": theta,
                **res.as_dict(),
            }
        )
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.4g}"


def decide_stage(
    state: RolloutState, observations: pd.DataFrame, *, now: datetime | None = None
) -> StageDecision:
    """Decide the current stage of ``state`` from per-unit observations.

    Args:
        state: The rollout's state (must be in canary).
        observations: Per-unit observations (:data:`OBSERVATION_COLUMNS` plus one column per
            metric); rows of other rollouts, stages or versions are ignored.
        now: The decision time.
    """
    started = time.perf_counter()
    if not state.active:
        raise ValueError(f"rollout {state.rollout_id} is {state.status}: nothing to decide")
    spec = state.spec
    at = now or _now()
    obs = stage_observations(state, observations)
    counts = {arm: int((obs["arm"] == arm).sum()) if len(obs) else 0 for arm in ARMS}
    share = state.percent / 100.0
    srm = srm_check([counts[CURRENT], counts[CANDIDATE]], [1 - share, share])
    need = spec.min_units(state.stage)
    evidence: list[dict[str, Any]] = []
    decision: Decision = "hold"
    if min(counts.values()) < need:
        reason = (
            f"not enough units yet: {counts[CURRENT]} current and {counts[CANDIDATE]} candidate, "
            f"{need} needed in each arm"
        )
    else:
        evidence = _evidence(spec, obs)
        worse = [e for e in evidence if e["verdict"] == "worse"]
        open_ = [e for e in evidence if e["verdict"] != "non_inferior"]
        if worse:
            decision = "rollback"
            reason = "candidate is significantly worse on " + "; ".join(
                f"{e['metric']} (improvement {_fmt(e['improvement'])}, upper bound "
                f"{_fmt(e['upper'])} < 0, p = {e['p_worse']:.3g})"
                for e in worse
            )
        elif srm.mismatch:
            reason = (
                f"sample ratio mismatch (p = {srm.p_value:.2g}): the split "
                f"{counts[CURRENT]}/{counts[CANDIDATE]} does not match {state.percent} %"
            )
        elif open_:
            reason = "not yet shown non-inferior on " + "; ".join(
                f"{e['metric']} (lower bound {_fmt(e['lower'])} vs margin -{e['margin']:.4g})"
                for e in open_
            )
        else:
            decision = "promote"
            reason = (
                f"non-inferior on all {len(evidence)} metrics at alpha {spec.alpha:g} ({spec.test})"
            )
    if decision == "promote":
        nxt = spec.stages[state.stage + 1]
        reason += "; complete: the candidate becomes current" if nxt == 100 else f"; to {nxt} %"
    else:
        nxt = 0 if decision == "rollback" else state.percent
    return StageDecision(
        rollout_id=spec.rollout_id,
        stage=state.stage,
        percent=state.percent,
        decision=decision,
        next_percent=nxt,
        reason=reason,
        units=counts,
        evidence=evidence,
        srm_p_value=float(srm.p_value),
        decided_at=at,
        seconds=time.perf_counter() - started,
    )


def apply_decision(state: RolloutState, decision: StageDecision) -> RolloutState:
    """The state after ``decision``: the next stage (or completion), a rollback, or the same
    stage with one more hold."""
    if decision.rollout_id != state.rollout_id or decision.stage != state.stage:
        raise ValueError("the decision is not about this rollout's current stage")
    if decision.decision == "hold":
        return replace(state, holds=state.holds + 1)
    record = {k: v for k, v in decision.as_dict().items() if k != "evidence"}
    history = (*state.decisions, record)
    at = decision.decided_at
    if decision.decision == "rollback":
        return replace(state, status="rolled_back", decisions=history, stage_started_at=at)
    nxt = state.stage + 1
    if state.spec.stages[nxt] == 100:
        return replace(
            state,
            stage=nxt,
            status="completed",
            current_version=state.spec.candidate_version,
            decisions=history,
            stage_started_at=at,
            holds=0,
        )
    return replace(state, stage=nxt, decisions=history, stage_started_at=at, holds=0)


def canary_units(rollout_id: str, units: Iterable[str], percent: float) -> list[str]:
    """The units of ``units`` that run the candidate at ``percent`` %."""
    return [u for u in units if in_canary(rollout_id, u, percent)]


def stage_history(states: Sequence[RolloutState]) -> pd.DataFrame:
    """One row per promote/rollback decision of every rollout (for a chart or a table)."""
    rows = [
        {"rollout_id": s.rollout_id, **{k: v for k, v in d.items() if k != "units"}}
        for s in states
        for d in s.decisions
    ]
    return pd.DataFrame(rows)
