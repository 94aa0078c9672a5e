"""The route bandit: Thompson sampling that forgets, with costs and breaker evidence."""

from __future__ import annotations

import pytest

from ml.bandit import RouteBandit


def _bandit(**kw: object) -> RouteBandit:
    args: dict = {
        "routes": ("http", "browser"),
        "costs": {"http": 1.0, "browser": 3.0},
        "value": 10.0,
        "prior_successes": {"http": 2.0, "browser": 2.0},
        "prior_failures": {"http": 1.0, "browser": 1.0},
        "seed": 3,
    }
    args.update(kw)
    return RouteBandit(**args)


def test_with_equal_evidence_the_cheaper_route_wins_most_decisions() -> None:
    b = _bandit()
    for _ in range(20):
        b.update("a", "http", 1.0)
        b.update("a", "browser", 1.0)
    picks = [b.choose("a").route for _ in range(400)]
    assert picks.count("http") / len(picks) > 0.9


def test_a_route_that_starts_failing_loses_its_traffic_within_a_few_outcomes() -> None:
    b = _bandit()
    for _ in range(30):
        b.update("a", "http", 1.0)
    b.update("a", "browser", 1.0)
    failures = 0
    while True:
        share = sum(b.choose("a").route == "browser" for _ in range(200)) / 200
        if share >= 0.8:
            break
        b.update("a", "http", 0.0)
        failures += 1
        assert failures <= 15, "the bandit never moved off the failing route"
    assert 3 <= failures <= 12  # forgetting (discount 0.85): a few outcomes, not the history


def test_without_forgetting_the_history_holds_the_failing_route_much_longer() -> None:
    forgetful, stubborn = _bandit(), _bandit(discount=1.0)
    for b in (forgetful, stubborn):
        for _ in range(30):
            b.update("a", "http", 1.0)
        for _ in range(8):
            b.update("a", "http", 0.0)
    assert forgetful.arm("a", "http").mean < 0.45 < stubborn.arm("a", "http").mean


def test_a_recovered_route_wins_its_traffic_back() -> None:
    b = _bandit()
    for _ in range(10):
        b.update("a", "http", 0.0)
        b.update("a", "browser", 1.0)
    assert b.choose("a").route == "browser"
    for _ in range(15):
        b.update("a", "http", 1.0)
    picks = [b.choose("a").route for _ in range(200)]
    assert picks.count("http") / len(picks) > 0.8


def test_contexts_learn_apart_and_start_from_the_prior() -> None:
    b = _bandit()
    for _ in range(10):
        b.update("bad.example", "http", 0.0)
    assert b.arm("good.example", "http").mean == pytest.approx(2 / 3)
    assert b.arm("good.example", "http").n == 0
    assert b.failing("bad.example", "http") and not b.failing("good.example", "http")


def test_failing_needs_enough_outcomes_and_a_low_mean() -> None:
    b = _bandit()
    for _ in range(3):
        b.update("a", "http", 0.0)
    # three failures after the 2:1 prior: mean 2 / (2 + 1 + 2.57) = 0.36
    assert not b.failing("a", "http", threshold=0.35, min_outcomes=3, streak=4)
    assert b.failing("a", "http", threshold=0.4, min_outcomes=3, streak=4)
    assert not b.failing("a", "http", threshold=0.4, min_outcomes=4, streak=4)
    b.update("a", "http", 0.0)
    assert b.failing("a", "http", threshold=0.35, min_outcomes=4, streak=9)
    assert not b.failing("a", "browser")


def test_a_streak_of_failures_after_a_good_history_is_evidence_too() -> None:
    b = _bandit()
    for _ in range(20):
        b.update("a", "http", 1.0)
    for _ in range(2):
        b.update("a", "http", 0.0)
    assert not b.failing("a", "http", streak=3)
    b.update("a", "http", 0.0)
    assert b.arm("a", "http").mean > 0.3 and b.failing("a", "http", streak=3)
    b.update("a", "http", 1.0)
    assert b.arm("a", "http").streak == 0 and not b.failing("a", "http", streak=3)
    assert not b.failing("a", "browser")


def test_a_disallowed_route_is_never_chosen_unless_none_is_allowed() -> None:
    b = _bandit()
    assert {b.choose("a", allowed=["browser"]).route for _ in range(50)} == {"browser"}
    assert b.choose("a", allowed=[]).route in ("http", "browser")


def test_decisions_are_reproducible_and_explained() -> None:
    one, two = _bandit(seed=11), _bandit(seed=11)
    assert [one.choose("a").route for _ in range(30)] == [two.choose("a").route for _ in range(30)]
    d = one.choose("a")
    assert d.reason().startswith(f"bandit chose {d.route}: browser 0.67")
    assert set(d.samples) == {"http", "browser"}


def test_forgetting_never_goes_below_the_prior_and_bad_arguments_are_refused() -> None:
    b = _bandit()
    for _ in range(100):
        b.update("a", "http", 0.0)
    arm = b.arm("a", "http")
    assert arm.alpha == pytest.approx(2.0) and arm.beta == pytest.approx(1 + 1 / 0.15, rel=1e-3)
    with pytest.raises(ValueError):
        b.update("a", "http", 1.5)
    with pytest.raises(ValueError):
        RouteBandit(routes=())
    with pytest.raises(ValueError):
        RouteBandit(routes=("x",), discount=0.0)
    assert [r["route"] for r in b.snapshot()] == ["http"]
