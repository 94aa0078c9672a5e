"""Unit tests for NAB scoring (hand-computed cases) and a small corpus smoke test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.anomaly import DEFAULT_THRESHOLD, score_series
from ml.nab import (
    LOW_FN,
    LOW_FP,
    STANDARD,
    NabFile,
    best_threshold,
    default_nab_dir,
    load_corpus,
    probation_rows,
    scaled_sigmoid,
    score_corpus,
    score_file,
    threshold_curve,
)

N = 1000  # warm-up = 150 rows
WINDOW = (500, 599)  # width 100


def make_file(windows: list[tuple[int, int]] | None = None, name: str = "cat/f.csv") -> NabFile:
    ts = np.datetime64("2020-01-01T00:00:00", "ns") + np.arange(N) * np.timedelta64(5, "m")
    return NabFile(name=name, timestamps=ts, values=np.zeros(N), windows=windows or [WINDOW])


def detect_at(*rows: int) -> np.ndarray:
    d = np.zeros(N, dtype=bool)
    d[list(rows)] = True
    return d


def test_sigmoid_and_probation() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0
    assert probation_rows(1000) == 150
    assert probation_rows(15000) == 750


def test_detection_at_window_start_is_full_tp() -> None:
    fs = score_file(make_file(), detect_at(500), STANDARD)
    assert fs.tp == pytest.approx(1.0)
    assert fs.fn == 0.0 and fs.fp == 0.0
    assert fs.delays_min == [0.0]


def test_detection_at_window_end_is_almost_zero() -> None:
    fs = score_file(make_file(), detect_at(599), STANDARD)
    expected = (2 / (1 + math.exp(5 * -0.01)) - 1) / scaled_sigmoid(-1.0)
    assert fs.tp == pytest.approx(expected)
    assert 0 < fs.tp < 0.03


def test_only_earliest_detection_in_window_counts() -> None:
    fs = score_file(make_file(), detect_at(550, 520, 590), STANDARD)
    y = -(599 - 520 + 1) / 100
    assert fs.tp == pytest.approx(scaled_sigmoid(y) / scaled_sigmoid(-1.0))
    assert fs.fp == 0.0


def test_missed_window_costs_fn_weight() -> None:
    assert score_file(make_file(), detect_at(), STANDARD).raw == -1.0
    assert score_file(make_file(), detect_at(), LOW_FN).raw == -2.0


def test_false_positives() -> None:
    f = make_file()
    # Far behind the window (y = 400 / 99 > 3): the full FP weight.
    assert score_file(f, detect_at(999), STANDARD).fp == pytest.approx(-0.11)
    # Before any window: -1 * FP weight.
    assert score_file(f, detect_at(300), STANDARD).fp == pytest.approx(-0.11)
    # Right behind the window: almost free.
    near = score_file(f, detect_at(601), STANDARD).fp
    assert near == pytest.approx(0.11 * scaled_sigmoid(2 / 99))
    assert -0.01 < near < 0
    # Warm-up detections are ignored.
    assert score_file(f, detect_at(10), STANDARD).raw == -1.0


def test_false_alerts_merged_within_an_hour() -> None:
    f = make_file()
    # rows 900, 905, 910 are 25 min apart -> one alert; 990 is far -> a second one
    fs = score_file(f, detect_at(900, 905, 910, 990), STANDARD)
    assert fs.false_alerts == 2


def test_null_and_perfect_normalise_to_0_and_100() -> None:
    files = [make_file(name="a/1.csv"), make_file([(300, 349), (700, 799)], name="a/2.csv")]
    null = {f.name: np.zeros(N) for f in files}
    perfect = {}
    for f in files:
        s = np.zeros(N)
        for left, _ in f.windows:
            s[left] = 1.0
        perfect[f.name] = s
    assert score_corpus(files, null, 0.5).normalized == pytest.approx(0.0)
    res = score_corpus(files, perfect, 0.5)
    assert res.normalized == pytest.approx(100.0)
    assert res.caught_share == 1.0 and res.median_delay_min == 0.0


def test_window_overlapping_warm_up() -> None:
    # Window rows 100..199 with warm-up 0..149: a detection at 120 is ignored (a miss), one
    # at 160 sits at y = -(199 - 160 + 1) / 100 = -0.4 of the *whole* window.
    f = make_file([(100, 199)])
    assert score_file(f, detect_at(120), STANDARD).raw == -1.0
    fs = score_file(f, detect_at(120, 160), STANDARD)
    expected = (2 / (1 + math.exp(-2.0)) - 1) / (2 / (1 + math.exp(-5.0)) - 1)
    assert fs.tp == pytest.approx(expected)  # 0.76159 / 0.98661 = 0.77193
    assert fs.tp == pytest.approx(0.77193, abs=1e-4)
    # A window that ends inside the warm-up is not scored at all.
    g = make_file([(10, 60), (500, 599)])
    assert score_file(g, detect_at(), STANDARD).n_windows == 1


def test_two_windows_and_fp_between_hand_computed() -> None:
    f = make_file([(300, 349), (700, 799)])
    # 310: y = -(349 - 310 + 1) / 50 = -0.8; 750: y = -0.5; FP at 360: y = 11 / 49 behind
    # the first window; FP at 900: y = 101 / 99 behind the second.
    fs = score_file(f, detect_at(310, 360, 750, 900), STANDARD)
    tp = (scaled_sigmoid(-0.8) + scaled_sigmoid(-0.5)) / scaled_sigmoid(-1.0)
    fp = 0.11 * (scaled_sigmoid(11 / 49) + scaled_sigmoid(101 / 99))
    assert fs.tp == pytest.approx(tp)
    assert fs.fp == pytest.approx(fp)
    assert fs.raw == pytest.approx(1.6723, abs=1e-3)  # 1.8369 TP - 0.1646 FP
    assert fs.n_caught == 2 and fs.delays_min == [50.0, 250.0]
    # Centres (labelled points) at rows 324 and 749: 310 is 14 rows early, 750 one row late.
    assert fs.delays_from_label_min == [-70.0, 5.0]


def test_threshold_curve_matches_score_corpus() -> None:
    rng = np.random.default_rng(0)
    files = [
        make_file(name="a/1.csv"),
        make_file([(300, 349), (700, 799)], name="a/2.csv"),
        make_file([(100, 199), (880, 999)], name="b/3.csv"),
        make_file([], name="b/4.csv"),
    ]
    scores = {f.name: rng.random(N) ** 8 for f in files}
    scores["a/2.csv"][[305, 720]] = 0.95
    grid = np.round(np.arange(0.05, 1.0, 0.01), 4)
    for profile in (STANDARD, LOW_FP, LOW_FN):
        curve = threshold_curve(files, scores, grid, profile)
        slow = [score_corpus(files, scores, float(t), profile).normalized for t in grid]
        assert np.allclose(curve, slow, atol=1e-9)
    thr, best = best_threshold(files, scores, STANDARD, grid)
    slow_std = [score_corpus(files, scores, float(t), STANDARD).normalized for t in grid]
    assert best == pytest.approx(max(slow_std))
    assert thr == float(grid[int(np.argmax(slow_std))])


def test_corpus_smoke() -> None:
    # The shared NAB data must be there (set BENCHMARKS_DIR if it lives elsewhere): missing
    # data is a failure, never a skip.
    assert default_nab_dir().exists(), f"no NAB data in {default_nab_dir()}"
    names = [
        "artificialWithAnomaly/art_daily_jumpsup.csv",
        "realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv",
        "artificialNoAnomaly/art_flatline.csv",
    ]
    files = load_corpus(names=names)
    assert len(files) == 3
    scores = {f.name: score_series(f.values) for f in files}
    res = score_corpus(files, scores, DEFAULT_THRESHOLD, STANDARD)
    assert res.n_windows == 2
    assert res.normalized > 0.0
    assert all(s.min() >= 0.0 and s.max() <= 1.0 for s in scores.values())


def test_full_shared_corpus_score_floor() -> None:
    """The detector's honest all-data NAB standard score at the fixed threshold (72.70 when
    pinned; see ``benchmarks/nab_eval.py`` for the held-out figures) must not regress."""
    files = load_corpus()
    assert len(files) == 38
    scores = {f.name: score_series(f.values) for f in files}
    res = score_corpus(files, scores, DEFAULT_THRESHOLD, STANDARD)
    assert res.normalized >= 72.0
    assert res.n_caught >= 55
