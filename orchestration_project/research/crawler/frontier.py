"""A site crawl's frontier: a durable priority queue of links, and the budgets that end a crawl.

Links found by the crawler are published on the site's frontier topic of the message bus (the
durable, de-duplicated log of discoveries: one message per (crawl, url)). :class:`Frontier`
drains that topic into the ``crawl_frontier`` table, committing the bus offset in the same
transaction, and hands the crawler the best pending links first:

1. links of a URL pattern that keeps failing (``/old-shop/*`` answering 404) come last, and a
   batch takes at most a few links of a pattern that has not yet given a good page, so dead
   links cannot crowd out live ones;
2. then shallower before deeper: pages reached by pagination keep the depth of the listing they
   were found on, so a listing's next pages are fetched before the product links they lead to;
3. then higher relevance, then discovery order.

The order is a function of what is stored, so a crawl killed and resumed takes the same path.
Budgets count what the table records: pages fetched ``ok`` spend ``max_pages``; failed fetches
(404, errors, timeouts...) spend a separate, bounded ``max_failed``, so dead links are cheap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from orchestration_project.agents.coordination.bus import Message, MessageBus
from orchestration_project.agents.coordination.store import CoordinationStore

frontier_metadata = sa.MetaData()

crawl_frontier = sa.Table(
    "crawl_frontier",
    frontier_metadata,
    sa.Column("crawl_id", sa.String(200), primary_key=True),
    sa.Column("url", sa.String(2000), primary_key=True),
    sa.Column("site", sa.String(300), nullable=False),
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("parent_url", sa.String(2000)),
    sa.Column("anchor", sa.String(500)),
    sa.Column("relevance", sa.Float, nullable=False),
    sa.Column("pagination", sa.Boolean, nullable=False),
    sa.Column("pattern", sa.String(300), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("outcome", sa.String(40)),  # None while pending
    sa.Index("ix_crawl_frontier_pending", "crawl_id", "site", "outcome"),
)

NOT_FETCHED = frozenset(["refused", "robots_disallowed", "too_deep"])
"""Frontier outcomes of links that were never requested."""

DEAD_OUTCOMES = frozenset(
    ["not_found", "http_error", "error", "redirect_loop", "too_many_redirects"]
)
"""Fetch outcomes that mean the link leads nowhere (a dead link)."""

FAILING_MIN = 3
"""Dead links of one URL pattern seen before the pattern may be judged failing."""

_DRAIN_BATCH = 500
_LOOKAHEAD = 25  # candidates read per batch slot, to spread a batch over URL patterns


def default_max_failed(max_pages: int) -> int:
    """The failed-fetch budget that goes with a page budget: ``max(10, max_pages // 4)``."""
    return max(10, max_pages // 4)


def url_pattern(url: str) -> str:
    """The shape of a URL that links of one kind share: the path with its last segment (and any
    number) replaced by ``*``/``#``, plus the sorted query keys.

    ``/products/job-tracker-pro`` and ``/products/x-2`` give ``/products/*``;
    ``/old/item.php?id=7`` gives ``/old/*?id``.
    """
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    shape = [re.sub(r"\d+", "#", s) for s in segments[:-1]]
    if segments:
        shape.append("*")
    keys = sorted({p.partition("=")[0] for p in parts.query.split("&") if p})
    out = "/" + "/".join(shape) + ("?" + "&".join(keys) if keys else "")
    return out[:300]


@dataclass(frozen=True)
class FrontierCounts:
    """What the frontier table records for one site of a crawl (the whole crawl so far).

    Attributes:
        ok: pages fetched as HTML (they spend the page budget).
        failed: fetches that failed for any reason (they spend the failed-fetch budget).
        dead: failed fetches whose outcome says the link leads nowhere (``DEAD_OUTCOMES``).
        pagination: pages fetched ``ok`` that were reached by a pagination link.
        pending: links waiting to be fetched.
    """

    ok: int = 0
    failed: int = 0
    dead: int = 0
    pagination: int = 0
    pending: int = 0


class Frontier:
    """The durable priority frontier of one site of one crawl.

    Args:
        store: the coordination store holding the table and the bus.
        bus: the message bus over ``store``.
        crawl_id: the crawl.
        site: the site (``scheme://host[:port]``).
        topic: the site's frontier topic on the bus.
        group: the consumer group that drains the topic into the table.
    """

    def __init__(
        self,
        store: CoordinationStore,
        bus: MessageBus,
        *,
        crawl_id: str,
        site: str,
        topic: str,
        group: str,
    ) -> None:
        self.store = store
        self.bus = bus
        self.crawl_id = crawl_id
        self.site = site
        self.topic = topic
        self.group = group
        store.create_tables(frontier_metadata)

    def _mine(self) -> Any:
        return sa.and_(
            crawl_frontier.c.crawl_id == self.crawl_id, crawl_frontier.c.site == self.site
        )

    # -- intake -----------------------------------------------------------------------------
    def drain(self) -> int:
        """Move every message of the topic into the table (one transaction per bus batch, with
        the offset commit); return how many were moved."""
        moved = 0
        while True:
            n = self.bus.consume_batch(self.group, self.topic, self._take, batch_size=_DRAIN_BATCH)
            moved += n
            if n < _DRAIN_BATCH:
                return moved

    def _take(self, messages: list[Message], conn: sa.Connection) -> None:
        rows = [
            {
                "crawl_id": self.crawl_id,
                "url": m.payload["url"],
                "site": self.site,
                "depth": int(m.payload["depth"]),
                "parent_url": m.payload.get("parent_url"),
                "anchor": (m.payload.get("anchor") or "")[:500],
                "relevance": float(m.payload["relevance"]),
                "pagination": bool(m.payload.get("pagination", False)),
                "pattern": url_pattern(m.payload["url"]),
                "seq": m.offset,
                "outcome": None,
            }
            for m in messages
        ]
        conn.execute(self.store.insert_ignore(crawl_frontier), rows)

    def promote(self, conn: sa.Connection, links: list[dict[str, Any]]) -> None:
        """Lift pending links that were found again as pagination at a shallower depth (the bus
        keeps only a URL's first discovery)."""
        for link in links:
            if not link.get("pagination"):
                continue
            conn.execute(
                crawl_frontier.update()
                .where(
                    self._mine(),
                    crawl_frontier.c.url == link["url"],
                    crawl_frontier.c.outcome.is_(None),
                    crawl_frontier.c.depth > link["depth"],
                )
                .values(depth=link["depth"], pagination=True)
            )

    # -- choosing ---------------------------------------------------------------------------
    def by_pattern(self) -> dict[str, FrontierCounts]:
        """The site's totals so far per URL pattern (one query; see :meth:`counts`)."""
        c = crawl_frontier.c
        ok = c.outcome == "ok"
        failed = sa.and_(c.outcome.is_not(None), c.outcome != "ok", c.outcome.not_in(NOT_FETCHED))

        def n(cond: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)

        q = (
            sa.select(
                c.pattern,
                n(ok),
                n(failed),
                n(c.outcome.in_(DEAD_OUTCOMES)),
                n(sa.and_(ok, c.pagination)),
                n(c.outcome.is_(None)),
            )
            .where(self._mine())
            .group_by(c.pattern)
        )
        with self.store.read() as conn:
            return {r[0]: FrontierCounts(*(int(v) for v in r[1:])) for r in conn.execute(q)}

    def counts(self, by_pattern: dict[str, FrontierCounts] | None = None) -> FrontierCounts:
        """The site's totals so far (:class:`FrontierCounts`), from ``by_pattern`` if given."""
        parts = list((self.by_pattern() if by_pattern is None else by_pattern).values())
        return FrontierCounts(
            *(sum(getattr(p, f) for p in parts) for f in FrontierCounts.__dataclass_fields__)
        )

    def next_batch(
        self, n: int, by_pattern: dict[str, FrontierCounts] | None = None
    ) -> list[dict[str, Any]]:
        """The ``n`` best pending links (see the module docstring for the order).

        A pattern is failing once it has at least ``FAILING_MIN`` dead links and more than twice
        as many dead links as good pages; its links go last. Until a pattern has given one good
        page, a batch takes at most ``FAILING_MIN`` of its links while others wait, so one batch
        cannot spend the failed-fetch budget on a single dead pattern.
        """
        if n <= 0:
            return []
        stats = self.by_pattern() if by_pattern is None else by_pattern
        failing = [p for p, s in stats.items() if s.dead >= FAILING_MIN and s.dead > 2 * s.ok]
        proven = {p for p, s in stats.items() if s.ok > 0}
        # Links of failing patterns last (no constant sort key otherwise: PostgreSQL reads
        # ``ORDER BY 0`` as a column position and refuses it).
        deferred = [sa.case((crawl_frontier.c.pattern.in_(failing), 1), else_=0)] if failing else []
        q = (
            sa.select(crawl_frontier)
            .where(self._mine(), crawl_frontier.c.outcome.is_(None))
            .order_by(
                *deferred,
                crawl_frontier.c.depth,
                crawl_frontier.c.relevance.desc(),
                crawl_frontier.c.seq,
            )
            .limit(n * _LOOKAHEAD)
        )
        with self.store.read() as conn:
            candidates = [dict(r._mapping) for r in conn.execute(q)]
        chosen: list[dict[str, Any]] = []
        waiting: list[dict[str, Any]] = []
        taken: dict[str, int] = {}
        for c in candidates:
            if len(chosen) == n:
                break
            pattern = c["pattern"]
            if pattern not in proven and taken.get(pattern, 0) >= FAILING_MIN:
                waiting.append(c)
                continue
            taken[pattern] = taken.get(pattern, 0) + 1
            chosen.append(c)
        return chosen + waiting[: n - len(chosen)]

    def known(self, urls: list[str]) -> set[str]:
        """Which of ``urls`` the frontier holds already (pending or done)."""
        out: set[str] = set()
        with self.store.read() as conn:
            for i in range(0, len(urls), 500):
                chunk = urls[i : i + 500]
                q = sa.select(crawl_frontier.c.url).where(
                    crawl_frontier.c.crawl_id == self.crawl_id, crawl_frontier.c.url.in_(chunk)
                )
                out.update(r[0] for r in conn.execute(q))
        return out

    def still_pending(self, conn: sa.Connection, urls: list[str]) -> set[str]:
        """Which of ``urls`` are still pending, read in the caller's transaction."""
        q = sa.select(crawl_frontier.c.url).where(
            self._mine(), crawl_frontier.c.outcome.is_(None), crawl_frontier.c.url.in_(urls or [""])
        )
        return {r[0] for r in conn.execute(q)}

    # -- finishing --------------------------------------------------------------------------
    def finish(self, conn: sa.Connection, outcomes: dict[str, str]) -> None:
        """Record what became of links taken from the frontier (in the caller's transaction)."""
        for url, outcome in outcomes.items():
            conn.execute(
                crawl_frontier.update()
                .where(self._mine(), crawl_frontier.c.url == url)
                .values(outcome=outcome)
            )
