"""One site's crawl: :class:`SiteCrawler` with its :class:`CrawlConfig` and :class:`CrawlResult`."""

from __future__ import annotations

import urllib.robotparser
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from orchestration_project.agents.coordination.bus import MessageBus
from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.agents.planning import site_of
from orchestration_project.agents.routing import (
    ROUTE_BROWSER,
    ROUTE_HTTP,
    ROUTE_MCP,
    FetchAttempt,
    RuleRouter,
)
from orchestration_project.agents.runtime import Agent
from orchestration_project.common.time import utcnow
from orchestration_project.research.crawler.frontier import Frontier, default_max_failed
from orchestration_project.research.crawler.tables import (
    crawl_pages,
    ensure_crawl_tables,
    fetch_attempts,
    frontier_message_id,
)
from orchestration_project.research.extraction import (
    extract_page,
    needs_javascript,
    relevance_score,
)
from orchestration_project.research.extraction.dom import parse_html
from orchestration_project.research.extraction.links import pagination_links

MAX_URL_LENGTH = 2000
"""Longest URL the crawl follows (the frontier and page tables key on it)."""


@dataclass(frozen=True)
class CrawlConfig:
    """What one site crawl may do.

    Attributes:
        max_pages: pages fetched ``ok`` (HTML) before the crawl stops.
        max_depth: link hops from a seed; pagination links do not add a hop.
        max_failed: failed fetches before the crawl stops; None: ``max(10, max_pages // 4)``.
    """

    crawl_id: str
    site: str
    seeds: tuple[str, ...]
    topic: str = ""
    max_pages: int = 40
    max_depth: int = 3
    batch_size: int = 8
    respect_robots: bool = True
    max_failed: int | None = None

    @property
    def failed_budget(self) -> int:
        """The failed-fetch budget in force."""
        return (
            self.max_failed if self.max_failed is not None else default_max_failed(self.max_pages)
        )


@dataclass
class CrawlResult:
    """What a crawl did, for metadata and the benchmark.

    The page totals (``pages_*``, ``dead_links``, ``pagination_pages``) cover the whole crawl of
    the site, a resumed part included; ``links_refused``, ``batches``, ``routes`` and
    ``outcomes`` count what this run did.

    Attributes:
        pages_ok: pages fetched as HTML (they spend ``max_pages``).
        pages_failed: failed fetches of any kind (they spend ``max_failed``).
        pages_fetched: ``pages_ok + pages_failed``.
        dead_links: failed fetches that lead nowhere (404/410, other HTTP errors, connection
            errors, redirect loops).
        pagination_pages: pages fetched ``ok`` that were reached by a pagination link.
        stopped_by: ``"frontier_empty"``, ``"page_budget"`` or ``"failed_budget"``.
    """

    site: str
    pages_ok: int = 0
    pages_failed: int = 0
    pages_fetched: int = 0
    dead_links: int = 0
    pagination_pages: int = 0
    links_refused: int = 0
    batches: int = 0
    stopped_by: str = ""
    routes: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)


