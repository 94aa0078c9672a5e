"""The crawler on the demo world: routed fetch, budgets, and a crawl killed mid-way that
resumes without losing or duplicating pages or frontier messages."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from orchestration_project.agents.coordination import CoordinationStore, MessageBus
from orchestration_project.agents.routing import ROUTE_HTTP, FixedRouter, RuleRouter
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.research.crawler import crawl_pages, crawled_pages, run_crawl
from resources.fetching import BrowserFetcher, HttpFetcher
from tests.backends import backends, temporary_store_url


def _fetchers(allowed: list[str]) -> tuple[HttpFetcher, BrowserFetcher]:
    return (
        HttpFetcher(timeout_s=1.5, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]),
        BrowserFetcher(timeout_s=3.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]),
    )


def _crawl(
    url: str,
    crawl_id: str,
    seeds: list[str],
    allowed: list[str],
    router: Any = None,
    max_pages: int = 40,
) -> dict:
    http, browser = _fetchers(allowed)
    return run_crawl(
        crawl_id=crawl_id,
        seeds=seeds,
        topic="smart thermostats",
        store=CoordinationStore(url),
        http=http,
        browser=browser,
        router=router or RuleRouter(),
        recorder=ActionRecorder(),
        max_pages=max_pages,
        max_depth=4,
        batch_size=4,
    )


def _child(url: str, seeds: list[str], allowed: list[str]) -> None:
    _crawl(url, "resume-me", seeds, allowed)


def _ok_urls(url: str, crawl_id: str) -> set[str]:
    df = crawled_pages(CoordinationStore(url), crawl_id)
    return set(df["url"])


def test_a_killed_crawl_resumes_without_loss_or_duplicates(demo_world: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coord.db'}"
    seeds, allowed = demo_world.seed_urls[:3], demo_world.allowed_hosts
    store = CoordinationStore(url)
    proc = mp.get_context("spawn").Process(target=_child, args=(url, seeds, allowed))
    proc.start()
    deadline = time.time() + 90
    count = 0
    while time.time() < deadline:
        try:
            with store.engine.connect() as c:
                count = c.execute(sa.select(sa.func.count()).select_from(crawl_pages)).scalar()
        except sa.exc.OperationalError:  # tables not created yet
            count = 0
        if count >= 12:
            break
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert count >= 12, "the crawl did not get going"
    before = _ok_urls(url, "resume-me")
    _crawl(url, "resume-me", seeds, allowed)  # resume in this process
    after = crawled_pages(store, "resume-me")
    assert after["url"].is_unique
    assert before < set(after["url"]), "the resumed crawl added the pages it had not reached"
    _crawl(url, "uninterrupted", seeds, allowed)
    assert set(after["url"]) == _ok_urls(url, "uninterrupted")
    bus = MessageBus(store)
    topics = [t for t in bus.topics() if t.startswith("crawl.resume-me.")]
    assert len(topics) == 3  # one frontier per site
    for topic in topics:
        urls = [m.payload["url"] for m in bus.messages(topic)]
        assert len(urls) == len(set(urls)), topic
        assert bus.lag(topic.replace("crawl.", "crawler.", 1), topic) == 0


def test_routed_fetch_finds_javascript_links_that_plain_http_misses(
    demo_world: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'coord.db'}"
    js_sites = {j["site"] for j in demo_world.ground_truth()["js_only"] if j["what"] == "links"}
    site = sorted(js_sites)[0]
    seeds = [demo_world.sites[site] + "/"]
    allowed = demo_world.allowed_hosts
    _crawl(url, "http-only", seeds, allowed, router=FixedRouter(ROUTE_HTTP))
    _crawl(url, "routed", seeds, allowed)
    http_only = crawled_pages(CoordinationStore(url), "http-only")
    routed = crawled_pages(CoordinationStore(url), "routed")
    ok_http = set(http_only.loc[http_only["outcome"] == "ok", "url"])
    ok_routed = set(routed.loc[routed["outcome"] == "ok", "url"])
    assert ok_http < ok_routed
    products = {
        demo_world.sites[site] + p["path"]
        for p in demo_world.ground_truth()["products"]
        if p["site"] == site
    }
    assert products <= ok_routed and not products <= ok_http
    assert "browser" in set(routed["route"].dropna())


def test_the_page_budget_is_kept_per_site(demo_world: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'coord.db'}"
    _crawl(url, "small", demo_world.seed_urls[:2], demo_world.allowed_hosts, max_pages=5)
    df = crawled_pages(CoordinationStore(url), "small")
    fetched = df[~df["outcome"].isin(["refused", "robots_disallowed"])]
    assert fetched.groupby("site").size().max() <= 5 + 3  # the last batch may finish
    assert fetched["site"].nunique() == 2


def test_the_playwright_mcp_server_is_a_third_route_that_runs_javascript(
    demo_world: Any, tmp_path: Path
) -> None:
    """FETCH_ROUTES with mcp: a site whose links need JavaScript crawled through the Playwright
    MCP server's browser (a real server from npm driving Chromium) finds the pages plain HTTP
    misses, like the browser route, and every attempt names the route."""
    from orchestration_project.agents.routing import ROUTE_MCP
    from resources.fetching.mcp import McpFetcher

    url = f"sqlite:///{tmp_path / 'coord.db'}"
    js_sites = {j["site"] for j in demo_world.ground_truth()["js_only"] if j["what"] == "links"}
    site = sorted(js_sites)[0]
    seeds = [demo_world.sites[site] + "/"]
    allowed = demo_world.allowed_hosts
    http, browser = _fetchers(allowed)
    mcp = McpFetcher(allowed_domains=allowed, allow_private_hosts=["127.0.0.1"])
    recorder = ActionRecorder()
    run_crawl(
        crawl_id="mcp-only",
        seeds=seeds,
        topic="smart thermostats",
        store=CoordinationStore(url),
        http=http,
        browser=browser,
        router=FixedRouter(ROUTE_MCP),
        recorder=recorder,
        max_pages=12,
        max_depth=4,
        batch_size=4,
        mcp=mcp,
    )
    pages = crawled_pages(CoordinationStore(url), "mcp-only")
    assert set(pages["route"].dropna()) == {ROUTE_MCP}
    ok = set(pages.loc[pages["outcome"] == "ok", "url"])
    products = {
        demo_world.sites[site] + p["path"]
        for p in demo_world.ground_truth()["products"]
        if p["site"] == site
    }
    assert products & ok  # product pages reached only through JavaScript links
    assert {a.name for a in recorder.actions} >= {"mcp_fetch"}


@pytest.mark.parametrize("backend", backends())
def test_a_crawl_runs_on_either_coordination_store(
    backend: str, demo_world: Any, tmp_path: Path
) -> None:
    """Regression: on PostgreSQL the frontier's constant sort key became ``ORDER BY 0`` (a
    column position, refused) and NaN in a bus message's JSON was refused; every crawl with a
    PostgreSQL coordination store failed."""
    seeds, allowed = demo_world.seed_urls[:2], demo_world.allowed_hosts
    with temporary_store_url(backend, tmp_path) as url:
        _crawl(url, f"either-{backend}", seeds, allowed, max_pages=8)
        assert len(_ok_urls(url, f"either-{backend}")) >= 4
        bus = MessageBus(CoordinationStore(url))
        assert bus.publish("nan.check", "k", {"score": float("nan"), "ok": 1.0}) is not None
        [msg] = bus.messages("nan.check")
        assert msg.payload == {"score": None, "ok": 1.0}
