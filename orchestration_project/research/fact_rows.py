"""Fact rows: the flat records extracted facts become, one per fact and page.

:func:`extract_facts` runs one extractor agent per competitor site over its captured pages (a
first pass, then a second pass that knows the products the first one named) and scores every
review's sentiment with a language engine. Each fact becomes a row with the columns of
``FACT_COLUMNS`` and a stable ``fact_id``; the quarantine rules (:mod:`.quarantine`) decide
which rows are kept. No Dagster, no resources: the language engine is any
:class:`SentimentScorer`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from orchestration_project.agents.coordination.bus import MessageBus
from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.research.extraction import extract_page

if TYPE_CHECKING:
    from orchestration_project.research.extraction import ExtractedFact, PageExtraction

__all__ = [
    "FACT_COLUMNS",
    "REVIEW_TEXT",
    "SentimentResult",
    "SentimentScorer",
    "extract_facts",
    "extract_site_facts",
    "fact_id",
    "fact_messages",
    "fact_row",
    "publish_facts",
    "score_review_sentiment",
    "subject_key",
]

REVIEW_TEXT = "review_sentiment_text"  # the extraction layer's attribute for a review body

FACT_COLUMNS = [
    "fact_id",
    "crawl_id",
    "site",
    "kind",
    "subject",
    "attribute",
    "value",
    "value_num",
    "currency",
    "unit",
    "source_url",
    "page_kind",
    "confidence",
    "method",
    "evidence",
    "published",
    "extra",
]
"""The columns of a fact row, in table order."""


class SentimentResult(Protocol):
    """What a sentiment call returns: the score and what producing it cost."""

    @property
    def value(self) -> float: ...

    @property
    def model(self) -> str: ...

    @property
    def cost_usd(self) -> float: ...

    @property
    def latency_s(self) -> float: ...


class SentimentScorer(Protocol):
    """Scores the sentiment of a text in [-1, 1] (e.g. the language engine resource)."""

    def sentiment(self, text: str) -> SentimentResult: ...


def fact_id(crawl_id: str, *parts: Any) -> str:
    """A stable 24-hex-digit id of a fact within a crawl, from its identifying parts.

    Args:
        crawl_id: the crawl the fact belongs to.
        *parts: the fact's identity (source URL, kind, subject, attribute, value, currency).

    Returns:
        The first 24 hex digits of the SHA-256 of the NUL-joined parts.
    """
    return hashlib.sha256("\x00".join([crawl_id, *map(str, parts)]).encode()).hexdigest()[:24]


def subject_key(name: str) -> str:
    """The key that identifies a product name across pages: lower case, punctuation and
    whitespace runs collapsed to single spaces (``"Acme  Pro-X"`` -> ``"acme pro x"``)."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", name.lower())).strip()


def fact_row(crawl_id: str, site: str, page: PageExtraction, fact: ExtractedFact) -> dict[str, Any]:
    """One extracted fact as a row with the columns of ``FACT_COLUMNS``.

    Args:
        crawl_id: the crawl the page was captured in.
        site: the competitor site (its base URL).
        page: the extraction of the page the fact was found on.
        fact: the fact.

    Returns:
        The row; ``extra`` is still a dict (a copy of the fact's), serialised later.
    """
    f = fact
    value_num = float(f.value) if isinstance(f.value, int | float) else None
    parts: list[Any] = [f.source_url, f.kind, f.subject, f.attribute, f.value, f.currency]
    identity = f.identity()
    if identity:
        # two products with one name and price on one page differ by their identifiers
        parts.append(json.dumps(identity, sort_keys=True))
    return {
        "fact_id": fact_id(crawl_id, *parts),
        "crawl_id": crawl_id,
        "site": site,
        "kind": f.kind,
        "subject": f.subject,
        "attribute": f.attribute,
        "value": str(f.value),
        "value_num": value_num,
        "currency": f.currency,
        "unit": f.unit,
        "source_url": f.source_url,
        "page_kind": page.page_kind,
        "confidence": float(f.confidence),
        "method": f.method,
        "evidence": f.evidence[:200],
        "published": page.published.isoformat() if page.published else None,
        "extra": dict(f.extra or {}),
    }


def extract_site_facts(
    crawl_id: str, site: str, pages: pd.DataFrame, agent: Agent
) -> list[dict[str, Any]]:
    """The fact rows of one site's pages, extracted as one ``extract_site`` step of ``agent``.

    A first pass extracts every page; when it named products (outside prose), a second pass
    extracts every page again knowing them, so prices mentioned in prose attach to them.

    Args:
        crawl_id: the crawl the pages were captured in.
        site: the competitor site.
        pages: the site's page snapshots (``url`` and ``html`` columns).
        agent: the extractor agent the step is recorded for.

    Returns:
        Fact rows in page order, then fact order.
    """
    rows: list[dict[str, Any]] = []
    with agent.step("extract_site"):
        for _url, page, _seconds in extract_site_pages(pages):
            for f in page.facts:
                rows.append(fact_row(crawl_id, site, page, f))
    return rows


