"""The cost report's arithmetic on a small table worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from orchestration_project.optimization.costs import cost_report

COSTS = {"http": 1.0, "browser": 4.0}


def test_cost_per_page_and_fact_by_route_and_the_saving_against_the_dearest_route() -> None:
    t = pd.Timestamp("2026-12-01", tz="UTC")
    attempts = pd.DataFrame(
        [
            # a: HTTP ok; b: HTTP needed JavaScript, escalated to the browser; c: HTTP 503,
            # retried in the browser; d: a dead link (HTTP, not found)
            ("a", "http", "ok", 0),
            ("b", "http", "ok", 1),
            ("b", "browser", "ok", 2),
            ("c", "http", "http_error", 3),
            ("c", "browser", "ok", 4),
            ("d", "http", "not_found", 5),
        ],
        columns=["url", "route", "outcome", "s"],
    ).assign(attempted_at=lambda df: t + pd.to_timedelta(df["s"], unit="s"))
    facts = pd.DataFrame({"source_url": ["a", "a", "a", "b", "b", "c"]})
    r = cost_report(attempts, facts, COSTS)
    by = r.by_route.set_index("route")
    # HTTP: 4 attempts × 1 = 4; it fetched only page a (b's last ok attempt was the browser)
    assert by.loc["http", ["attempts", "cost", "pages", "facts"]].tolist() == [4, 4.0, 1, 3]
    assert by.loc["http", "cost_per_page"] == 4.0
    assert by.loc["http", "cost_per_fact"] == pytest.approx(4 / 3)
    # browser: 2 attempts × 4 = 8; pages b and c with 2 + 1 facts
    assert by.loc["browser", ["attempts", "cost", "pages", "facts"]].tolist() == [2, 8.0, 2, 3]
    assert by.loc["browser", "cost_per_fact"] == pytest.approx(8 / 3)
    # total 12 against 4 pages × 4 = 16 by the browser alone: 25 % saved
    assert (r.total_cost, r.counterfactual_cost) == (12.0, 16.0)
    assert r.saving == pytest.approx(0.25)
    assert r.facts == 6 and r.cost_per_fact == pytest.approx(2.0)


def test_no_history_is_an_empty_report() -> None:
    r = cost_report(pd.DataFrame(), pd.DataFrame(), COSTS)
    assert r.by_route.empty and r.saving == 0.0 and r.cost_per_fact is None


def test_a_page_crawled_twice_is_paid_twice_in_the_counterfactual() -> None:
    attempts = pd.DataFrame(
        {
            "crawl_id": ["c1", "c2", "c2"],
            "url": ["a", "a", "a"],
            "route": ["http", "http", "browser"],
            "outcome": ["ok", "http_error", "ok"],
        }
    )
    r = cost_report(attempts, pd.DataFrame({"source_url": ["a"]}), COSTS)
    assert (r.total_cost, r.counterfactual_cost) == (6.0, 8.0)
    assert r.saving == pytest.approx(0.25)


def test_cost_by_router_version_and_per_report() -> None:
    # Two crawls (two reports): one routed by the rule, one by the bandit with the champion's
    # prior. The reason's "[...]" prefix names the router version that decided each attempt.
    attempts = pd.DataFrame(
        {
            "crawl_id": ["c1", "c1", "c2", "c2", "c2"],
            "url": ["a", "b", "a", "b", "b"],
            "route": ["http", "http", "http", "http", "browser"],
            "outcome": ["ok", "ok", "ok", "http_error", "ok"],
            "reason": [
                "[rule-http-first-v1] HTTP first",
                "[rule-http-first-v1] HTTP first",
                "[bandit-ts-v1+route_success/v2] http 0.91",
                "[bandit-ts-v1+route_success/v2] http 0.88",
                "[bandit-ts-v1+route_success/v2] retry: HTTP route failed (503)",
            ],
            "attempted_at": pd.date_range("2026-12-01", periods=5, freq="s", tz="UTC"),
        }
    )
    facts = pd.DataFrame({"source_url": ["a", "b", "b"]})
    r = cost_report(attempts, facts, COSTS)
    by = r.by_router.set_index("router")
    # the rule: 2 HTTP attempts = 2; it fetched nothing last (the bandit re-fetched a and b)
    assert by.loc["rule-http-first-v1", ["attempts", "cost", "pages"]].tolist() == [2, 2.0, 0]
    # the bandit: 1 + 1 + 4 = 6 for pages a (1 fact) and b (2 facts): 2 per fact
    bandit = by.loc["bandit-ts-v1+route_success/v2"]
    assert bandit[["attempts", "cost", "pages", "facts"]].tolist() == [3, 6.0, 2, 3]
    assert bandit["cost_per_fact"] == pytest.approx(2.0)
    assert (r.reports, r.cost_per_report) == (2, 4.0)  # 8 over two crawls


def test_attempts_without_a_reason_are_unrecorded_not_dropped() -> None:
    attempts = pd.DataFrame({"url": ["a"], "route": ["http"], "outcome": ["ok"]})
    r = cost_report(attempts, pd.DataFrame({"source_url": ["a"]}), COSTS)
    assert r.by_router["router"].tolist() == ["unrecorded"] and r.by_router["cost"].sum() == 1.0
    assert (r.reports, r.cost_per_report) == (1, 1.0)
