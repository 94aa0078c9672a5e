"""Predictive failure detection: "this source / job will fail within the horizon" from leading
indicators. Pure numpy, pandas and scikit-learn; no Dagster.

Data. Indicators are a long frame of observations (:data:`OBS_COLUMNS`: ``at``, ``subject``,
``metric``, ``value``), one row per measurement: a fetch's latency and whether it failed
(per source), the facts a page yielded, a warehouse writer's lock wait and whether it timed out,
a breaker's state. Failures are ``(subject, at)`` rows. A *trace* is one degradation scenario's
observations and failures (:class:`Trace`), the unit of training and evaluation.

Features (:func:`features_at`) are causal: the features of a subject at time ``t`` read only
observations with ``at <= t`` (a test removes every later row and finds them unchanged). They
compare the last ``window_s`` seconds with the window before it and with the subject's history:
latency level, growth and slope, error rate and its change, facts per page against their usual
level, lock waits and timeouts, the breaker, and one generic degradation index that lets a model
trained on some kinds of degradation recognise another.

Label: 1 when the subject fails within ``horizon_s`` after ``t``; rows after the subject's
first failure in a trace are not used (the failure is no longer ahead).

Models: :class:`FailurePredictor` (standardised logistic regression with balanced classes; its
threshold is the one with the best F1 on the training rows) and :class:`BaselineRule` (warn when
the current error rate reaches a threshold). :func:`evaluate` turns scores into warnings (the
rising edges of score >= threshold) and measures precision (warnings followed by a failure within
the horizon), recall (failures preceded by a warning within the horizon) and lead time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

OBS_COLUMNS = ["at", "subject", "metric", "value"]
LATENCY = "latency_s"
ERROR = "error"
FACTS = "facts"
LOCK_WAIT = "lock_wait_s"
LOCK_TIMEOUT = "lock_timeout"
BREAKER_OPEN = "breaker_open"
METRICS = (LATENCY, ERROR, FACTS, LOCK_WAIT, LOCK_TIMEOUT, BREAKER_OPEN)

FEATURES = [
    "lat_recent",
    "lat_growth",
    "lat_slope",
    "err_recent",
    "err_delta",
    "facts_drop",
    "facts_slope",
    "lock_wait_recent",
    "lock_wait_delta",
    "lock_timeouts",
    "breaker_open",
    "degradation_index",
]


@dataclass(frozen=True)
class FeatureConfig:
    """Windows of the features and the prediction horizon.

    Attributes:
        window_s: length of the recent window (compared with the window before it).
        horizon_s: "fails within this many seconds" (the label).
        step_s: spacing of the training rows along a trace.
    """

    window_s: float = 15.0
    horizon_s: float = 20.0
    step_s: float = 1.0


@dataclass
class Trace:
    """One degradation scenario's indicators and failures.

    Attributes:
        kind: the scenario (``degrade``, ``lock_growth``, ``decay``, or ``none``).
        seed: the seed it ran with.
        observations: :data:`OBS_COLUMNS` rows.
        failures: ``subject, at`` rows.
        start: first time to score.
        end: last time to score.
    """

    kind: str
    seed: int
    observations: pd.DataFrame
    failures: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    meta: dict[str, Any] = field(default_factory=dict)


def observations_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Observations (:data:`OBS_COLUMNS`) from dicts, ``at`` as UTC timestamps, sorted."""
    df = pd.DataFrame(list(rows), columns=OBS_COLUMNS)
    df["at"] = pd.to_datetime(df["at"], utc=True)
    df["value"] = df["value"].astype(float)
    return df.sort_values("at", kind="stable").reset_index(drop=True)


def _mean(s: pd.Series, default: float = 0.0) -> float:
    return float(s.mean()) if len(s) else default


def _slope(times: pd.Series, values: pd.Series, scale_s: float) -> float:
    """Least-squares change of ``values`` per ``scale_s`` seconds (0 with < 3 points)."""
    if len(values) < 3:
        return 0.0
    x = (times - times.iloc[0]).dt.total_seconds().to_numpy()
    if np.ptp(x) <= 0:
        return 0.0
    return float(np.polyfit(x, values.to_numpy(), 1)[0] * scale_s)


