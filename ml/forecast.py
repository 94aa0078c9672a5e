"""Hourly workload forecast from run history: runs and step-seconds per hour by job.

Method. Platform workload has a daily and a weekly rhythm (schedules, office hours, weekends)
on top of a slowly moving level. :func:`forecast` takes ``log1p`` of the hourly history (counts:
the daily swing grows with the level, and bursts are tamed), splits it with statsmodels' ``MSTL``
(STL for each period, here 24 h and 168 h) into seasonal components and a deseasonalised
remainder (trend + noise), and fits simple exponential smoothing (ETS(A,N,N),
``SimpleExpSmoothing``) to the remainder: a level that follows shifts without extrapolating a
slope over a week-long horizon. The forecast is that level plus the last cycle of each seasonal
component, back-transformed (``expm1``, so a median-like forecast) and clipped at 0. STL's
seasonal smoother is locally constant (``seasonal_deg=0``): statsmodels' locally linear default
extrapolates noise into the last cycle, the one the forecast repeats. The "MSTL + ETS" recipe
needs no per-series tuning; log1p against raw values, robust STL and ``seasonal_deg`` were chosen
by a rule fixed in advance on inner-validation weeks that precede every held-out week (see
``benchmarks/workload_forecast.py``). 80 % bounds are the 10th/90th percentiles of the in-sample
one-step residuals, widened with the horizon as ETS(A,N,N)'s variance grows
(``sqrt(1 + h * alpha**2)``): cheap and approximate, not calibrated.

Fallbacks (``ForecastResult.method`` says which one ran):

* a period is only fitted when the history holds more than two full cycles of it (weekly
  needs > 336 hours, daily > 48: statsmodels' MSTL drops a period of half the length or
  more); with no period left, the forecast is the seasonal-naive forecast of the shortest
  period the history covers once, else the history's mean;
* an empty history forecasts zeros, a constant one (all zeros included) forecasts itself.

:func:`seasonal_naive` is the baseline every forecast is judged against, and
:func:`backtest_weeks` measures both on held-out weeks (rolling origin, training strictly
before each held-out week).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.tsa.holtwinters import SimpleExpSmoothing
from statsmodels.tsa.seasonal import MSTL

WEEK = 168
DAY = 24


@dataclass(frozen=True)
class ForecastResult:
    """A point forecast with approximate 80 % bounds and the name of the model that made it."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    method: str


