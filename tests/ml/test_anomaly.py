"""Tests for the streaming anomaly detector."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml.anomaly import (
    DEFAULT_THRESHOLD,
    DetectorConfig,
    StreamingAnomalyDetector,
    _trailing_max,
    _trailing_min,
    score_series,
)


def seasonal_noise(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 1, n)


def test_trailing_extremes_match_pandas() -> None:
    a = np.random.default_rng(1).normal(size=200)
    for w in (2, 3, 8, 51, 300):
        s = pd.Series(a).rolling(w, min_periods=1)
        assert np.array_equal(_trailing_max(a, w), s.max().to_numpy())
        assert np.array_equal(_trailing_min(a, w), s.min().to_numpy())


def test_causal_prefix_scores_unchanged() -> None:
    x = seasonal_noise(3000)
    x[2500] += 40
    full = score_series(x)
    prefix = score_series(x[:2000])
    assert np.array_equal(full[:2000], prefix)


def test_point_by_point_equals_blocks() -> None:
    x = seasonal_noise(1500, seed=3)
    x[1200] -= 30
    det = StreamingAnomalyDetector()
    one = np.array([det.update(i, v) for i, v in enumerate(x)])
    assert np.array_equal(one, score_series(x, block=97))


def test_scores_in_unit_interval() -> None:
    rng = np.random.default_rng(2)
    for x in (rng.normal(size=2000), rng.exponential(size=2000) * 1e9, np.full(500, 3.0)):
        s = score_series(x)
        assert s.min() >= 0.0 and s.max() <= 1.0


def test_latency_spike_scores_high() -> None:
    x = seasonal_noise(3000)
    x[2500] = 200.0
    s = score_series(x)
    assert s[2500] > 0.9
    assert s[2500] >= DEFAULT_THRESHOLD


def test_throughput_drop_scores_high() -> None:
    x = seasonal_noise(3000, seed=4)
    x[2400:] -= 45.0  # traffic falls to near zero
    s = score_series(x)
    assert s[2400] > 0.9


def test_error_rate_step_scores_high_once() -> None:
    rng = np.random.default_rng(5)
    x = np.clip(rng.normal(0.01, 0.002, 3000), 0, None)
    x[2000:] += 0.2
    s = score_series(x)
    assert s[2000] > 0.9
    # suppression: the plateau after the step does not keep alarming
    assert np.sum(s[2001:2300] >= DEFAULT_THRESHOLD) == 0


def test_flat_noise_stays_quiet() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(10.0, 1.0, 5000)
    s = score_series(x)
    # after a warm-up, stationary noise rarely leaves its envelope, and never by much
    assert np.mean(s[1000:] >= DEFAULT_THRESHOLD) < 0.005
    assert s[1000:].max() < 0.9
    flat = score_series(np.full(2000, 45.0))
    assert flat.max() == 0.0


def test_missing_values_score_zero() -> None:
    det = StreamingAnomalyDetector(DetectorConfig(history=50))
    for i in range(100):
        det.update(i, float(i % 5))
    assert det.update(100, float("nan")) == 0.0
    assert det.n_seen == 100
