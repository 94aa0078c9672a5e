"""The bandit router in a real crawl of the demo world, with a route that fails part-way.

A demo site starts refusing plain-HTTP clients (``503`` to anything that is not a browser: bot
protection switched on mid-crawl) after the crawl has made a few routing decisions. The rule
router keeps sending pages to HTTP and loses them; the bandit router retries the failed pages in
Chromium, moves the site's traffic to the browser within a few decisions, reports the failing
route (the hook that opens its circuit breaker), and ends with the same pages as a healthy crawl.
Real parts: the demo world's HTTP servers, httpx, Chromium through Playwright, SQLite store.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination import CoordinationStore
from orchestration_project.agents.routing import BanditRouter, RuleRouter
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.demo_world.scenarios import SwitchAfterDecisions
from orchestration_project.research.crawler import crawled_pages, fetch_attempts, run_crawl
from resources.fetching import BrowserFetcher, HttpFetcher

SITE = "klimacraft"  # a site whose pages need no JavaScript: HTTP is the rule's route
FAULT_AFTER = 4  # routing decisions before the site blocks non-browsers


def _fault_after(router: RuleRouter, world: Any) -> SwitchAfterDecisions:
    """``router``, with the site blocking non-browsers from its ``FAULT_AFTER + 1``-th decision."""
    block = partial(world.set_faults, SITE, block_non_browsers=True)
    return SwitchAfterDecisions(router, world.sites[SITE], FAULT_AFTER, block)


def _crawl(world: Any, store: CoordinationStore, crawl_id: str, router: Any) -> None:
    allowed = world.allowed_hosts
    run_crawl(
        crawl_id=crawl_id,
        seeds=[world.sites[SITE] + "/"],
        topic="smart thermostats",
        store=store,
        http=HttpFetcher(timeout_s=2.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]),
        browser=BrowserFetcher(
            timeout_s=5.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]
        ),
        router=router,
        recorder=ActionRecorder(),
        max_pages=60,
        max_depth=4,
        batch_size=2,
        max_failed=60,
    )


def _attempts(store: CoordinationStore, crawl_id: str) -> pd.DataFrame:
    with store.engine.connect() as c:
        rows = c.execute(
            sa.select(fetch_attempts)
            .where(fetch_attempts.c.crawl_id == crawl_id)
            .order_by(fetch_attempts.c.id)
        ).all()
    return pd.DataFrame([r._mapping for r in rows])


def _ok(store: CoordinationStore, crawl_id: str) -> set[str]:
    df = crawled_pages(store, crawl_id)
    return set(df.loc[df["outcome"] == "ok", "url"])


def test_the_bandit_moves_a_crawl_off_a_route_that_starts_failing(
    demo_world: Any, tmp_path: Path
) -> None:
    store = CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")
    try:
        _crawl(demo_world, store, "healthy", RuleRouter())
        healthy = _ok(store, "healthy")
        assert len(healthy) >= 10

        reported: list[tuple[str, str, str]] = []
        bandit = BanditRouter(on_failing=lambda *a: reported.append(a))
        _crawl(demo_world, store, "bandit", _fault_after(bandit, demo_world))
        demo_world.clear_faults()
        _crawl(demo_world, store, "rule", _fault_after(RuleRouter(), demo_world))
    finally:
        demo_world.clear_faults()
        store.dispose()

    # The rule loses the pages it sends to the failing route; the bandit loses none.
    assert _ok(store, "bandit") == healthy
    assert len(_ok(store, "rule")) < len(healthy)

    att = _attempts(store, "bandit")
    http = att[att["route"] == "http"]
    failed_http = http[http["status"] == 503]
    assert len(failed_http) >= 1, "the fault never hit the HTTP route"
    # Every page whose HTTP fetch failed was fetched by the browser in the same batch.
    retried = att[(att["route"] == "browser") & att["reason"].str.contains("HTTP route failed")]
    assert set(failed_http["url"]) == set(retried["url"])
    # After the fault, HTTP gets a few decisions, then the browser takes the traffic.
    onset = failed_http.index.min()
    after = att.loc[onset:]
    decisions = after[~after["reason"].str.contains("HTTP route failed")]
    assert len(decisions) >= 8
    http_after = (decisions["route"] == "http").to_numpy()
    assert http_after.sum() <= 8, f"{http_after.sum()} HTTP decisions after the fault"
    tail = decisions.iloc[len(decisions) // 2 :]
    assert (tail["route"] == "browser").mean() >= 0.8
    # Each decision names the router's version and its evidence.
    assert att["reason"].str.startswith("[bandit-ts-v1]").sum() >= len(decisions)
    # The evidence that HTTP fails at this site reached the breaker hook, once.
    assert [(site, route) for site, route, _ in reported] == [(demo_world.sites[SITE], "http")]
    assert "succeeds" in reported[0][2]


def test_a_page_that_times_out_is_not_retried_in_the_browser(
    demo_world: Any, tmp_path: Path
) -> None:
    # heatherly serves a page slower than the fetch timeout (a tarpit): a timeout says nothing
    # sure about the route, and a retry in Chromium would cost a second timeout
    store = CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")
    try:
        allowed = demo_world.allowed_hosts
        run_crawl(
            crawl_id="tarpit",
            seeds=[demo_world.sites["heatherly"] + "/"],
            topic="smart thermostats",
            store=store,
            http=HttpFetcher(
                timeout_s=2.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]
            ),
            browser=BrowserFetcher(
                timeout_s=5.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]
            ),
            router=BanditRouter(),
            recorder=ActionRecorder(),
            max_pages=60,
            max_depth=4,
            batch_size=2,
        )
        att = _attempts(store, "tarpit")
    finally:
        store.dispose()
    slow = att[att["url"].str.endswith("/stock/live-availability")]
    assert [(r.route, r.outcome) for r in slow.itertuples()] == [("http", "timeout")]
