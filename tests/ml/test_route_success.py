"""The fetch-route model: causal training rows, held-out scoring, the promotion rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.route_success import (
    FEATURES,
    Evaluation,
    evaluate,
    fit,
    next_features,
    promotion_decision,
    route_outcome,
    time_split,
    training_set,
    url_features,
)

COSTS = {"http": 1.0, "browser": 4.0}


def synthetic_attempts(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two sites: plain HTTP works at good.example and mostly fails (503) at bad.example, where
    the browser works; product pages are a bit less reliable everywhere."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-11-01", tz="UTC")
    rows = []
    for i in range(n):
        site = "http://good.example" if rng.random() < 0.5 else "http://bad.example"
        route = "http" if rng.random() < 0.7 else "browser"
        product = rng.random() < 0.5
        url = f"{site}/{'product' if product else 'blog'}/{i}.html"
        p = 0.95 if (route == "browser" or "good" in site) else 0.2
        p -= 0.1 if product else 0.0
        ok = rng.random() < p
        rows.append(
            {
                "crawl_id": f"c{i // 50}",
                "url": url,
                "site": site,
                "route": route,
                "outcome": "ok" if ok else "http_error",
                "status": 200 if ok else 503,
                "needs_javascript": False,
                "latency_s": 0.05 if route == "http" else 0.6,
                "attempted_at": t0 + pd.Timedelta(seconds=i),
            }
        )
    return pd.DataFrame(rows)


def test_no_feature_leaks_the_outcome_or_the_future() -> None:
    attempts = synthetic_attempts()
    full = training_set(attempts, COSTS)
    cut = attempts["attempted_at"].iloc[250]
    past = training_set(attempts[attempts["attempted_at"] < cut], COSTS)
    before = full[full["attempted_at"] < cut]
    pd.testing.assert_frame_equal(
        before[FEATURES].reset_index(drop=True), past[FEATURES].reset_index(drop=True)
    )
    # flipping one attempt's outcome changes no feature of that attempt, only later ones
    flipped = attempts.copy()
    i = 200
    flipped.loc[i, ["outcome", "status"]] = (
        ("ok", 200) if flipped.loc[i, "outcome"] != "ok" else ("http_error", 503)
    )
    a, b = training_set(attempts, COSTS), training_set(flipped, COSTS)
    row = a.index[a["url"] == attempts.loc[i, "url"]][0]
    pd.testing.assert_series_equal(a.loc[row, FEATURES], b.loc[row, FEATURES], check_names=False)
    assert a.loc[row, "success"] != b.loc[row, "success"]
    assert not a[FEATURES].equals(b[FEATURES])  # a later row's history saw the change


def test_outcomes_that_say_nothing_about_the_route_are_left_out() -> None:
    assert route_outcome({"outcome": "ok", "route": "http"}) == 1
    assert route_outcome({"outcome": "ok", "route": "http", "needs_javascript": True}) == 0
    assert route_outcome({"outcome": "ok", "route": "browser", "needs_javascript": True}) == 1
    assert route_outcome({"outcome": "http_error", "status": 503}) == 0
    assert route_outcome({"outcome": "http_error", "status": 429}) == 0
    assert route_outcome({"outcome": "http_error", "status": 410}) is None
    assert route_outcome({"outcome": "timeout"}) == 0
    for neutral in ("not_found", "blocked", "non_html", "too_large"):
        assert route_outcome({"outcome": neutral}) is None
    attempts = synthetic_attempts(20)
    attempts.loc[3, "outcome"] = "not_found"
    assert len(training_set(attempts, COSTS)) == 19


def test_url_features() -> None:
    f = url_features("http://x.example/shop/product/12.html?ref=a")
    assert f == {
        "depth": 3,
        "has_query": 1,
        "ext": "html",
        "kw_product": 1,
        "kw_listing": 1,
        "kw_search": 0,
    }
    assert url_features("http://x.example/")["depth"] == 0


def test_the_model_learns_which_route_works_where_and_beats_the_baseline() -> None:
    rows = training_set(synthetic_attempts(600), COSTS)
    train, test = time_split(rows, 0.3)
    assert train["attempted_at"].max() <= test["attempted_at"].min()
    model = fit(train)
    ev = evaluate(model, train, test)
    assert ev.n == len(test) and ev.auc is not None and ev.auc > 0.75
    assert ev.log_loss < ev.baseline_log_loss and ev.brier < ev.baseline_brier
    probe = pd.DataFrame(
        [
            next_features(train, site, route, f"http://{site}/blog/1.html")
            for route in ("http", "browser")
            for site in ("good.example", "bad.example")
        ]
    )[FEATURES]
    p = model.predict_proba(probe)[:, 1]
    http_good, http_bad, browser_good, browser_bad = p
    assert http_good > 0.7 and http_bad < 0.5 and browser_bad > http_bad


def test_a_single_class_history_cannot_be_fitted() -> None:
    rows = training_set(synthetic_attempts(50), COSTS)
    rows["success"] = 1
    with pytest.raises(ValueError, match="successes and failures"):
        fit(rows)


def _ev(log_loss: float, baseline: float = 0.6) -> Evaluation:
    return Evaluation(100, log_loss, 0.2, 0.8, 0.8, baseline, 0.25)


def test_promotion_needs_the_margin_over_the_champion_and_the_baseline() -> None:
    ok, why = promotion_decision(_ev(0.40), None)
    assert ok and "no champion" in why
    ok, why = promotion_decision(_ev(0.65), None)
    assert not ok and "baseline" in why
    ok, why = promotion_decision(_ev(0.40), _ev(0.45), margin=0.01)
    assert ok and "0.0500 below" in why
    ok, why = promotion_decision(_ev(0.445), _ev(0.45), margin=0.01)
    assert not ok and "under the margin" in why
    ok, why = promotion_decision(None, _ev(0.45))
    assert not ok and "no challenger" in why
