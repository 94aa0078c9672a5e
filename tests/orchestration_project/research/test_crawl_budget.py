"""Crawl budgets on small shops served over loopback by a real HTTP server: pagination does not
deepen the crawl, dead links do not spend the page budget (and their own budget is bounded), and
ordinary words in product slugs do not bury product links.

Regression (issue 12): on saved real sites, product pages whose slugs held "job", "cookies" or
"about" were ranked as noise; "next" chains needed a depth budget as large as the listing; dead
links ate most of a page budget sized for the site.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from orchestration_project.agents.coordination import CoordinationStore
from orchestration_project.agents.routing import ROUTE_HTTP, FixedRouter
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.research.crawler import (
    CrawlResult,
    crawled_pages,
    run_crawl,
    url_pattern,
)
from orchestration_project.research.extraction import relevance_score
from orchestration_project.research.extraction.dom import parse_html
from orchestration_project.research.extraction.links import is_pagination_url, pagination_links
from resources.fetching import BrowserFetcher, HttpFetcher

Route = Callable[[str, dict[str, list[str]]], tuple[int, str] | None]


def _page(title: str, body: str, head: str = "") -> str:
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>{head}</head>"
        f"<body><h1>{title}</h1>{body}</body></html>"
    )


def _product(name: str) -> str:
    return _page(
        name,
        f"<div class='product'><h2>{name}</h2><p class='price'>$49.00</p>"
        "<p>A thermostat that learns your schedule.</p></div>",
    )


class _Site:
    """A site on 127.0.0.1 answering from ``route(path, query)`` (None: 404), counting requests."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — the http.server hook name
                parts = urlsplit(self.path)
                site.requests.append(self.path)
                if parts.path == "/robots.txt":
                    self._send(200, "User-agent: *\nAllow: /\n", "text/plain")
                    return
                answer = site.route(parts.path, parse_qs(parts.query))
                if answer is None:
                    self._send(404, _page("Not found", "<p>Gone.</p>"), "text/html")
                else:
                    self._send(*answer, "text/html")

            def _send(self, status: int, body: str, ctype: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.host = self.base.removeprefix("http://")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Route], _Site]]:
    sites: list[_Site] = []

    def start(route: Route) -> _Site:
        sites.append(_Site(route))
        return sites[-1]

    yield start
    for s in sites:
        s.stop()