def _normalise(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return parts._replace(path=path, fragment="").geturl()


_ROUTE_FAULTS = frozenset({"timeout", "error"})
_ROUTE_STATUSES = frozenset({403, 429})


def route_verdict(r: Any) -> bool | None:
    """Whether an attempt says the route works (True), fails (False: a timeout, a connection
    error, a 5xx, 403 or 429 answer) or nothing about it (None: a dead link, a page too large,
    not HTML, a redirect loop, a URL the policy refused)."""
    if r.ok:
        return True
    if r.outcome in _ROUTE_FAULTS:
        return False
    if r.outcome == "http_error" and r.status is not None:
        return False if r.status >= 500 or r.status in _ROUTE_STATUSES else None
    return None


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
        self._published = True  # whether the frontier topic may hold links not drained yet
        ensure_crawl_tables(store)
        self.frontier = Frontier(
            store,
            bus,
            crawl_id=config.crawl_id,
            site=config.site,
            topic=self.topic,
            group=self.group,
        )

    # -- frontier ---------------------------------------------------------------------------
    def _entry(
        self, url: str, depth: int, parent: str | None, anchor: str, *, pagination: bool = False
    ) -> dict[str, Any]:
        return {
            "url": url,
            "depth": depth,
            "parent_url": parent,
            "anchor": anchor[:500],
            "relevance": relevance_score(url, anchor, self.config.topic or None),
            "pagination": pagination,
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
        by_route: dict[str, list[str]] = {ROUTE_HTTP: [], ROUTE_BROWSER: [], ROUTE_MCP: []}
        reasons: dict[str, str] = {}
        for e in entries:
            route, reason = self.router.choose(e["url"])
            by_route[route].append(e["url"])
            reasons[e["url"]] = reason
        results: dict[str, Any] = {}
        attempts: list[FetchAttempt] = []
        escalate: list[str] = []
        js_escalated: set[str] = set()
        if by_route[ROUTE_HTTP]:
            out = self.agent.use("http_fetch", urls=by_route[ROUTE_HTTP]).value
            for r in out:
                js, why = needs_javascript(r.html) if r.ok and r.html else (False, "")
                attempts.append(self._attempt(r, ROUTE_HTTP, js, reasons[r.url], now()))
                verdict = route_verdict(r)
                if verdict is not None:
                    # a copy that needs JavaScript is a miss of the HTTP route for that page
                    self.router.record(r.url, ROUTE_HTTP, ok=verdict and not js)
                if js and self.router.escalate:
                    escalate.append(r.url)
                    js_escalated.add(r.url)
                    reasons[r.url] = f"HTTP copy needs JavaScript: {why}"
                elif verdict is False and r.outcome != "timeout" and self.router.retry_failed_route:
                    # the route refused or broke (5xx, 403/429, connection error), not the
                    # page: the browser gets the page in this batch. A timeout is not retried:
                    # a page built to hang (tarpits) would cost a second timeout in Chromium.
                    escalate.append(r.url)
                    reasons[r.url] = (
                        f"HTTP route failed ({r.outcome}"
                        f"{' ' + str(r.status) if r.status else ''}): retried in the browser"
                    )
                else:
                    results[r.url] = (r, False)
                    if r.ok:
                        self.router.observe(r.url, needs_javascript=False)
        if by_route[ROUTE_MCP]:  # the Playwright MCP server's browser (runs JavaScript)
            out = self.agent.use("mcp_fetch", urls=by_route[ROUTE_MCP]).value
            for r in out:
                attempts.append(self._attempt(r, ROUTE_MCP, True, reasons[r.url], now()))
                verdict = route_verdict(r)
                if verdict is not None:
                    self.router.record(r.url, ROUTE_MCP, ok=verdict)
                if verdict is False and r.outcome != "timeout" and self.router.retry_failed_route:
                    escalate.append(r.url)
                    reasons[r.url] = f"MCP route failed ({r.outcome}): retried in the browser"
                else:
                    results[r.url] = (r, True)
        to_browser = by_route[ROUTE_BROWSER] + escalate
        if to_browser:
            out = self.agent.use("browser_fetch", urls=to_browser).value
            for r in out:
                attempts.append(self._attempt(r, ROUTE_BROWSER, True, reasons[r.url], now()))
                verdict = route_verdict(r)
                if verdict is not None:
                    self.router.record(r.url, ROUTE_BROWSER, ok=verdict)
                results[r.url] = (r, True)
                if r.ok and r.url in js_escalated:
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
        """Crawl until the frontier is empty or a budget is spent; resumable."""
        self.seed()
        result = CrawlResult(site=self.config.site)
        self._published = True  # drain first: a resumed crawl may have links waiting
        while True:
            if self._published:
                self.frontier.drain()
            patterns = self.frontier.by_pattern()
            done = self.frontier.counts(patterns)
            if done.ok >= self.config.max_pages:
                result.stopped_by = "page_budget"
                break
            if done.failed >= self.config.failed_budget:
                result.stopped_by = "failed_budget"
                break
            entries = self.frontier.next_batch(
                min(self.config.batch_size, self.config.max_pages - done.ok), patterns
            )
            if not entries:
                result.stopped_by = "frontier_empty"
                break
            prepared = self._visit(entries, result)
            with self.store.transaction() as conn:
                self._store(conn, *prepared)
            result.batches += 1
        totals = self.frontier.counts()
        result.pages_ok, result.pages_failed = totals.ok, totals.failed
        result.pages_fetched = totals.ok + totals.failed
        result.dead_links, result.pagination_pages = totals.dead, totals.pagination
        return result

    def _visit(
        self, entries: list[dict[str, Any]], result: CrawlResult
    ) -> tuple[list, list, list, dict[str, str]]:
        """Fetch and parse one batch (outside any transaction); return what to store: page
        rows, fetch attempts, new links and the outcome of every entry."""
        now = utcnow()
        rows: list[dict[str, Any]] = []
        outcomes: dict[str, str] = {}
        fetchable: list[dict[str, Any]] = []
        for e in entries:
            if e["depth"] > self.config.max_depth:
                outcomes[e["url"]] = "too_deep"
                continue
            if not self._robots_allows(e["url"]):
                rows.append(
                    self._refused_row(e, "robots_disallowed", "robots.txt disallows it", now)
                )
                outcomes[e["url"]] = "robots_disallowed"
                continue
            fetchable.append(e)
        fetched, attempts = self._fetch_batch(fetchable) if fetchable else ({}, [])
        per_page: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        for e in fetchable:
            r, rendered = fetched[e["url"]]
            outcomes[e["url"]] = r.outcome
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
                base = r.final_url or e["url"]
                page = extract_page(r.html, base, topic=self.config.topic or None)
                row["page_kind"], row["title"] = page.page_kind, page.title[:500]
                found, refused = self._links(page, _pager_urls(r.html, base), e, now)
                row["links_found"], row["links_refused"] = len(found), len(refused)
                per_page.append((e, found))
                rows.extend(refused)
                result.links_refused += len(refused)
            rows.append(row)
        new_links = self._guard_pagination(per_page)
        # Best first within the batch too (the frontier orders across batches).
        new_links.sort(key=lambda x: (x["depth"], -x["relevance"]))
        return rows, attempts, new_links, outcomes

    def _guard_pagination(
        self, per_page: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    ) -> list[dict[str, Any]]:
        """Merge the batch's links (one per URL, the shallowest wins). A listing page that
        brought no new ordinary link (the end of a listing, or a pager trap that only counts up)
        does not pass its depth on: its pagination links deepen the crawl like any other link."""
        ordinary = [x["url"] for _, found in per_page for x in found if not x["pagination"]]
        known = self.frontier.known(ordinary)
        merged: dict[str, dict[str, Any]] = {}
        for entry, found in per_page:
            brings_new = any(x["url"] not in known for x in found if not x["pagination"])
            for link in found:
                if link["pagination"] and not brings_new:
                    link = {**link, "depth": entry["depth"] + 1, "pagination": False}
                    if link["depth"] > self.config.max_depth:
                        continue
                best = merged.get(link["url"])
                if best is None or link["depth"] < best["depth"]:
                    merged[link["url"]] = link
        return list(merged.values())

    def _links(
        self, page: Any, pager: set[str], entry: dict[str, Any], now: datetime
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The page's same-site links as frontier entries (pagination keeps the page's depth),
        and refused rows for links to blocked hosts or other schemes."""
        found, refused = [], []
        anchors = getattr(page, "anchors", {}) or {}
        # A <link rel="next"> in the head is no anchor, but it is how many listings paginate.
        extra = sorted(u for u in pager if u not in anchors and u not in set(page.links))
        for link in [*page.links, *extra]:
            u = _normalise(link)
            if site_of(u) != self.config.site:
                if link in extra:
                    continue
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
            if len(u) > MAX_URL_LENGTH:  # no table column holds it; no real page needs it
                refused.append(
                    self._refused_row(
                        self._entry(u[:MAX_URL_LENGTH], entry["depth"] + 1, entry["url"], ""),
                        "blocked",
                        f"URL longer than {MAX_URL_LENGTH} characters",
                        now,
                    )
                )
                continue
            paginated = link in pager
            depth = entry["depth"] + (0 if paginated else 1)
            if depth > self.config.max_depth:
                continue
            anchor = anchors.get(link, "next" if link in extra else "")
            found.append(self._entry(u, depth, entry["url"], anchor, pagination=paginated))
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
        outcomes: dict[str, str],
    ) -> None:
        # Another crawler of this site may have finished some of these links meanwhile: what it
        # stored stands, and this batch adds only the rest.
        pending = self.frontier.still_pending(conn, list(outcomes))
        outcomes = {u: o for u, o in outcomes.items() if u in pending}
        attempts = [a for a in attempts if a.url in pending]
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
        self.frontier.finish(conn, outcomes)
        self._published = False
        if new_links:
            self._published = (
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
                > 0
            )
            self.frontier.promote(conn, new_links)
        self.agent.record_message(
            self.topic, self.config.site, {"links": len(new_links)}, count=len(new_links)
        )


def _pager_urls(html: str, url: str) -> set[str]:
    """The pagination links of a fetched page (see ``pagination_links``)."""
    root = parse_html(html)
    base = root.find(".//base")
    return pagination_links(root, url, base=base.get("href") if base is not None else None)
