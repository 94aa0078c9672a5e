"""The crawler agent: discovers a competitor site's pages and captures them by a routed fetch.

Seeds and every link found are published on a topic of the durable message bus
(``crawl.<crawl_id>.<host>``) with an idempotency key derived from (crawl, url), so a URL enters
the frontier once however often it is found. The :class:`.frontier.Frontier` drains the topic
into a priority table and hands out the best pending links (failing URL
patterns last, then shallow before deep, then relevance). For each batch the crawler fetches the
pages (routed: HTTP or browser), and in ONE transaction stores the page records and fetch
attempts, marks the links done and publishes the new links. A crawl killed at any point and
started again with the same ``crawl_id`` resumes after the last committed batch: no page is lost,
and none is stored twice.

Budgets: ``max_pages`` counts pages fetched ``ok``; failed fetches (dead links, errors,
timeouts) spend a separate, bounded ``max_failed``. Links recognised as pagination keep the depth
of the listing page they were found on, so ``max_depth`` bounds how far from a listing the crawl
goes, not how many pages the listing has — as long as each listing page brings new links.

Modules: ``tables`` (page and attempt records), ``frontier`` (priority frontier, budgets),
``site`` (:class:`SiteCrawler`), ``run`` (the fetch tools and :func:`run_crawl`).

Safety: every URL passes the fetcher's ``UrlPolicy`` (scheme, allow-list, private and metadata
addresses) and the site's robots.txt before it is fetched; refused links are stored with the
reason. Scraped text is only ever parsed as data.
"""

from orchestration_project.research.crawler.frontier import (
    DEAD_OUTCOMES,
    Frontier,
    FrontierCounts,
    crawl_frontier,
    default_max_failed,
    url_pattern,
)
from orchestration_project.research.crawler.run import fetch_tools, run_crawl
from orchestration_project.research.crawler.site import CrawlConfig, CrawlResult, SiteCrawler
from orchestration_project.research.crawler.tables import (
    crawl_metadata,
    crawl_pages,
    crawled_pages,
    ensure_crawl_tables,
    fetch_attempts,
    frontier_message_id,
)

__all__ = [
    "DEAD_OUTCOMES",
    "CrawlConfig",
    "CrawlResult",
    "Frontier",
    "FrontierCounts",
    "SiteCrawler",
    "crawl_frontier",
    "crawl_metadata",
    "crawl_pages",
    "crawled_pages",
    "default_max_failed",
    "ensure_crawl_tables",
    "fetch_attempts",
    "fetch_tools",
    "frontier_message_id",
    "run_crawl",
    "url_pattern",
]
