"""Capacity recommendations: Little's law at the forecast peak, headroom, bounds."""

import numpy as np
import pytest

from ml.capacity import Bounds, busy_at_peak, recommend, recommend_all


def test_busy_at_peak_is_busy_seconds_over_an_hour_at_the_busiest_hour() -> None:
    demand, hour = busy_at_peak([0, 1800, 7200, 3600])
    assert (demand, hour) == (2.0, 2)
    assert busy_at_peak([]) == (0.0, 0)
    assert busy_at_peak([np.nan, -5, 900]) == (0.25, 2)  # negatives and gaps are idle


def test_limit_is_peak_demand_times_headroom_rounded_up() -> None:
    # 2.5 steps busy at the peak × 1.5 = 3.75 -> 4 slots
    r = recommend("browser", [3600, 9000, 0], Bounds(1, 8), headroom=1.5)
    assert r.limit == 4 and r.peak_hour == 1 and r.demand == pytest.approx(2.5)
    assert "hour +1" in r.reason and "bounds" not in r.reason
    # exactly 2 busy × 1.0 stays 2 (no float round-up to 3)
    assert recommend("p", [7200], Bounds(1, 8), headroom=1.0).limit == 2


def test_bounds_hold_whatever_the_forecast_says() -> None:
    busy = recommend("warehouse", [36000] * 24, Bounds(1, 1), headroom=1.5)
    assert busy.limit == 1 and "held to the bounds 1..1" in busy.reason
    idle = recommend("browser", [0] * 24, Bounds(2, 6), headroom=1.5)
    assert idle.limit == 2  # a quiet forecast never starves the pool below its floor
    with pytest.raises(ValueError):
        Bounds(3, 2)
    with pytest.raises(ValueError):
        recommend("p", [1], Bounds(1, 2), headroom=0.5)


def test_every_bounded_pool_gets_a_recommendation_idle_ones_their_floor() -> None:
    recs = recommend_all(
        {"browser": np.array([7200.0])}, {"browser": Bounds(1, 4), "gpu": Bounds(1, 2)}
    )
    assert [(r.name, r.limit) for r in recs] == [("browser", 3), ("gpu", 1)]
