"""The failure predictor's pure parts: causal features, labels, warnings and their scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.failure_prediction import (
    ERROR,
    FACTS,
    FEATURES,
    LATENCY,
    LOCK_WAIT,
    BaselineRule,
    FeatureConfig,
    Trace,
    evaluate,
    feature_frame,
    features_at,
    match_warnings,
    observations_frame,
    predictor_from_config,
    trace_rows,
    train,
)

T0 = pd.Timestamp("2026-01-01T00:00:00Z")


def _ramp_trace(seed: int, kind: str = "degrade", fail_after_s: float = 40.0) -> Trace:
    """A source whose latency and errors ramp from 10 s on, failing at ``fail_after_s``;
    a second source stays healthy."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(int(fail_after_s) + 5):
        at = T0 + pd.Timedelta(seconds=i)
        ramp = max(0.0, (i - 10) / (fail_after_s - 10))
        for subject, r in (("source:a", ramp), ("source:b", 0.0)):
            err = float(rng.random() < 0.4 * r)
            rows.append({"at": at, "subject": subject, "metric": ERROR, "value": err})
            lat = 0.02 + 1.5 * r + rng.random() * 0.01
            rows.append({"at": at, "subject": subject, "metric": LATENCY, "value": lat})
            facts = 10 - 10 * r if kind == "decay" else 10
            rows.append({"at": at, "subject": subject, "metric": FACTS, "value": facts})
    failures = pd.DataFrame(
        [{"subject": "source:a", "at": T0 + pd.Timedelta(seconds=fail_after_s)}]
    )
    obs = observations_frame(rows)
    return Trace(kind, seed, obs, failures, T0, obs["at"].max())


def test_features_at_t_ignore_every_row_after_t() -> None:
    trace = _ramp_trace(0)
    cfg = FeatureConfig(window_s=8, horizon_s=12)
    sub = trace.observations[trace.observations["subject"] == "source:a"]
    for offset in (5, 15, 25, 33.5, 39):
        t = T0 + pd.Timedelta(seconds=offset)
        full = features_at(sub, t, cfg)
        cut = features_at(sub[sub["at"] <= t], t, cfg)
        assert full == cut
        # and a row after t that would change everything changes nothing
        later = pd.DataFrame(
            [
                {
                    "at": t + pd.Timedelta(seconds=1),
                    "subject": "source:a",
                    "metric": ERROR,
                    "value": 1.0,
                }
            ]
        )
        assert features_at(pd.concat([sub, later]), t, cfg) == full


def test_features_see_the_degradation_grow() -> None:
    trace = _ramp_trace(1, kind="decay")
    cfg = FeatureConfig(window_s=8, horizon_s=12)
    frame = feature_frame(trace.observations, [T0 + pd.Timedelta(seconds=s) for s in (9, 35)], cfg)
    a = frame[frame["subject"] == "source:a"].set_index("at")
    b = frame[frame["subject"] == "source:b"].set_index("at")
    early, late = a.iloc[0], a.iloc[1]
    assert late["lat_growth"] > early["lat_growth"] + 1
    assert late["facts_drop"] > 0.5 > early["facts_drop"]
    assert b.iloc[1]["degradation_index"] < late["degradation_index"]


def test_labels_mark_the_horizon_before_the_failure_and_stop_at_it() -> None:
    trace = _ramp_trace(2)
    rows = trace_rows(trace, FeatureConfig(window_s=8, horizon_s=12))
    a = rows[rows["subject"] == "source:a"]
    assert a["at"].max() < T0 + pd.Timedelta(seconds=40)  # nothing after the failure
    positives = a[a["label"] == 1]["at"]
    assert positives.min() == T0 + pd.Timedelta(seconds=28)
    assert (rows[rows["subject"] == "source:b"]["label"] == 0).all()


def test_warnings_are_matched_with_failures_within_the_horizon() -> None:
    warnings = pd.DataFrame(
        [
            {"subject": "x", "at": T0},  # 30 s before x fails: too early for a 20 s horizon
            {"subject": "x", "at": T0 + pd.Timedelta(seconds=15)},  # 15 s before: true
            {"subject": "y", "at": T0},  # y never fails: false
        ]
    )
    failures = pd.DataFrame([{"subject": "x", "at": T0 + pd.Timedelta(seconds=30)}])
    score = match_warnings(warnings, failures, horizon_s=20)
    assert (score.warnings, score.true_warnings, score.failures, score.warned_failures) == (
        3,
        1,
        1,
        1,
    )
    assert score.lead_times_s == (15.0,)


def test_a_model_trained_on_some_seeds_warns_before_the_failure_on_another() -> None:
    cfg = FeatureConfig(window_s=8, horizon_s=12)
    model = train([_ramp_trace(s) for s in range(3)], cfg)
    score = evaluate(model, [_ramp_trace(7)], cfg)
    assert score.recall == 1.0 and score.median_lead_s > 0
    again = predictor_from_config(model.pipeline, model.params())
    rows = trace_rows(_ramp_trace(7), cfg)
    assert np.allclose(again.predict_proba(rows), model.predict_proba(rows))
    assert again.threshold == pytest.approx(model.threshold, abs=1e-4)


def test_the_baseline_warns_on_the_current_error_rate_or_a_lock_timeout_only() -> None:
    frame = pd.DataFrame(
        [
            dict.fromkeys(FEATURES, 0.0) | {"err_recent": e, "lock_timeouts": t}
            for e, t in ((0.0, 0), (0.19, 0), (0.2, 0), (0.0, 1))
        ]
    )
    assert BaselineRule(error_rate=0.2).predict_proba(frame).tolist() == [0, 0, 1, 1]


def test_training_without_any_failure_is_refused() -> None:
    quiet = _ramp_trace(3)
    quiet.failures = quiet.failures.iloc[0:0]
    with pytest.raises(ValueError, match="single class"):
        train([quiet], FeatureConfig())


def test_lock_waits_feed_the_features() -> None:
    rows = [
        {
            "at": T0 + pd.Timedelta(seconds=i),
            "subject": "warehouse",
            "metric": LOCK_WAIT,
            "value": 0.1 * i,
        }
        for i in range(20)
    ]
    f = features_at(
        observations_frame(rows), T0 + pd.Timedelta(seconds=19), FeatureConfig(window_s=8)
    )
    assert f["lock_wait_recent"] == pytest.approx(1.9)
    assert f["lock_wait_delta"] > 0.5
