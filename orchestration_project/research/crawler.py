"""The crawler agent: discovers a competitor site's pages and captures them by a routed fetch.

The frontier is a topic on the durable message bus (``crawl.<crawl_id>``): seeds and every link
found are published with an idempotency key derived from (crawl, url), so a URL enters the
frontier once however often it is found. The crawler consumes the topic in batches; for each
batch it fetches the pages (routed: HTTP or browser), and in ONE transaction stores the page
records and fetch attempts, publishes the new links and commits its consumer offset. A crawl
killed at any point and started again with the same ``crawl_id`` resumes after the last
committed batch: no page is lost, and none is stored twice.

Safety: every URL passes the fetcher's ``UrlPolicy`` (scheme, allow-list, private and metadata
addresses) and the site's robots.txt before it is fetched; refused links are stored with the
reason. Scraped text is only ever parsed as data.
"""

from __future__ import annotations

import hashlib
import urllib.robotparser
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from orchestration_project.agents.coordination.bus import Message, MessageBus
from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.agents.planning import Task, TaskGraph, site_of
from orchestration_project.agents.routing import ROUTE_BROWSER, ROUTE_HTTP, FetchAttempt, RuleRouter
from orchestration_project.agents.runtime import Agent, ToolResult
from orchestration_project.common.time import utcnow
from orchestration_project.research.extraction import (
    extract_page,
    needs_javascript,
    relevance_score,
)

crawl_metadata = sa.MetaData()

