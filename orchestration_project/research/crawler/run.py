"""Crawling the sites of a market-research plan: the fetch tools of a crawler agent and
:func:`run_crawl`, one :class:`SiteCrawler` per site, several sites at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import urlsplit

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.agents.planning import Task, TaskGraph
from orchestration_project.agents.routing import ROUTE_BROWSER, ROUTE_HTTP, ROUTE_MCP, RuleRouter
from orchestration_project.agents.runtime import Agent, ToolResult
from orchestration_project.research.crawler.site import CrawlConfig, CrawlResult, SiteCrawler

# -- tools ----------------------------------------------------------------------------------
_URLS_SCHEMA = {
    "type": "object",
    "properties": {"urls": {"type": "array", "items": {"type": "string"}}},
    "required": ["urls"],
}


@contextmanager
def fetch_tools(agent: Agent, http: Any, browser: Any, mcp: Any = None) -> Iterator[None]:
    """Give ``agent`` the tools ``http_fetch`` and ``browser_fetch`` for the block's duration,
    and ``mcp_fetch`` (the Playwright MCP server's browser) when ``mcp`` is given.

    A browser (or MCP server) starts only when a page first needs it and is closed when the
    block ends.
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

        mcp_sessions: list[Any] = []

        def mcp_fetch(urls: list[str]) -> ToolResult:
            if not mcp_sessions:
                mcp_sessions.append(stack.enter_context(mcp.server().session()))
            res = [mcp.fetch_in(mcp_sessions[0], url) for url in urls]
            return ToolResult(value=res, route=ROUTE_MCP, outcome=_batch_outcome(res))

        if mcp is not None:
            agent.tools["mcp_fetch"] = FunctionTool(
                "mcp_fetch",
                mcp_fetch,
                description="Fetch pages in Chromium through the Playwright MCP server's tools.",
                input_schema=_URLS_SCHEMA,
            )
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
    max_failed: int | None = None,
    mcp: Any = None,
) -> dict[str, CrawlResult]:
    """Crawl every site of ``seeds``: the planner's crawl subtasks fan out to one crawler agent
    per site, ``parallel_sites`` at a time; resumable by ``crawl_id``.

    ``max_pages`` counts pages fetched ``ok`` per site; ``max_failed`` bounds failed fetches per
    site (None: ``max(10, max_pages // 4)``). ``mcp``: a third fetch route through the
    Playwright MCP server (an ``McpFetcher``), for routers that choose it. Returns each site's
    :class:`CrawlResult`.
    """
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
        with fetch_tools(agent, http, browser, mcp):
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
                    max_failed=max_failed,
                ),
            ).run()

    results = crawl_tasks.execute({"crawl_site": crawl_site}, max_workers=parallel_sites)
    return {crawl_tasks.tasks[tid].params["site"]: r for tid, r in results.items()}
