"""Hourly workload forecast (``ml.forecast``) against the seasonal-naive baseline, on held-out weeks.

Public data with a daily and weekly rhythm: the NAB corpus, read in place from
``$BENCHMARKS_DIR/nab/data`` (default ``<repo>/../shared/benchmarks/nab/data``). Every CSV in
every folder is aggregated to hourly sums (the partial first and last hours dropped); every
series with at least 5 weeks of hours is used, none hand-picked. (In NAB only ``realTweets``
is that long: 5-minute tweet counts over ~7.9 weeks; the other folders hold ~2 weeks.)

Method selection, a rule fixed before any held-out week is scored: the candidates of
:data:`CANDIDATES` are scored on *inner-validation* weeks, the 2 weeks immediately before the 3
held-out weeks of each series, each forecast from the data before it only (the held-out weeks
are cut off first). The candidate with the lowest median MAE ratio (model / seasonal naive) over
series and inner weeks wins; candidates within 0.01 of the best defer to the earlier one in the
list. Only the winner is then scored on the held-out weeks.

Printed: the folders scanned and why they qualify or not; the inner-validation table and the
choice; per series the last 3 weeks (rolling origin, training strictly before each held-out
week): model and naive MAE, ratio, MASE of both (scaled by the training part's in-sample
seasonal-naive MAE), 80 % bound coverage; the median and worst ratio over series and weeks, the
share of held-out weeks the model beats naive, and the fit + forecast seconds per series (median
of ``--repeats`` fits on the full series). Last, a SYNTHETIC run history shaped like the
platform's (``market_research_job`` hourly, ``operations_job`` every 15 minutes, less on
weekends) through ``hourly_workload`` + ``forecast``.

    uv run python benchmarks/workload_forecast.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ml.forecast import WEEK, backtest_weeks, forecast, hourly_workload, seasonal_naive  # noqa: E402
from ml.nab import default_nab_dir  # noqa: E402

MIN_WEEKS = 5
HELD_OUT = 3
INNER = 2
CANDIDATES: list[tuple[str, dict]] = [
    ("mstl+ses, seasonal_deg=0", {"log": False, "robust": False, "seasonal_deg": 0}),
    ("mstl+ses, statsmodels' seasonal_deg=1", {"log": False, "robust": False, "seasonal_deg": 1}),
    ("mstl+ses on log1p, seasonal_deg=0", {"log": True, "robust": False, "seasonal_deg": 0}),
    ("mstl+ses robust STL, seasonal_deg=0", {"log": False, "robust": True, "seasonal_deg": 0}),
]
TIE = 0.01


def hourly_sums(path: Path) -> pd.Series:
    """Hourly sums of a NAB file, without the partial hours at either end."""
    raw = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")["value"]
    sums, counts = raw.resample("h").sum(), raw.resample("h").count()
    full = counts >= counts.median()
    first, last = full.idxmax(), full[::-1].idxmax()
    return sums.loc[first:last].astype(float)


def load_series(data: Path) -> dict[str, pd.Series]:
    print(f"NAB folders in {data} (hourly sums; a series needs >= {MIN_WEEKS} weeks):")
    chosen: dict[str, pd.Series] = {}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        weeks = {f.stem: hourly_sums(f) for f in sorted(folder.glob("*.csv"))}
        ok = {k: s for k, s in weeks.items() if len(s) >= MIN_WEEKS * WEEK}
        span = [len(s) / WEEK for s in weeks.values()]
        print(
            f"  {folder.name:<22} {len(weeks):>2} files, {min(span):.1f}-{max(span):.1f} weeks:"
            f" {len(ok)} used"
        )
        chosen |= {f"{folder.name}/{k}": s for k, s in ok.items()}
    return chosen


def inner_validation(series: dict[str, pd.Series]) -> tuple[str, dict]:
    print(
        f"\ninner validation: the {INNER} weeks before the {HELD_OUT} held-out weeks"
        " (held-out weeks cut off first)"
    )
    medians = []
    for name, kwargs in CANDIDATES:
        ratios = []
        for s in series.values():
            bt = backtest_weeks(s.iloc[: -HELD_OUT * WEEK], n_weeks=INNER, **kwargs)
            ratios += bt["ratio"].tolist()
        medians.append(statistics.median(ratios))
        print(
            f"  {name:<46} median ratio {medians[-1]:.3f}  worst {max(ratios):.3f}",
            f" beats naive {np.mean(np.array(ratios) < 1):.0%}",
        )
        print(f"  scored {name}", file=sys.stderr)
    best = min(medians)
    pick = next(i for i, m in enumerate(medians) if m <= best + TIE)
    print(f"  chosen (lowest median, ties within {TIE} to the earlier): {CANDIDATES[pick][0]}")
    params = inspect.signature(forecast).parameters
    same = all(params[k].default == v for k, v in CANDIDATES[pick][1].items())
    print(f"  ml.forecast.forecast defaults to it: {'yes' if same else 'NO'}")
    return CANDIDATES[pick]


def held_out(series: dict[str, pd.Series], kwargs: dict, repeats: int) -> None:
    print(f"\nheld-out weeks: the last {HELD_OUT} weeks of each series, rolling origin")
    cols = ["week", "train_hours", "model_mae", "naive_mae", "ratio", "model_mase", "naive_mase"]
    all_bt, seconds = [], []
    for i, (name, s) in enumerate(series.items()):
        bt = backtest_weeks(s, n_weeks=HELD_OUT, **kwargs)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            forecast(s, WEEK, **kwargs)
            times.append(time.perf_counter() - t0)
        seconds.append(statistics.median(times))
        all_bt.append(bt.assign(series=name))
        print(f"\n{name}  ({len(s) / WEEK:.1f} weeks, {bt['method'].iloc[-1]}):")
        table = bt[cols + ["coverage"]].rename(columns={"coverage": "cover80"})
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"  fit + forecast on the full series: {seconds[-1] * 1000:.0f} ms (median)")
        print(f"  held-out {i + 1}/{len(series)}: {name}", file=sys.stderr)
    bt = pd.concat(all_bt, ignore_index=True)
    worst = bt.loc[bt["ratio"].idxmax()] if len(bt) else None
    print(f"\nsummary over {len(series)} series x {HELD_OUT} held-out weeks = {len(bt)} weeks:")
    print(f"  median ratio (model MAE / naive MAE)  {bt['ratio'].median():.3f}")
    print(
        f"  worst ratio                           {worst['ratio']:.3f} ({worst['series']}, week {worst['week']})"
    )
    print(f"  share of weeks the model beats naive  {np.mean(bt['ratio'] < 1):.0%}")
    print(
        f"  median MASE model / naive             {bt['model_mase'].median():.3f} / {bt['naive_mase'].median():.3f}"
    )
    print(f"  median 80 % bound coverage            {bt['coverage'].median():.0%}")
    print(f"  fit + forecast per series (median)    {statistics.median(seconds) * 1000:.0f} ms")
    by = bt.groupby("series")["ratio"].median().sort_values()
    print(
        "  per-series median ratio: "
        + ", ".join(f"{k.split('/')[-1]} {v:.2f}" for k, v in by.items())
    )


def synthetic_history(weeks: int = 5, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """SYNTHETIC run history: market_research_job hourly, operations_job every 15 min."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-01-06", tz="UTC")  # a Monday
    runs, steps = [], []
    for job, every, steps_per_run in (("market_research_job", 60, 3), ("operations_job", 15, 2)):
        for minute in range(0, weeks * WEEK * 60, every):
            start = t0 + pd.Timedelta(minutes=minute + float(rng.uniform(0, 3)))
            weekend = start.dayofweek >= 5
            if job == "market_research_job" and weekend and start.hour % 3:
                continue  # weekends: every third hour only
            run_id = f"{job}-{minute}"
            if rng.random() < 0.01:  # queued, never started
                runs.append((run_id, job, pd.NaT, pd.NaT, np.nan))
                continue
            day = 1.0 + 0.8 * np.sin(np.pi * (start.hour - 6) / 12) * (not weekend)
            t = start
            for k in range(steps_per_run):
                d = float(rng.lognormal(np.log(40 * day), 0.4))
                steps.append((run_id, f"step_{k}", t, t + pd.Timedelta(seconds=d), d))
                t += pd.Timedelta(seconds=d)
            runs.append((run_id, job, start, t, (t - start).total_seconds()))
    cols = ["run_id", "job_name", "started_at", "ended_at", "duration_s"]
    run_df = pd.DataFrame(runs, columns=cols)
    step_df = pd.DataFrame(steps, columns=["run_id", "step_key", *cols[2:]])
    return run_df, step_df


