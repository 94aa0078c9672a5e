"""Health metrics over rolling windows: success and error rates, latency percentiles,
throughput, cost and freshness — per entity (a job, an asset, an agent, a route).

Pure pandas: give it a frame of events with a time, an entity, an ok flag, a latency and
optionally a cost, and the time "now"; it returns one row per (dimension, entity, window).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pandas as pd

DEFAULT_WINDOWS: Mapping[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
COLUMNS = [
    "dimension",
    "entity",
    "window",
    "events",
    "successes",
    "success_rate",
    "error_rate",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "throughput_per_h",
    "cost_usd",
    "last_success_at",
    "freshness_s",
]


def health_metrics(
    events: pd.DataFrame,
    *,
    dimension: str,
    now: datetime,
    windows: Mapping[str, timedelta] = DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Metrics per entity and window.

    Args:
        events: columns ``at`` (tz-aware datetime), ``entity`` (str), ``ok`` (bool),
            ``latency_s`` (float, may be NaN) and optionally ``cost_usd``.
        dimension: a label for the kind of entity ("job", "asset", "agent", "route").
        now: the end of every window (events after it are ignored: no look-ahead).
        windows: name → length.
    """
    if events.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = events.copy()
    df["at"] = pd.to_datetime(df["at"], utc=True)
    if "cost_usd" not in df:
        df["cost_usd"] = 0.0
    now_ts = (
        pd.Timestamp(now).tz_convert("UTC")
        if pd.Timestamp(now).tzinfo
        else pd.Timestamp(now, tz="UTC")
    )
    df = df[df["at"] <= now_ts]
    rows = []
    for entity, group in df.groupby("entity", sort=True):
        ok_times = group.loc[group["ok"].astype(bool), "at"]
        last_ok = ok_times.max() if len(ok_times) else pd.NaT
        for name, length in windows.items():
            w = group[group["at"] > now_ts - length]
            n = len(w)
            succ = int(w["ok"].astype(bool).sum())
            lat = w["latency_s"].dropna()
            rows.append(
                {
                    "dimension": dimension,
                    "entity": str(entity),
                    "window": name,
                    "events": n,
                    "successes": succ,
                    "success_rate": succ / n if n else None,
                    "error_rate": (n - succ) / n if n else None,
                    "latency_p50_s": float(lat.quantile(0.5)) if len(lat) else None,
                    "latency_p95_s": float(lat.quantile(0.95)) if len(lat) else None,
                    "latency_p99_s": float(lat.quantile(0.99)) if len(lat) else None,
                    "throughput_per_h": n / (length.total_seconds() / 3600.0),
                    "cost_usd": float(w["cost_usd"].fillna(0).sum()),
                    "last_success_at": last_ok,
                    "freshness_s": (now_ts - last_ok).total_seconds()
                    if pd.notna(last_ok)
                    else None,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