def _crawl(
    site: _Site, tmp_path: Path, *, max_pages: int, max_depth: int, crawl_id: str = "c"
) -> tuple[CrawlResult, Any]:
    allowed = [site.host]
    http = HttpFetcher(timeout_s=3.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"])
    browser = BrowserFetcher(
        timeout_s=3.0, allowed_domains=allowed, allow_private_hosts=["127.0.0.1"]
    )
    store = CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")
    results = run_crawl(
        crawl_id=crawl_id,
        seeds=[site.base + "/"],
        topic="smart thermostats",
        store=store,
        http=http,
        browser=browser,
        router=FixedRouter(ROUTE_HTTP),
        recorder=ActionRecorder(),
        max_pages=max_pages,
        max_depth=max_depth,
    )
    return results[site.base], crawled_pages(store, crawl_id)


# -- pagination -------------------------------------------------------------------------------
LISTING_PAGES, PER_PAGE = 30, 3


def _pager(style: str, n: int, pages: int) -> tuple[str, str]:
    """(head, body) of the pager of listing page ``n`` of ``pages`` in a real-world style."""
    nxt = n + 1
    if nxt > pages:
        return "", ""
    if style == "rel-next":  # the anchor says nothing; rel="next" does
        return "", f'<a rel="next" href="/catalogue/more-{nxt}">More thermostats</a>'
    if style == "link-in-head":  # only <link rel="next"> in the head
        return f'<link rel="next" href="/catalogue/more-{nxt}">', ""
    if style == "next-text":
        return "", f'<a href="/catalogue/more-{nxt}">Next</a>'
    if style == "arrow":
        return "", f'<a href="/catalogue/more-{nxt}">»</a>'
    if style == "query":  # ?page=N, anchor just "Show more"
        return "", f'<a href="/catalogue?page={nxt}">Show more</a>'
    if style == "path":  # /page/N
        return "", f'<a href="/catalogue/page/{nxt}">Show more</a>'
    # numbered links in a pagination container, a window of two pages either side
    nums = "".join(
        f'<li><a href="{"/catalogue" if k == 1 else f"/catalogue/more-{k}"}">{k}</a></li>'
        for k in range(max(1, n - 2), min(pages, n + 2) + 1)
        if k != n
    )
    return "", f'<ul class="pagination">{nums}</ul>'


def _shop(style: str, pages: int = LISTING_PAGES, per_page: int = PER_PAGE) -> Route:
    def listing_number(path: str, query: dict[str, list[str]]) -> int | None:
        if path == "/catalogue":
            return int(query.get("page", ["1"])[0])
        for prefix in ("/catalogue/more-", "/catalogue/page/"):
            if path.startswith(prefix) and path[len(prefix) :].isdigit():
                return int(path[len(prefix) :])
        return None

    def route(path: str, query: dict[str, list[str]]) -> tuple[int, str] | None:
        if path == "/":
            return 200, _page("Thermo shop", '<a href="/catalogue">All thermostats</a>')
        n = listing_number(path, query)
        if n is not None and 1 <= n <= pages:
            cards = "".join(
                f'<li><a href="/products/thermo-{n}-{k}">Thermo {n}-{k}</a></li>'
                for k in range(1, per_page + 1)
            )
            head, pager = _pager(style, n, pages)
            return 200, _page(f"Thermostats, page {n}", f"<ul>{cards}</ul>{pager}", head)
        if path.startswith("/products/thermo-"):
            return 200, _product(path.rsplit("/", 1)[1])
        return None

    return route


def test_a_30_page_listing_is_crawled_to_its_end_with_depth_2(
    serve: Callable[[Route], _Site], tmp_path: Path
) -> None:
    site = serve(_shop("next-text"))
    result, df = _crawl(site, tmp_path, max_pages=200, max_depth=2)
    ok = df[df["outcome"] == "ok"]
    is_listing = ok["title"].str.startswith("Thermostats, page")
    assert is_listing.sum() == LISTING_PAGES
    assert set(ok.loc[is_listing, "depth"]) == {1}  # pagination kept the first listing's depth
    last = {f"{site.base}/products/thermo-{LISTING_PAGES}-{k}" for k in range(1, PER_PAGE + 1)}
    assert last <= set(ok["url"])
    assert result.pages_ok == 1 + LISTING_PAGES + LISTING_PAGES * PER_PAGE
    assert result.pagination_pages == LISTING_PAGES - 1
    assert result.stopped_by == "frontier_empty"
    # The next listing page goes before deeper links: every batch holds the next listing page
    # while there is one (home in batch 0, listing page k in batch k), so the chain advances
    # one page per batch instead of waiting behind the products already found.
    batch = ok["fetched_at"].rank(method="dense").astype(int) - 1  # one timestamp per batch
    assert sorted(batch[is_listing]) == list(range(1, LISTING_PAGES + 1))


@pytest.mark.parametrize(
    "style", ["rel-next", "link-in-head", "next-text", "arrow", "query", "path", "numbered"]
)
def test_every_pager_style_keeps_the_listing_depth(
    serve: Callable[[Route], _Site], tmp_path: Path, style: str
) -> None:
    pages = 5  # listing pages 2..5 lie three or more hops from home: beyond max_depth=2
    site = serve(_shop(style, pages=pages, per_page=2))
    result, df = _crawl(site, tmp_path, max_pages=100, max_depth=2)
    ok = df[df["outcome"] == "ok"]
    is_listing = ok["title"].str.startswith("Thermostats, page")
    assert is_listing.sum() == pages
    assert set(ok.loc[is_listing, "depth"]) == {1}
    assert f"{site.base}/products/thermo-{pages}-2" in set(ok["url"])
    assert result.pagination_pages == pages - 1


def test_a_pager_that_only_counts_up_does_not_escape_the_depth_budget(
    serve: Callable[[Route], _Site], tmp_path: Path
) -> None:
    # ?page=N answers for every N with the same three products: a trap, not a listing.
    def route(path: str, query: dict[str, list[str]]) -> tuple[int, str] | None:
        if path == "/":
            return 200, _page("Shop", '<a href="/catalogue?page=1">Catalogue</a>')
        if path == "/catalogue":
            n = int(query.get("page", ["1"])[0])
            cards = "".join(f'<a href="/products/t-{k}">T {k}</a>' for k in range(3))
            return 200, _page(f"Page {n}", f'{cards}<a rel="next" href="?page={n + 1}">Next</a>')
        if path.startswith("/products/"):
            return 200, _product(path)
        return None

    site = serve(route)
    result, df = _crawl(site, tmp_path, max_pages=500, max_depth=2)
    pages = df[df["url"].str.contains("/catalogue")]
    assert len(pages) <= 4, sorted(pages["url"])
    assert result.stopped_by == "frontier_empty"


def test_pagination_links_are_recognised() -> None:
    html = """<html><head><link rel="next" href="/c?page=3"><link rel="canonical" href="/c?page=2">
    </head><body>
    <a href="/products/a">A</a><a href="/products/b?page=1x">B</a>
    <a href="/c/more" class="btn pager-next"><svg></svg></a>
    <a href="/c/prev" rel="prev">Newer</a><a href="/c/older">Older posts</a>
    <a href="/c/arrow">›</a><a href="/blog/page/4">Read more</a>
    <nav class="paginator"><span><a href="/c/p5">5</a></span></nav>
    <div class="specs"><a href="/products/model-5">5</a></div>
    </body></html>"""
    found = pagination_links(parse_html(html), "https://x.test/c?page=2")
    path = {
        urlsplit(u).path + ("?" + urlsplit(u).query if urlsplit(u).query else "") for u in found
    }
    assert path == {
        "/c?page=3",
        "/c/more",
        "/c/prev",
        "/c/older",
        "/c/arrow",
        "/blog/page/4",
        "/c/p5",
    }
    assert is_pagination_url("https://x.test/shop?sort=new&page=12")
    assert not is_pagination_url("https://x.test/products/page-turner-lamp")


# -- dead links -------------------------------------------------------------------------------
def test_dead_links_do_not_spend_the_page_budget(
    serve: Callable[[Route], _Site], tmp_path: Path
) -> None:
    # 60 dead links of two patterns come first on the page; the 10 products come last.
    dead = [f"/shop/item-{i}" for i in range(30)] + [f"/archive/deals-{i}" for i in range(30)]
    live = [f"/products/thermo-{i}" for i in range(10)]

    def route(path: str, query: dict[str, list[str]]) -> tuple[int, str] | None:
        if path == "/":
            links = "".join(f'<a href="{p}">{p.rsplit("/", 1)[1]}</a>' for p in dead + live)
            return 200, _page("Shop", links)
        if path in live:
            return 200, _product(path.rsplit("/", 1)[1])
        if path.startswith("/archive/"):
            return 500, _page("Error", "<p>Server error.</p>")
        return None

    site = serve(route)
    result, df = _crawl(site, tmp_path, max_pages=15, max_depth=2)
    ok = set(df.loc[df["outcome"] == "ok", "url"])
    assert {site.base + p for p in live} <= ok
    assert result.pages_ok == 11
    assert result.dead_links == result.pages_failed
    assert 3 <= result.dead_links <= max(10, 15 // 4) + 8  # the failed budget plus one batch
    assert result.dead_links == int(df["outcome"].isin(["not_found", "http_error"]).sum())


def test_the_failed_fetch_budget_is_bounded(
    serve: Callable[[Route], _Site], tmp_path: Path
) -> None:
    def route(path: str, query: dict[str, list[str]]) -> tuple[int, str] | None:
        if path == "/":
            links = "".join(f'<a href="/gone/{i}">Thermostat {i}</a>' for i in range(1000))
            return 200, _page("Shop", links)
        return None

    site = serve(route)
    result, df = _crawl(site, tmp_path, max_pages=40, max_depth=3)
    assert result.stopped_by == "failed_budget"
    assert 10 <= result.dead_links <= 10 + 8  # max(10, 40 // 4), overshot by one batch at most
    assert len([r for r in site.requests if r.startswith("/gone/")]) == result.dead_links
    assert int((df["outcome"] == "ok").sum()) == 1


def test_url_patterns_group_links_of_one_kind() -> None:
    assert url_pattern("https://x.test/products/job-tracker-pro") == "/products/*"
    assert url_pattern("https://x.test/products/x-2") == "/products/*"
    assert url_pattern("https://x.test/old/2019/item.php?id=7&b=1") == "/old/#/*?b&id"
    assert url_pattern("https://x.test/") == "/"


# -- URL words --------------------------------------------------------------------------------
SLUG_PRODUCTS = ["/products/job-tracker-pro", "/p/cookies-and-cream", "/shop/about-time-watch"]
NOISE = ["/careers", "/privacy", "/about-us", "/shop/cart"]


def test_ordinary_words_in_product_slugs_do_not_bury_them(
    serve: Callable[[Route], _Site], tmp_path: Path
) -> None:
    titles = {"/products/job-tracker-pro": "Job Tracker Pro", "/p/cookies-and-cream": "Cookies"}
    titles["/shop/about-time-watch"] = "About Time Watch"

    def route(path: str, query: dict[str, list[str]]) -> tuple[int, str] | None:
        if path == "/":
            links = "".join(
                f'<a href="{p}">{titles.get(p, p.strip("/").title())}</a>'
                for p in NOISE + SLUG_PRODUCTS
            )
            return 200, _page("Shop", links)
        if path in SLUG_PRODUCTS:
            return 200, _product(titles[path])
        if path in NOISE:
            return 200, _page(path.strip("/").title(), "<p>Work with us.</p>")
        return None

    site = serve(route)
    # Page budget: the home page and three more. The noise links come first on the page.
    result, df = _crawl(site, tmp_path, max_pages=4, max_depth=2)
    ok = set(df.loc[df["outcome"] == "ok", "url"])
    assert {site.base + p for p in SLUG_PRODUCTS} <= ok
    assert not {site.base + p for p in NOISE} & ok
    assert result.stopped_by == "page_budget"


@pytest.mark.parametrize("slug", SLUG_PRODUCTS)
@pytest.mark.parametrize("noise", ["/careers", "/privacy", "/terms-of-service", "/shop/cart"])
def test_noise_pages_rank_below_products_whose_slugs_share_their_words(
    slug: str, noise: str
) -> None:
    topic = "smart thermostats"
    product = relevance_score(f"https://x.test{slug}", "", topic)
    assert product > relevance_score(f"https://x.test{noise}", "", topic)
    # a word of the noise vocabulary lowers a slug a little, never to the noise level
    plain = relevance_score("https://x.test/p/plain-vanilla", "", topic)
    assert product >= round(plain - 0.05, 3)
    assert product > 0.3


def test_a_link_longer_than_the_tables_hold_is_refused_with_its_reason(
    serve: Callable[[Route], _Site], tmp_path: Path
) -> None:
    """A 2,100-character same-site link (a tracking query) is refused and reported, and the
    crawl goes on: on PostgreSQL it would not fit the frontier's key."""
    long_link = "/p/thermostat?ref=" + "x" * 2100

    def route(path: str, query: dict[str, list[str]]) -> tuple[int, str] | None:
        if path == "/":
            links = f'<a href="{long_link}">Tracked thermostat</a><a href="/p/eco">Eco</a>'
            return 200, _page("Shop", links)
        if path == "/p/eco":
            return 200, _product("Eco Thermostat")
        return None

    site = serve(route)
    result, df = _crawl(site, tmp_path, max_pages=10, max_depth=3)
    assert result.pages_ok == 2
    refused = df[df["outcome"] != "ok"]
    assert [str(r).startswith("URL longer than 2000") for r in refused["error"]] == [True]
    assert not any(r.startswith("/p/thermostat?ref=") for r in site.requests)