def hourly_workload(
    runs: pd.DataFrame,
    steps: pd.DataFrame | None = None,
    *,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Runs started and step-seconds per UTC hour and job, on a complete zero-filled grid.

    ``runs``: ``run_id, job_name, started_at, ended_at, duration_s``; ``steps``: ``run_id,
    step_key, started_at, ended_at, duration_s``. Runs or steps that never started (``NaT``) are
    skipped. Step seconds count in the hour the step started; a run without steps (or every run
    when ``steps`` is None) counts its own ``duration_s`` in the hour it started. A missing
    duration is taken from ``ended_at - started_at``, else 0. The grid runs from the first to
    the last start hour (or from ``start`` to ``end``, both floored to the hour and inclusive;
    starts outside are dropped) for every job in ``runs``. Columns: ``hour, job_name, runs,
    step_seconds``, sorted by job and hour.
    """
    r = _with_hours(runs)
    jobs = sorted(runs["job_name"].dropna().unique())
    lo = _utc_hour(start) if start is not None else r["hour"].min()
    hi = _utc_hour(end) if end is not None else r["hour"].max()
    if not jobs or pd.isna(lo) or pd.isna(hi):
        return pd.DataFrame(
            {
                "hour": pd.Series(dtype="datetime64[ns, UTC]"),
                "job_name": pd.Series(dtype=object),
                "runs": pd.Series(dtype="int64"),
                "step_seconds": pd.Series(dtype="float64"),
            }
        )
    r = r[(r["hour"] >= lo) & (r["hour"] <= hi)]
    work = r[["run_id", "job_name", "hour", "seconds"]]
    if steps is not None and len(steps):
        s = _with_hours(steps).merge(r[["run_id", "job_name"]], on="run_id")
        work = pd.concat([work[~work["run_id"].isin(s["run_id"])], s[work.columns]])
    grid = pd.MultiIndex.from_product(
        [jobs, pd.date_range(lo, hi, freq="h")], names=["job_name", "hour"]
    )
    out = pd.DataFrame(
        {
            "runs": r.groupby(["job_name", "hour"]).size(),
            "step_seconds": work.groupby(["job_name", "hour"])["seconds"].sum(),
        }
    )
    out = out.reindex(grid, fill_value=0).fillna(0).reset_index()
    out["runs"] = out["runs"].astype("int64")
    out["step_seconds"] = out["step_seconds"].astype(float)
    return out[["hour", "job_name", "runs", "step_seconds"]]


def _utc_hour(ts: pd.Timestamp | str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).floor("h")


def _with_hours(frame: pd.DataFrame) -> pd.DataFrame:
    f = frame.copy()
    started = pd.to_datetime(f["started_at"], utc=True)
    ended = pd.to_datetime(f["ended_at"], utc=True)
    elapsed = (ended - started).dt.total_seconds()
    f["seconds"] = pd.to_numeric(f["duration_s"], errors="coerce").fillna(elapsed).fillna(0.0)
    f["hour"] = started.dt.floor("h")
    return f[started.notna()]


def seasonal_naive(history: np.ndarray | pd.Series, horizon: int, season: int = WEEK) -> np.ndarray:
    """Repeat the last ``season`` values: the value one season before each forecast hour.

    A history shorter than ``season`` falls back to a season of 24, then to its last value;
    an empty one forecasts zeros.
    """
    y = np.asarray(history, dtype=float)
    if len(y) == 0:
        return np.zeros(horizon)
    for s in (season, DAY):
        if len(y) >= s:
            return y[len(y) - s + np.arange(horizon) % s]
    return np.full(horizon, y[-1])


def forecast(
    history: pd.Series | np.ndarray,
    horizon: int,
    *,
    seasonal_periods: Sequence[int] = (DAY, WEEK),
    log: bool = True,
    robust: bool = False,
    seasonal_deg: int = 0,
) -> ForecastResult:
    """Forecast ``horizon`` hours after an hourly ``history`` (regular grid, NaN interpolated).

    MSTL over the periods with more than two full cycles in the history, simple exponential
    smoothing of the deseasonalised remainder; fallbacks as in the module docstring. ``log``
    fits on ``log1p`` of the values clipped at 0 (False: raw values, additive seasonality),
    ``robust`` uses robust STL (down-weights bursts, ~6x slower), ``seasonal_deg`` is STL's
    seasonal LOESS degree. Output is finite and non-negative.
    """
    y = pd.Series(np.asarray(history, dtype=float)).interpolate(limit_direction="both")
    y = y.fillna(0.0).to_numpy()
    n, h = len(y), np.arange(horizon)
    periods = sorted(p for p in set(seasonal_periods) if n > 2 * p)  # MSTL drops p >= n/2
    resid, widen, back = np.zeros(1), np.ones(horizon), np.asarray
    if n == 0:
        mean, method = np.zeros(horizon), "zeros (empty history)"
    elif np.ptp(y) == 0:
        mean, method = np.full(horizon, y[0]), "constant"
    elif not periods:
        short = min(seasonal_periods, default=DAY)
        if n >= short:
            mean, method = seasonal_naive(y, horizon, short), f"seasonal_naive({short})"
            resid, widen = y[short:] - y[:-short], np.sqrt(1 + h // short)
        else:
            mean, method = np.full(horizon, y.mean()), "mean (history shorter than a day)"
            resid = y - y.mean()
    else:
        z, back = (np.log1p(np.clip(y, 0, None)), np.expm1) if log else (y, back)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning, RuntimeWarning on flat parts
            kw = {"robust": robust, "seasonal_deg": seasonal_deg}
            mstl = MSTL(z, periods=periods, stl_kwargs=kw).fit()
            seasonal = np.asarray(mstl.seasonal).reshape(n, -1)
            ses = SimpleExpSmoothing(z - seasonal.sum(axis=1), initialization_method="estimated")
            fit = ses.fit()
        future = sum(seasonal[n - p + h % p, i] for i, p in enumerate(periods))
        mean = np.asarray(fit.forecast(horizon)) + future
        resid = z - seasonal.sum(axis=1) - np.asarray(fit.fittedvalues)
        widen = np.sqrt(1 + h * float(np.nan_to_num(fit.params["smoothing_level"])) ** 2)
        method = f"mstl({','.join(map(str, periods))})+ses" + ("(log1p)" if log else "")
        if not np.all(np.isfinite(mean)):  # numerical trouble: the baseline is a safe answer
            mean, resid, widen = seasonal_naive(z, horizon, max(periods)), np.zeros(1), 1.0
            method = f"seasonal_naive({max(periods)})"
    lo_q, hi_q = np.quantile(resid, [0.1, 0.9])
    lower, upper = mean + min(lo_q, 0.0) * widen, mean + max(hi_q, 0.0) * widen
    mean, lower, upper = (np.clip(back(v), 0, None) for v in (mean, lower, upper))
    return ForecastResult(mean=mean, lower=lower, upper=upper, method=method)


def _errors(actual: np.ndarray, pred: np.ndarray, scale: float) -> tuple[float, float, float]:
    mae = float(np.mean(np.abs(actual - pred)))
    rmse = float(np.sqrt(np.mean((actual - pred) ** 2)))
    return mae, rmse, mae / scale if scale > 0 else float("nan")


def backtest_weeks(
    series: pd.Series, *, n_weeks: int = 3, season: int = WEEK, **forecast_kwargs: object
) -> pd.DataFrame:
    """Rolling-origin test on the last ``n_weeks`` blocks of ``season`` hours.

    Each held-out block is forecast from the data strictly before it, by :func:`forecast` and by
    :func:`seasonal_naive`. One row per block: ``week`` (1 = oldest), ``start``, ``train_hours``,
    ``model_mae/rmse/mase``, ``naive_mae/rmse/mase``, ``ratio`` (model MAE / naive MAE),
    ``coverage`` (share of held-out hours inside the 80 % bounds), ``method`` and ``seconds``
    (fit + forecast time). MASE divides by the in-sample seasonal-naive MAE (lag ``season``) of
    the training part. ``forecast_kwargs`` go to :func:`forecast`.
    """
    y = pd.Series(series).astype(float)
    rows = []
    for k in range(n_weeks, 0, -1):
        cut = len(y) - k * season
        if cut <= 0:
            raise ValueError(f"{len(y)} points cannot hold {n_weeks} held-out blocks + training")
        train, test = y.iloc[:cut], y.iloc[cut : cut + season].to_numpy()
        lag = next((s for s in (season, DAY, 1) if cut > s), None)
        tr = train.to_numpy()
        scale = float(np.mean(np.abs(tr[lag:] - tr[:-lag]))) if lag else float("nan")
        t0 = time.perf_counter()
        fc = forecast(train, season, **forecast_kwargs)  # type: ignore[arg-type]
        seconds = time.perf_counter() - t0
        m = _errors(test, fc.mean, scale)
        b = _errors(test, seasonal_naive(train, season, season), scale)
        rows.append(
            {
                "week": n_weeks - k + 1,
                "start": y.index[cut],
                "train_hours": cut,
                "model_mae": m[0],
                "model_rmse": m[1],
                "model_mase": m[2],
                "naive_mae": b[0],
                "naive_rmse": b[1],
                "naive_mase": b[2],
                "ratio": m[0] / b[0] if b[0] > 0 else float("nan"),
                "coverage": float(np.mean((test >= fc.lower) & (test <= fc.upper))),
                "method": fc.method,
                "seconds": seconds,
            }
        )
    return pd.DataFrame(rows)