def extract_site_pages(pages: pd.DataFrame) -> list[tuple[str, PageExtraction, float]]:
    """Every page of one site extracted in two passes: ``(url, extraction, seconds)``.

    A first pass extracts every page; when it named products (outside prose), a second pass
    extracts every page again knowing them, so prices mentioned in prose attach to them. The
    seconds are those of the pass whose extraction is returned, in CPU time of this thread
    (``time.thread_time``): wall time would also charge the page for whatever else the machine
    runs, and a rollout compares these costs between rule sets."""
    first: dict[str, PageExtraction] = {}
    seconds: dict[str, float] = {}
    for r in pages.itertuples():
        t0 = time.thread_time()
        first[r.url] = extract_page(r.html, r.url)
        seconds[r.url] = time.thread_time() - t0
    known = sorted(
        {
            f.subject
            for p in first.values()
            for f in p.facts
            if f.kind == "product" and f.method != "text"
        }
    )
    out = []
    for r in pages.itertuples():
        if not known:
            out.append((r.url, first[r.url], seconds[r.url]))
            continue
        t0 = time.thread_time()
        page = extract_page(r.html, r.url, known_products=known)
        out.append((r.url, page, time.thread_time() - t0))
    return out


def score_review_sentiment(
    rows: list[dict[str, Any]], scorer: SentimentScorer, agent: Agent
) -> None:
    """Score each review row's text and store it as ``extra["sentiment"]`` (in place).

    The review text is data, never instructions; every call is recorded as a
    ``language.sentiment`` tool call of ``agent``.

    Args:
        rows: fact rows; only those whose attribute is ``REVIEW_TEXT`` are scored.
        scorer: the sentiment scorer (e.g. the language engine).
        agent: the agent the tool calls are recorded for.
    """
    for row in rows:
        if row["attribute"] == REVIEW_TEXT:
            res = scorer.sentiment(str(row["value"]))
            row["extra"]["sentiment"] = res.value
            agent.record(
                "tool_call",
                "language.sentiment",
                inputs=str(row["value"])[:120],
                output=res.value,
                duration_s=res.latency_s,
                cost_usd=res.cost_usd,
                route=res.model,
            )


def extract_facts(
    page_snapshots: pd.DataFrame,
    *,
    crawl_id: str,
    language: SentimentScorer,
    recorder: ActionRecorder,
) -> list[dict[str, Any]]:
    """Fact rows of every page, site by site, each site by its own extractor agent.

    Args:
        page_snapshots: captured pages (``site``, ``url`` and ``html`` columns).
        crawl_id: the crawl the pages were captured in.
        language: scores the sentiment of reviews.
        recorder: where the agents' actions are recorded.

    Returns:
        All fact rows (before quarantine), sites in sorted order.
    """
    raw: list[dict[str, Any]] = []
    for site, pages in page_snapshots.groupby("site", sort=True):
        agent = Agent(
            name=f"extractor@{site.split('//')[-1]}",
            role="extractor",
            goal=f"Extract market facts from {site}",
            recorder=recorder,
        )
        rows = extract_site_facts(crawl_id, site, pages, agent)
        # Sentiment of each review, scored by the language engine (text is data, not orders).
        score_review_sentiment(rows, language, agent)
        raw.extend(rows)
    return raw


def fact_messages(crawl_id: str, facts: pd.DataFrame) -> list[dict[str, Any]]:
    """Bus messages publishing accepted facts on ``facts.<crawl_id>``, keyed by site.

    Each message's id is the fact id, so publishing a fact again adds nothing.

    Args:
        crawl_id: the crawl.
        facts: accepted fact rows (``extra`` serialised).

    Returns:
        Messages for ``MessageBus.publish_many``.
    """
    return [
        {
            "topic": f"facts.{crawl_id}",
            "key": r["site"],
            "payload": r,
            "message_id": r["fact_id"],
        }
        for r in facts.to_dict("records")
    ]


def publish_facts(
    bus: MessageBus, crawl_id: str, facts: pd.DataFrame, *, recorder: ActionRecorder
) -> None:
    """Publish accepted facts on the bus (``facts.<crawl_id>``), once each, and record it as a
    message of the ``extractor`` agent.

    Args:
        bus: the message bus.
        crawl_id: the crawl.
        facts: accepted fact rows (``extra`` serialised).
        recorder: where the publishing agent's action is recorded.
    """
    bus.publish_many(fact_messages(crawl_id, facts))
    publisher = Agent(name="extractor", role="extractor", goal="publish facts", recorder=recorder)
    publisher.record_message(f"facts.{crawl_id}", "*", {"facts": len(facts)}, count=len(facts))
