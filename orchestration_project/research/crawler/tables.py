"""The crawl's tables: every page visited or refused (``crawl_pages``) and every fetch attempt
(``fetch_attempts``); the frontier's own table lives in :mod:`.frontier`."""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.research.crawler.frontier import frontier_metadata

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
    """Create the crawl tables (pages, attempts, frontier) in the coordination store if they are
    missing."""
    store.create_tables(crawl_metadata)
    store.create_tables(frontier_metadata)


def frontier_message_id(crawl_id: str, url: str) -> str:
    """The idempotency key of a frontier entry: one per (crawl, url)."""
    return hashlib.sha256(f"{crawl_id}\x00{url}".encode()).hexdigest()[:32]


def crawled_pages(store: CoordinationStore, crawl_id: str, *, with_html: bool = False) -> Any:
    """The crawl's page records as a DataFrame."""
    import pandas as pd

    ensure_crawl_tables(store)
    cols = [c for c in crawl_pages.c if with_html or c.name != "html"]
    with store.engine.connect() as conn:
        return pd.read_sql(sa.select(*cols).where(crawl_pages.c.crawl_id == crawl_id), conn)
