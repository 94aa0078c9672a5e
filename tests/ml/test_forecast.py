"""Workload forecast: hourly grid from run history, baseline, MSTL model, held-out backtest."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import ml.forecast as fmod
from ml.forecast import backtest_weeks, forecast, hourly_workload, seasonal_naive

T = pd.Timestamp("2025-03-03", tz="UTC")  # a Monday, 00:00 UTC


def at(hh: int, mm: int = 0, ss: int = 0) -> pd.Timestamp:
    return T + pd.Timedelta(hours=hh, minutes=mm, seconds=ss)


def run_table() -> tuple[pd.DataFrame, pd.DataFrame]:
    cols = ["run_id", "job_name", "started_at", "ended_at", "duration_s"]
    runs = pd.DataFrame(
        [
            ("r1", "A", at(10, 50), at(11, 30), 2400.0),  # crosses 11:00, has steps
            ("r2", "A", at(12, 5), at(12, 15), 600.0),  # no steps: run duration
            ("r3", "A", pd.NaT, pd.NaT, np.nan),  # never started: skipped
            ("r4", "B", at(10, 30), at(10, 45), 900.0),
            ("r5", "B", at(12, 59, 59), at(13, 0, 9), np.nan),  # duration from the timestamps
        ],
        columns=cols,
    )
    steps = pd.DataFrame(
        [
            ("r1", "fetch", at(10, 50), at(10, 55), 300.0),
            ("r1", "parse", at(11, 0), at(11, 25), 1500.0),
            ("r1", "skipped", pd.NaT, pd.NaT, np.nan),
        ],
        columns=["run_id", "step_key", "started_at", "ended_at", "duration_s"],
    )
    return runs, steps


def as_dict(frame: pd.DataFrame) -> dict:
    return {
        (r.job_name, r.hour.hour): (r.runs, r.step_seconds) for r in frame.itertuples(index=False)
    }


def test_hourly_workload_grid_zero_fill_and_step_attribution() -> None:
    runs, steps = run_table()
    out = hourly_workload(runs, steps)
    assert list(out.columns) == ["hour", "job_name", "runs", "step_seconds"]
    assert str(out["hour"].dt.tz) == "UTC"
    assert as_dict(out) == {
        ("A", 10): (1, 300.0),  # r1 counted once, in its start hour; its first step
        ("A", 11): (0, 1500.0),  # r1's second step started at 11:00
        ("A", 12): (1, 600.0),  # r2 without steps; r3 never started
        ("B", 10): (1, 900.0),
        ("B", 11): (0, 0.0),  # zero-filled
        ("B", 12): (1, 10.0),
    }


def test_hourly_workload_without_steps_and_with_explicit_window() -> None:
    runs, _ = run_table()
    assert as_dict(hourly_workload(runs))[("A", 10)] == (1, 2400.0)
    out = hourly_workload(runs, start=at(9, 30), end=at(13, 59))
    assert len(out) == 2 * 5  # 09:00..13:00 for both jobs
    assert as_dict(out)[("A", 9)] == (0, 0.0) and as_dict(out)[("B", 13)] == (0, 0.0)
    cut = hourly_workload(runs, start=at(11), end=at(12))
    assert cut["runs"].sum() == 2 and set(cut["hour"].dt.hour) == {11, 12}


def test_seasonal_naive_repeats_a_season_and_falls_back() -> None:
    y = np.arange(200.0)
    assert seasonal_naive(y, 5).tolist() == [32.0, 33.0, 34.0, 35.0, 36.0]
    week = np.arange(168.0)
    assert np.array_equal(seasonal_naive(week, 336), np.tile(week, 2))
    assert seasonal_naive(np.arange(30.0), 3).tolist() == [6.0, 7.0, 8.0]  # season of 24
    assert seasonal_naive(pd.Series([4.0, 7.0]), 3).tolist() == [7.0, 7.0, 7.0]
    assert seasonal_naive([], 2).tolist() == [0.0, 0.0]


def synthetic(seed: int, weeks: int = 6) -> np.ndarray:
    """Daily swing, damped and lower on weekends, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks * 168)
    weekend = (t // 24) % 7 >= 5
    day = 8 * np.sin(2 * np.pi * t / 24) * np.where(weekend, 0.3, 1.0)
    return 20 + day - 6 * weekend + rng.normal(0, 2, len(t))


def test_forecast_beats_seasonal_naive_on_daily_and_weekly_pattern() -> None:
    model, naive = [], []
    for seed in (0, 1, 2):
        y = synthetic(seed)
        train, test = y[:-168], y[-168:]
        fc = forecast(pd.Series(train), 168)
        assert fc.method.startswith("mstl(24,168)")
        assert fc.mean.shape == fc.lower.shape == fc.upper.shape == (168,)
        assert np.all(fc.lower <= fc.mean) and np.all(fc.mean <= fc.upper)
        model.append(np.abs(fc.mean - test).mean())
        naive.append(np.abs(seasonal_naive(train, 168) - test).mean())
    # ~0.83 expected (the naive forecast carries last week's noise); 20 seeds all below 0.90
    assert sum(model) / sum(naive) < 0.92


@pytest.mark.parametrize(
    ("n", "method"),
    [
        (0, "zeros (empty history)"),
        (5, "mean (history shorter than a day)"),
        (30, "seasonal_naive(24)"),
        (48, "seasonal_naive(24)"),  # MSTL needs more than two cycles
        (100, "mstl(24)+ses(log1p)"),
        (336, "mstl(24)+ses(log1p)"),
        (400, "mstl(24,168)+ses(log1p)"),
    ],
)
def test_short_histories_fall_back_and_say_so(n: int, method: str) -> None:
    fc = forecast(pd.Series(synthetic(0)[:n]), 48)
    assert fc.method == method
    for v in (fc.mean, fc.lower, fc.upper):
        assert v.shape == (48,) and np.all(np.isfinite(v)) and np.all(v >= 0)


@pytest.mark.parametrize("log", [True, False])
def test_flat_and_sparse_series_raise_no_warnings(log: bool) -> None:
    rng = np.random.default_rng(3)
    sparse = rng.poisson(0.05, 24 * 21).astype(float)  # mostly zeros, like a rare job
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        zero = forecast(np.zeros(400), 24, log=log)
        const = forecast(np.full(400, 4.0), 24, log=log)
        fc = forecast(sparse, 24, log=log)
    assert zero.method == const.method == "constant"
    assert zero.mean.tolist() == [0.0] * 24 and const.mean.tolist() == [4.0] * 24
    assert np.all(np.isfinite(fc.mean)) and np.all(fc.mean >= 0)


def test_backtest_never_fits_on_the_held_out_week(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, np.ndarray]] = []
    real = fmod.forecast

    def spy(history: pd.Series, horizon: int, **kw: object) -> fmod.ForecastResult:
        out = real(history, horizon, **kw)
        calls.append((len(history), out.mean))
        return out

    monkeypatch.setattr(fmod, "forecast", spy)
    idx = pd.date_range("2025-01-06", periods=5 * 168, freq="h", tz="UTC")
    clean = pd.Series(synthetic(4, weeks=5), index=idx)
    spiked = clean.copy()
    spiked.iloc[3 * 168 + 50] = 5000.0  # inside held-out week 2 of 3 (weeks 3..5)

    a = backtest_weeks(clean, n_weeks=3)
    fa, calls[:] = list(calls), []
    b = backtest_weeks(spiked, n_weeks=3)
    fb = list(calls)

    assert a["train_hours"].tolist() == [336, 504, 672] == [n for n, _ in fa]
    assert a["start"].tolist() == [idx[336], idx[504], idx[672]]
    assert np.array_equal(fa[0][1], fb[0][1])  # week 1: spike in the future
    assert np.array_equal(fa[1][1], fb[1][1])  # week 2: the spike is in the held-out week
    assert not np.allclose(fa[2][1], fb[2][1])  # week 3 trains on week 2: it sees the spike
    assert b.loc[1, "model_mae"] > a.loc[1, "model_mae"]  # scored against the spike
    # MASE: MAE over the training part's in-sample seasonal-naive MAE
    train = clean.to_numpy()[:336]
    scale = np.abs(train[168:] - train[:-168]).mean()
    assert a.loc[0, "naive_mase"] == pytest.approx(a.loc[0, "naive_mae"] / scale)
    assert a.loc[0, "ratio"] == pytest.approx(a.loc[0, "model_mae"] / a.loc[0, "naive_mae"])


def test_backtest_rejects_series_too_short_for_its_weeks() -> None:
    with pytest.raises(ValueError):
        backtest_weeks(pd.Series(np.ones(3 * 168)), n_weeks=3)
