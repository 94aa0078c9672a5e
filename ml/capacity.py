"""Capacity recommendations from a workload forecast: how many slots each Dagster pool, and how
many concurrent runs the run queue, should allow.

The rule is Little's law. A pool whose steps are forecast to take ``S`` step-seconds in an hour
keeps ``S / 3600`` steps busy on average in that hour. The recommended limit is the busiest
forecast hour's demand, times a headroom factor for bursts within the hour, rounded up and
clamped into the configured bounds. The bounds carry what the forecast cannot know: a DuckDB
warehouse has one writer (bounds 1..1, whatever the demand), and a machine has only so many
cores and so much memory for browsers. A forecast of idleness never takes a pool below its
lower bound, so a quiet night cannot starve the first run of the morning.

On Kubernetes the same numbers would size the worker count (steps busy at the peak hour =
pods); on one machine they are exactly the pool and run-queue limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Bounds:
    """The smallest and largest limit a pool may be given."""

    low: int
    high: int

    def __post_init__(self) -> None:
        if self.low < 0 or self.high < self.low:
            raise ValueError(f"bounds must satisfy 0 <= low <= high, got {self.low}..{self.high}")


@dataclass(frozen=True)
class Recommendation:
    """A recommended limit and the evidence for it."""

    name: str
    limit: int
    demand: float
    """Forecast steps (or runs) busy on average in the busiest hour."""
    peak_hour: int
    """Hours from now of the busiest forecast hour (0 = the coming hour)."""
    reason: str


def busy_at_peak(seconds_per_hour: Sequence[float] | np.ndarray) -> tuple[float, int]:
    """``(steps busy on average, hour index)`` of the busiest hour of a forecast of busy
    seconds per hour (Little's law: busy seconds / 3600). ``(0.0, 0)`` for an empty forecast."""
    values = np.asarray(seconds_per_hour, dtype=float)
    if not len(values):
        return 0.0, 0
    values = np.nan_to_num(np.clip(values, 0.0, None))
    peak = int(np.argmax(values))
    return float(values[peak] / 3600.0), peak


def recommend(
    name: str, seconds_per_hour: Sequence[float] | np.ndarray, bounds: Bounds, *, headroom: float
) -> Recommendation:
    """The limit for one pool (or the run queue) from the forecast busy seconds per hour of
    what it runs: ``ceil(peak demand × headroom)`` clamped into ``bounds``."""
    if headroom < 1.0:
        raise ValueError(f"headroom must be at least 1, got {headroom}")
    demand, peak = busy_at_peak(seconds_per_hour)
    wanted = math.ceil(round(demand * headroom, 9))
    limit = min(max(wanted, bounds.low), bounds.high)
    why = f"forecast peak {demand:.2f} busy in hour +{peak} × headroom {headroom:g} → {wanted}"
    if limit != wanted:
        why += f", held to the bounds {bounds.low}..{bounds.high}"
    return Recommendation(name, limit, demand, peak, why)


def recommend_all(
    forecasts: Mapping[str, Sequence[float] | np.ndarray],
    bounds: Mapping[str, Bounds],
    *,
    headroom: float = 1.5,
) -> list[Recommendation]:
    """A recommendation for every pool that has bounds; a pool without a forecast (nothing
    ran in it) is given its lower bound."""
    return [
        recommend(name, forecasts.get(name, np.zeros(0)), b, headroom=headroom)
        for name, b in sorted(bounds.items())
    ]


__all__ = ["Bounds", "Recommendation", "busy_at_peak", "recommend", "recommend_all"]