crawl_pages = sa.Table(
    "crawl_pages",
    crawl_metadata,
    sa.Column("crawl_id", sa.String(200), primary_key=True),
    sa.Column("url", sa.String(2000), primary_key=True),
    sa.Column("site", sa.String(300), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("parent_url", sa.String(2000)),
    sa.Column("anchor", sa.String(500)),
    sa.Column("relevance", sa.Float, nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("route", sa.String(20)),
    sa.Column("status", sa.Integer),
    sa.Column("size_bytes", sa.Integer),
    sa.Column("latency_s", sa.Float),
    sa.Column("error", sa.Text),
    sa.Column("final_url", sa.String(2000)),
    sa.Column("page_kind", sa.String(40)),
    sa.Column("title", sa.Text),
    sa.Column("needs_javascript", sa.Boolean),
    sa.Column("links_found", sa.Integer),
    sa.Column("links_refused", sa.Integer),
    sa.Column("html", sa.Text),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
)

fetch_attempts = sa.Table(
    "fetch_attempts",
    crawl_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("crawl_id", sa.String(200), nullable=False, index=True),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("site", sa.String(300), nullable=False),
    sa.Column("route", sa.String(20), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("size_bytes", sa.Integer),
    sa.Column("latency_s", sa.Float),
    sa.Column("needs_javascript", sa.Boolean),
    sa.Column("reason", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
)


def ensure_crawl_tables(store: CoordinationStore) -> None:
    """Create the crawl tables in the coordination store if they are missing."""
    store.create_tables(crawl_metadata)


@dataclass(frozen=True)
class CrawlConfig:
    """What one site crawl may do."""

    crawl_id: str
    site: str
    seeds: tuple[str, ...]
    topic: str = ""
    max_pages: int = 40
    max_depth: int = 3
    batch_size: int = 8
    respect_robots: bool = True


@dataclass
class CrawlResult:
    """What a crawl did, for metadata and the benchmark."""

    site: str
    pages_ok: int = 0
    pages_failed: int = 0
    links_refused: int = 0
    batches: int = 0
    routes: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)


def frontier_message_id(crawl_id: str, url: str) -> str:
    """The idempotency key of a frontier entry: one per (crawl, url)."""
    return hashlib.sha256(f"{crawl_id}\x00{url}".encode()).hexdigest()[:32]


def _normalise(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts._replace(path=path, fragment="").geturl()


class SiteCrawler:
    """Crawls one site for an agent, over a durable frontier, with a routed fetch.

    Args:
        agent: the crawler agent; it must have the tools ``http_fetch`` and ``browser_fetch``
            (see ``fetch_tools``) and records every call.
        store: the coordination store (frontier topic, page records, fetch attempts).
        bus: the message bus over ``store``.
        http: the plain HTTP fetcher resource (also used for robots.txt).
        router: picks HTTP or the browser per page and learns from outcomes.
        config: the crawl's budgets.
    """

    def __init__(
        self,
        *,
        agent: Agent,
        store: CoordinationStore,
        bus: MessageBus,
        http: Any,
        router: RuleRouter,
        config: CrawlConfig,
    ) -> None:
        self.agent = agent
        self.store = store
        self.bus = bus
        self.http = http
        self.router = router
        self.config = config
        # One frontier topic (and consumer group) per site: site crawls run in parallel.
        netloc = urlsplit(config.site).netloc
        self.topic = f"crawl.{config.crawl_id}.{netloc}"
        self.group = f"crawler.{config.crawl_id}.{netloc}"
        self._robots: urllib.robotparser.RobotFileParser | None = None
        ensure_crawl_tables(store)

    # -- frontier ---------------------------------------------------------------------------
    def _entry(self, url: str, depth: int, parent: str | None, anchor: str) -> dict[str, Any]:
        return {
            "url": url,
            "depth": depth,
            "parent_url": parent,
            "anchor": anchor[:500],
            "relevance": relevance_score(url, anchor, self.config.topic or None),
        }

    def seed(self) -> None:
        """Publish the seeds (idempotent: re-seeding a resumed crawl adds nothing)."""
        for url in self.config.seeds:
            u = _normalise(url)
            self.bus.publish(
                self.topic,
                self.config.site,
                self._entry(u, 0, None, "seed"),
                message_id=frontier_message_id(self.config.crawl_id, u),
            )

    def _pages_done(self) -> int:
        with self.store.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(crawl_pages)
                    .where(crawl_pages.c.crawl_id == self.config.crawl_id)
                    .where(crawl_pages.c.site == self.config.site)
                    .where(crawl_pages.c.outcome.not_in(["refused", "robots_disallowed"]))
                ).scalar_one()
            )

    # -- robots -----------------------------------------------------------------------------
    def _robots_allows(self, url: str) -> bool:
        if not self.config.respect_robots:
            return True
        if self._robots is None:
            rp = urllib.robotparser.RobotFileParser()
            text = self.http.fetch_text(f"{self.config.site}/robots.txt")
            rp.parse((text or "").splitlines())
            self._robots = rp
        return self._robots.can_fetch(self.http.user_agent, url)

    # -- fetching ---------------------------------------------------------------------------
    def _fetch_batch(
        self, entries: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[FetchAttempt]]:
        """Routed fetch of a batch: returns url -> final FetchResult, and every attempt."""
        now = utcnow
        by_route: dict[str, list[str]] = {ROUTE_HTTP: [], ROUTE_BROWSER: []}
        reasons: dict[str, str] = {}
        for e in entries:
            route, reason = self.router.choose(e["url"])
            by_route[route].append(e["url"])
            reasons[e["url"]] = reason
        results: dict[str, Any] = {}
        attempts: list[FetchAttempt] = []
        escalate: list[str] = []
        if by_route[ROUTE_HTTP]:
            out = self.agent.use("http_fetch", urls=by_route[ROUTE_HTTP]).value
            for r in out:
                js, why = needs_javascript(r.html) if r.ok and r.html else (False, "")
                attempts.append(self._attempt(r, ROUTE_HTTP, js, reasons[r.url], now()))
                if js and self.router.escalate:
                    escalate.append(r.url)
                    reasons[r.url] = f"HTTP copy needs JavaScript: {why}"
                else:
                    results[r.url] = (r, False)
                    if r.ok:
                        self.router.observe(r.url, needs_javascript=False)
        to_browser = by_route[ROUTE_BROWSER] + escalate
        if to_browser:
            out = self.agent.use("browser_fetch", urls=to_browser).value
            for r in out:
                attempts.append(self._attempt(r, ROUTE_BROWSER, True, reasons[r.url], now()))
                results[r.url] = (r, True)
                if r.ok and r.url in escalate:
                    self.router.observe(r.url, needs_javascript=True)
        return results, attempts

    def _attempt(self, r: Any, route: str, js: bool, reason: str, at: datetime) -> FetchAttempt:
        return FetchAttempt(
            crawl_id=self.config.crawl_id,
            url=r.url,
            site=self.config.site,
            route=route,
            outcome=r.outcome,
            status=r.status,
            size_bytes=r.size_bytes,
            latency_s=r.elapsed_s,
            needs_javascript=js,
            reason=reason,
            attempted_at=at,
            error=r.error,
        )

    # -- the crawl loop ---------------------------------------------------------------------
    def run(self) -> CrawlResult:
        """Crawl until the frontier is empty or the page budget is spent; resumable."""
        self.seed()
        result = CrawlResult(site=self.config.site)
        while True:
            done = self._pages_done()
            if done >= self.config.max_pages:
                break
            budget = min(self.config.batch_size, self.config.max_pages - done)
            handled = self.bus.consume_batch(
                self.group,
                self.topic,
                lambda msgs, conn, prepared: self._store(conn, *prepared),
                batch_size=budget,
                prepare=lambda msgs: self._visit(msgs, result),
            )
            if handled == 0:
                break
            result.batches += 1
        return result

    def _visit(self, messages: list[Message], result: CrawlResult) -> tuple[list, list, list]:
        """Fetch and parse one batch (outside any transaction); return what to store."""
        now = utcnow()
        entries = [m.payload for m in messages]
        rows: list[dict[str, Any]] = []
        fetchable: list[dict[str, Any]] = []
        for e in entries:
            if e["depth"] > self.config.max_depth:
                continue
            if not self._robots_allows(e["url"]):
                rows.append(
                    self._refused_row(e, "robots_disallowed", "robots.txt disallows it", now)
                )
                continue
            fetchable.append(e)
        fetched, attempts = self._fetch_batch(fetchable) if fetchable else ({}, [])
        new_links: list[dict[str, Any]] = []
        for e in fetchable:
            r, rendered = fetched[e["url"]]
            row = self._page_row(
                e,
                now,
                r.outcome,
                route=r.route,
                status=r.status,
                size_bytes=r.size_bytes,
                latency_s=r.elapsed_s,
                error=r.error,
                final_url=r.final_url,
                needs_javascript=rendered,
                html=r.html if r.ok else None,
            )
            result.routes[r.route] = result.routes.get(r.route, 0) + 1
            result.outcomes[r.outcome] = result.outcomes.get(r.outcome, 0) + 1
            if r.ok and r.html:
                result.pages_ok += 1
                page = extract_page(
                    r.html, r.final_url or e["url"], topic=self.config.topic or None
                )
                row["page_kind"], row["title"] = page.page_kind, page.title[:500]
                found, refused = self._links(page, e, now)
                row["links_found"], row["links_refused"] = len(found), len(refused)
                new_links.extend(found)
                rows.extend(refused)
                result.links_refused += len(refused)
            else:
                result.pages_failed += 1
            rows.append(row)
        # Highest relevance first: with a page budget, the best links are fetched first.
        new_links.sort(key=lambda x: -x["relevance"])
        return rows, attempts, new_links

    def _links(
        self, page: Any, entry: dict[str, Any], now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        found, refused = [], []
        anchors = getattr(page, "anchors", {}) or {}
        for link in page.links:
            u = _normalise(link)
            if site_of(u) != self.config.site:
                try:
                    self.http.policy().check(u)
                except Exception as exc:  # BlockedUrlError: refused with its reason
                    refused.append(
                        self._refused_row(
                            self._entry(u, entry["depth"] + 1, entry["url"], ""),
                            "blocked",
                            str(exc),
                            now,
                        )
                    )
                continue  # another allowed site: its own crawl covers it
            if entry["depth"] + 1 > self.config.max_depth:
                continue
            found.append(self._entry(u, entry["depth"] + 1, entry["url"], anchors.get(link, "")))
        for link in page.other_links:
            refused.append(
                self._refused_row(
                    self._entry(link[:2000], entry["depth"] + 1, entry["url"], ""),
                    "blocked",
                    f"scheme not allowed: {link.split(':', 1)[0]}:",
                    now,
                )
            )
        return found, refused

    def _page_row(
        self, e: dict[str, Any], now: datetime, outcome: str, **fields: Any
    ) -> dict[str, Any]:
        """A ``crawl_pages`` row for frontier entry ``e``: ``fields`` over the defaults of a
        page that was not fetched (the keys keep the table's column order)."""
        row = {
            "crawl_id": self.config.crawl_id,
            "url": e["url"],
            "site": self.config.site,
            "depth": e["depth"],
            "parent_url": e["parent_url"],
            "anchor": e["anchor"],
            "relevance": e["relevance"],
            "outcome": outcome,
            "route": None,
            "status": None,
            "size_bytes": 0,
            "latency_s": 0.0,
            "error": None,
            "final_url": None,
            "page_kind": None,
            "title": None,
            "needs_javascript": None,
            "links_found": 0,
            "links_refused": 0,
            "html": None,
            "fetched_at": now,
        }
        unknown = fields.keys() - row.keys()
        if unknown:
            raise KeyError(f"not columns of the pages table: {sorted(unknown)}")
        row.update(fields)
        return row

    def _refused_row(
        self, e: dict[str, Any], outcome: str, why: str, now: datetime
    ) -> dict[str, Any]:
        return self._page_row(e, now, outcome if outcome != "blocked" else "refused", error=why)

    def _store(
        self,
        conn: Any,
        rows: list[dict[str, Any]],
        attempts: list[FetchAttempt],
        new_links: list[dict[str, Any]],
    ) -> None:
        # A URL is stored once per crawl: keep the first row per url (a refused link found twice,
        # or found again after a resume, must not duplicate).
        existing = {
            r[0]
            for r in conn.execute(
                sa.select(crawl_pages.c.url).where(
                    crawl_pages.c.crawl_id == self.config.crawl_id,
                    crawl_pages.c.url.in_([r["url"] for r in rows] or [""]),
                )
            )
        }
        seen: set[str] = set()
        fresh = []
        for r in rows:
            if r["url"] in existing or r["url"] in seen:
                continue
            seen.add(r["url"])
            fresh.append(r)
        if fresh:
            conn.execute(crawl_pages.insert(), fresh)
        if attempts:
            conn.execute(fetch_attempts.insert(), [asdict(a) for a in attempts])
        if new_links:
            self.bus.publish_many(
                [
                    {
                        "topic": self.topic,
                        "key": self.config.site,
                        "payload": link,
                        "message_id": frontier_message_id(self.config.crawl_id, link["url"]),
                    }
                    for link in new_links
                ],
                conn=conn,
            )
        self.agent.record_message(
            self.topic, self.config.site, {"links": len(new_links)}, count=len(new_links)
        )


# -- tools ----------------------------------------------------------------------------------
_URLS_SCHEMA = {
    "type": "object",
    "properties": {"urls": {"type": "array", "items": {"type": "string"}}},
    "required": ["urls"],
}


@contextmanager
def fetch_tools(agent: Agent, http: Any, browser: Any) -> Iterator[None]:
    """Give ``agent`` the tools ``http_fetch`` and ``browser_fetch`` for the block's duration.

    The browser starts only when a page first needs it and is closed when the block ends.
    """
    from orchestration_project.agents.runtime import FunctionTool

    with ExitStack() as stack:
        sessions: list[Any] = []

        def http_fetch(urls: list[str]) -> ToolResult:
            res = http.fetch_many(urls)
            return ToolResult(value=res, route=ROUTE_HTTP, outcome=_batch_outcome(res))

        def browser_fetch(urls: list[str]) -> ToolResult:
            if not sessions:
                sessions.append(stack.enter_context(browser.session()))
            res = sessions[0].fetch_many(urls)
            return ToolResult(value=res, route=ROUTE_BROWSER, outcome=_batch_outcome(res))

        agent.tools["http_fetch"] = FunctionTool(
            "http_fetch",
            http_fetch,
            description="Fetch pages by plain HTTP.",
            input_schema=_URLS_SCHEMA,
        )
        agent.tools["browser_fetch"] = FunctionTool(
            "browser_fetch",
            browser_fetch,
            description="Fetch pages in a real Chromium browser (runs JavaScript).",
            input_schema=_URLS_SCHEMA,
        )
        yield


def _batch_outcome(results: list[Any]) -> str:
    bad = [r.outcome for r in results if not r.ok]
    return "ok" if not bad else f"partial: {len(bad)}/{len(results)} not ok"


def run_crawl(
    *,
    crawl_id: str,
    seeds: list[str],
    topic: str,
    store: CoordinationStore,
    http: Any,
    browser: Any,
    router: RuleRouter,
    recorder: Any,
    max_pages: int,
    max_depth: int,
    batch_size: int = 8,
    parallel_sites: int = 3,
) -> dict[str, CrawlResult]:
    """Crawl every site of ``seeds``: the planner's crawl subtasks fan out to one crawler agent
    per site, ``parallel_sites`` at a time; resumable by ``crawl_id``."""
    from orchestration_project.agents.coordination.bus import MessageBus
    from orchestration_project.agents.planning import plan_market_research

    bus = MessageBus(store)
    plan = plan_market_research(topic, seeds, max_pages_per_site=max_pages, max_depth=max_depth)
    crawl_tasks = TaskGraph(goal=plan.goal)
    for task in plan.of_kind("crawl_site"):
        crawl_tasks.add(task)

    def crawl_site(task: Task, _deps: dict[str, Any]) -> CrawlResult:
        site = task.params["site"]
        agent = Agent(
            name=f"crawler@{urlsplit(site).netloc}",
            role="crawler",
            goal=f"Discover pages about {topic or 'the market'} on {site}",
            recorder=recorder,
        )
        with fetch_tools(agent, http, browser):
            return SiteCrawler(
                agent=agent,
                store=store,
                bus=bus,
                http=http,
                router=router,
                config=CrawlConfig(
                    crawl_id=crawl_id,
                    site=site,
                    seeds=tuple(task.params["seeds"]),
                    topic=topic,
                    max_pages=int(task.params["max_pages"]),
                    max_depth=int(task.params["max_depth"]),
                    batch_size=batch_size,
                ),
            ).run()

    results = crawl_tasks.execute({"crawl_site": crawl_site}, max_workers=parallel_sites)
    return {crawl_tasks.tasks[tid].params["site"]: r for tid, r in results.items()}


def crawled_pages(store: CoordinationStore, crawl_id: str, *, with_html: bool = False) -> Any:
    """The crawl's page records as a DataFrame."""
    import pandas as pd

    ensure_crawl_tables(store)
    cols = [c for c in crawl_pages.c if with_html or c.name != "html"]
    with store.engine.connect() as conn:
        return pd.read_sql(sa.select(*cols).where(crawl_pages.c.crawl_id == crawl_id), conn)