def features_at(obs: pd.DataFrame, t: pd.Timestamp, cfg: FeatureConfig) -> dict[str, float]:
    """The features of one subject at time ``t`` from its observations with ``at <= t``.

    Args:
        obs: the subject's observations (:data:`OBS_COLUMNS`; other subjects must be removed).
        t: the prediction time.
        cfg: windows.

    Returns:
        One value per name in :data:`FEATURES`.
    """
    past = obs[obs["at"] <= t]
    w = pd.Timedelta(seconds=cfg.window_s)
    recent = past[past["at"] > t - w]
    prior = past[(past["at"] > t - 2 * w) & (past["at"] <= t - w)]
    history = past[past["at"] <= t - w]

    def m(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
        return frame[frame["metric"] == metric]

    lat_r, lat_h = m(recent, LATENCY)["value"], m(history, LATENCY)["value"]
    lat_recent = _mean(lat_r)
    lat_base = max(float(lat_h.median()) if len(lat_h) else lat_recent, 0.2)  # noise floor
    lat_growth = float(np.clip((lat_recent - lat_base) / lat_base, 0.0, 50.0)) if len(lat_r) else 0
    both = pd.concat([m(prior, LATENCY), m(recent, LATENCY)])
    lat_slope = _slope(both["at"], both["value"], cfg.window_s)

    err_recent = _mean(m(recent, ERROR)["value"])
    err_delta = err_recent - _mean(m(prior, ERROR)["value"])

    facts_r, facts_h = m(recent, FACTS), m(history, FACTS)
    if len(facts_r) and len(facts_h):
        usual = max(float(facts_h["value"].quantile(0.9)), 1.0)
        facts_drop = float(np.clip(1.0 - facts_r["value"].mean() / usual, 0.0, 1.0))
        fb = pd.concat([m(prior, FACTS), facts_r])
        facts_slope = -_slope(fb["at"], fb["value"] / usual, cfg.window_s)
    else:
        facts_drop, facts_slope = 0.0, 0.0

    lw_r = m(recent, LOCK_WAIT)["value"]
    lock_wait_recent = float(lw_r.max()) if len(lw_r) else 0.0
    lw_p = m(prior, LOCK_WAIT)["value"]
    lock_wait_delta = lock_wait_recent - (float(lw_p.max()) if len(lw_p) else 0.0)
    lock_timeouts = float(m(recent, LOCK_TIMEOUT)["value"].sum())

    br = m(past, BREAKER_OPEN)["value"]
    breaker_open = float(br.iloc[-1]) if len(br) else 0.0

    degradation_index = max(
        min(lat_growth / 5.0, 1.0),
        facts_drop,
        min(lock_wait_recent / 2.0, 1.0),
        min(err_recent * 2.0, 1.0),
    )
    return {
        "lat_recent": lat_recent,
        "lat_growth": lat_growth,
        "lat_slope": lat_slope,
        "err_recent": err_recent,
        "err_delta": err_delta,
        "facts_drop": facts_drop,
        "facts_slope": facts_slope,
        "lock_wait_recent": lock_wait_recent,
        "lock_wait_delta": lock_wait_delta,
        "lock_timeouts": lock_timeouts,
        "breaker_open": breaker_open,
        "degradation_index": float(degradation_index),
    }


def feature_frame(
    obs: pd.DataFrame, times: Sequence[pd.Timestamp], cfg: FeatureConfig
) -> pd.DataFrame:
    """Features of every subject in ``obs`` at each of ``times`` (columns ``subject``, ``at``
    and :data:`FEATURES`)."""
    rows = []
    for subject, sub in obs.groupby("subject", sort=True):
        for t in times:
            if len(sub) and sub["at"].iloc[0] <= t:
                rows.append({"subject": subject, "at": t, **features_at(sub, t, cfg)})
    return pd.DataFrame(rows, columns=["subject", "at", *FEATURES])


def trace_rows(trace: Trace, cfg: FeatureConfig) -> pd.DataFrame:
    """Labelled feature rows of one trace: every ``step_s`` from its start to its end, up to
    (not after) each subject's first failure; ``label`` = a failure within the horizon."""
    times = list(pd.date_range(trace.start, trace.end, freq=pd.Timedelta(seconds=cfg.step_s)))
    feats = feature_frame(trace.observations, times, cfg)
    if feats.empty:
        return feats.assign(label=pd.Series(dtype=int))
    first = trace.failures.groupby("subject")["at"].min() if len(trace.failures) else pd.Series()
    horizon = pd.Timedelta(seconds=cfg.horizon_s)
    fail_at = pd.to_datetime(feats["subject"].map(first), utc=True)
    keep = fail_at.isna() | (feats["at"] < fail_at)
    feats = feats[keep].copy()
    fail_at = fail_at[keep]
    feats["label"] = ((fail_at > feats["at"]) & (fail_at <= feats["at"] + horizon)).astype(int)
    feats["kind"], feats["seed"] = trace.kind, trace.seed
    return feats.reset_index(drop=True)


class Scorer(Protocol):
    """Anything that scores feature rows with a failure probability and has a threshold."""

    threshold: float

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of a failure within the horizon, one per row."""
        ...


@dataclass
class BaselineRule:
    """The baseline: warn when the current error rate (or lock timeouts) reaches a threshold.

    Attributes:
        error_rate: the error rate of the recent window that warns.
        threshold: score threshold (the rule scores 0 or 1).
    """

    error_rate: float = 0.2
    threshold: float = 0.5

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """1.0 where the recent error rate reaches ``error_rate`` or a lock wait timed out."""
        hit = (features["err_recent"] >= self.error_rate) | (features["lock_timeouts"] > 0)
        return hit.to_numpy(dtype=float)


@dataclass
class FailurePredictor:
    """A trained model: a scikit-learn pipeline, its threshold and its feature configuration."""

    pipeline: Any
    threshold: float
    config: FeatureConfig
    features: list[str] = field(default_factory=lambda: list(FEATURES))

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of a failure within the horizon, one per row."""
        if features.empty:
            return np.zeros(0)
        return self.pipeline.predict_proba(features[self.features].to_numpy(dtype=float))[:, 1]

    def params(self) -> dict[str, Any]:
        """What to log with the model (threshold, windows, features)."""
        return {
            "threshold": round(self.threshold, 4),
            "window_s": self.config.window_s,
            "horizon_s": self.config.horizon_s,
            "step_s": self.config.step_s,
            "features": ",".join(self.features),
        }


def predictor_from_config(pipeline: Any, config: dict[str, Any]) -> FailurePredictor:
    """A :class:`FailurePredictor` from a fitted pipeline and the dict :meth:`params` made."""
    cfg = FeatureConfig(
        window_s=float(config["window_s"]),
        horizon_s=float(config["horizon_s"]),
        step_s=float(config.get("step_s", 1.0)),
    )
    feats = str(config.get("features") or ",".join(FEATURES)).split(",")
    return FailurePredictor(pipeline, float(config["threshold"]), cfg, feats)


def _best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for thr in np.linspace(0.1, 0.95, 35):
        pred = p >= thr
        tp = float((pred & (y == 1)).sum())
        prec = tp / max(pred.sum(), 1)
        rec = tp / max((y == 1).sum(), 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        if f1 > best_f1:
            best, best_f1 = float(thr), f1
    return best


def train(traces: Sequence[Trace], cfg: FeatureConfig | None = None) -> FailurePredictor:
    """Fit the predictor on ``traces``' labelled rows.

    Raises:
        ValueError: when the rows hold a single class (nothing to learn).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    cfg = cfg or FeatureConfig()
    rows = pd.concat([trace_rows(t, cfg) for t in traces], ignore_index=True)
    y = rows["label"].to_numpy(dtype=int)
    if len(np.unique(y)) < 2:
        raise ValueError("training rows hold a single class: no failure or no quiet time")
    x = rows[FEATURES].to_numpy(dtype=float)
    pipe = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000, C=1.0)
    )
    pipe.fit(x, y)
    thr = _best_threshold(y, pipe.predict_proba(x)[:, 1])
    return FailurePredictor(pipeline=pipe, threshold=thr, config=cfg)


def warnings_from_scores(scores: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The warnings in ``scores`` (``subject``, ``at``, ``p``): each rising edge of
    ``p >= threshold`` per subject. Returns ``subject``, ``at``, ``p``."""
    out = []
    for _subject, sub in scores.sort_values("at").groupby("subject", sort=True):
        above = sub["p"].to_numpy() >= threshold
        edge = above & ~np.concatenate([[False], above[:-1]])
        out.append(sub[edge][["subject", "at", "p"]])
    if not out:
        return pd.DataFrame(columns=["subject", "at", "p"])
    return pd.concat(out, ignore_index=True)


@dataclass(frozen=True)
class WarningScore:
    """How warnings matched failures.

    Attributes:
        warnings: warnings raised.
        true_warnings: warnings followed by a failure of their subject within the horizon.
        failures: first failures (one per subject and trace).
        warned_failures: failures with a warning within the horizon before them.
        lead_times_s: for each warned failure, failure time - its earliest such warning.
    """

    warnings: int
    true_warnings: int
    failures: int
    warned_failures: int
    lead_times_s: tuple[float, ...]

    @property
    def precision(self) -> float:
        """True warnings / warnings (nan without warnings)."""
        return self.true_warnings / self.warnings if self.warnings else float("nan")

    @property
    def recall(self) -> float:
        """Warned failures / failures (nan without failures)."""
        return self.warned_failures / self.failures if self.failures else float("nan")

    @property
    def median_lead_s(self) -> float:
        """Median lead time of the warned failures (nan without any)."""
        return float(np.median(self.lead_times_s)) if self.lead_times_s else float("nan")

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """The figures as a flat dict (MLflow metrics, asset metadata)."""
        return {
            f"{prefix}precision": self.precision,
            f"{prefix}recall": self.recall,
            f"{prefix}median_lead_s": self.median_lead_s,
            f"{prefix}warnings": float(self.warnings),
            f"{prefix}failures": float(self.failures),
        }


def match_warnings(
    warnings: pd.DataFrame, failures: pd.DataFrame, horizon_s: float
) -> WarningScore:
    """Match warnings (``subject``, ``at``) with first failures (``subject``, ``at``)."""
    h = pd.Timedelta(seconds=horizon_s)
    first = failures.groupby("subject")["at"].min() if len(failures) else pd.Series(dtype=object)
    true_w = 0
    for w in warnings.itertuples():
        f = first.get(w.subject)
        true_w += bool(f is not None and w.at < f <= w.at + h)
    leads = []
    for subject, f in first.items():
        ws = warnings[(warnings["subject"] == subject) & (warnings["at"] < f)]
        ws = ws[ws["at"] >= f - h]
        if len(ws):
            leads.append((f - ws["at"].min()).total_seconds())
    return WarningScore(len(warnings), true_w, len(first), len(leads), tuple(leads))


def score_trace(scorer: Scorer, trace: Trace, cfg: FeatureConfig) -> pd.DataFrame:
    """``subject``, ``at``, ``p`` for every scoring time of ``trace`` up to each subject's
    first failure."""
    rows = trace_rows(trace, cfg)
    return rows.assign(p=scorer.predict_proba(rows) if len(rows) else [])[["subject", "at", "p"]]


def evaluate(scorer: Scorer, traces: Sequence[Trace], cfg: FeatureConfig) -> WarningScore:
    """Warnings of ``scorer`` on ``traces`` matched with their failures (subjects are
    qualified by trace, so two traces never share a subject)."""
    all_w, all_f = [], []
    for i, trace in enumerate(traces):
        scores = score_trace(scorer, trace, cfg)
        w = warnings_from_scores(scores, scorer.threshold)
        all_w.append(w.assign(subject=f"{i}|" + w["subject"].astype(str)))
        f = trace.failures
        all_f.append(f.assign(subject=f"{i}|" + f["subject"].astype(str)))
    warnings = pd.concat(all_w, ignore_index=True) if all_w else pd.DataFrame()
    failures = pd.concat(all_f, ignore_index=True) if all_f else pd.DataFrame()
    return match_warnings(warnings, failures, cfg.horizon_s)


def held_out_report(
    traces: Sequence[Trace],
    *,
    train_seeds: Sequence[int],
    test_seeds: Sequence[int],
    cfg: FeatureConfig | None = None,
    baseline: BaselineRule | None = None,
    fit: Callable[[Sequence[Trace], FeatureConfig], Scorer] = train,
) -> dict[str, dict[str, float]]:
    """Train on ``train_seeds``, evaluate model and baseline on ``test_seeds`` (held-out
    seeds) and, for each scenario kind, train on the other kinds and test on it (held-out kind).

    Returns:
        ``{"seeds/model": {...}, "seeds/baseline": {...}, "kind:<k>/model": {...}, ...}``.
    """
    cfg = cfg or FeatureConfig()
    baseline = baseline or BaselineRule()
    train_set = [t for t in traces if t.seed in set(train_seeds)]
    test_set = [t for t in traces if t.seed in set(test_seeds)]
    model = fit(train_set, cfg)
    out = {
        "seeds/model": evaluate(model, test_set, cfg).as_dict(),
        "seeds/baseline": evaluate(baseline, test_set, cfg).as_dict(),
    }
    for kind in sorted({t.kind for t in traces if t.kind != "none"}):
        others = [t for t in traces if t.kind != kind]
        mine = [t for t in traces if t.kind == kind]
        try:
            m = fit(others, cfg)
        except ValueError:
            continue
        out[f"kind:{kind}/model"] = evaluate(m, mine, cfg).as_dict()
        out[f"kind:{kind}/baseline"] = evaluate(baseline, mine, cfg).as_dict()
    return out


__all__ = [
    "BREAKER_OPEN",
    "ERROR",
    "FACTS",
    "FEATURES",
    "LATENCY",
    "LOCK_TIMEOUT",
    "LOCK_WAIT",
    "METRICS",
    "OBS_COLUMNS",
    "BaselineRule",
    "FailurePredictor",
    "FeatureConfig",
    "Scorer",
    "Trace",
    "WarningScore",
    "evaluate",
    "feature_frame",
    "features_at",
    "held_out_report",
    "match_warnings",
    "observations_frame",
    "predictor_from_config",
    "score_trace",
    "train",
    "trace_rows",
    "warnings_from_scores",
]