def synthetic_demo() -> None:
    runs, steps = synthetic_history()
    hourly = hourly_workload(runs, steps)
    print("\nSYNTHETIC run history (not real data): 5 weeks, market_research_job hourly")
    print("(every 3rd hour on weekends), operations_job every 15 min (steps slower on weekday")
    print("daytime); 1 % of runs never start. Forecast week 5 from weeks 1-4:")
    print(f"  hourly_workload: {len(runs)} runs, {len(steps)} steps -> {len(hourly)} rows")
    for job, g in hourly.groupby("job_name"):
        for col in ("runs", "step_seconds"):
            y = g[col].to_numpy()
            fc = forecast(y[:-WEEK], WEEK)
            mae = np.abs(fc.mean - y[-WEEK:]).mean()
            naive = np.abs(seasonal_naive(y[:-WEEK], WEEK) - y[-WEEK:]).mean()
            ratio = f"{mae / naive:.3f}" if naive > 0 else "n/a"
            print(
                f"  {job:<20} {col:<13} {fc.method:<24} model MAE {mae:8.2f}"
                f"  naive MAE {naive:8.2f}  ratio {ratio}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    series = load_series(default_nab_dir() / "data")
    _, kwargs = inner_validation(series)
    held_out(series, kwargs, args.repeats)
    synthetic_demo()


if __name__ == "__main__":
    main()
