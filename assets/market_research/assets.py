"""Market research: agents crawl competitor sites, extract and reconcile facts, write a report.

research_sources → discovered_pages → page_snapshots → extracted_facts → resolved_facts →
competitor_matrix → market_report (and human_review_queue for low-confidence decisions).

Each asset's body runs an agent (a role with tools and a policy); the agents' actions land in
the warehouse table ``market_research.agent_actions`` and summarise into asset metadata. Quality
checks (Great Expectations) sit beside the asset they guard; blocking ones stop bad data from
flowing downstream.
"""

import hashlib
import json
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from orchestration_project.agents.coordination.conflicts import Claim, ConflictResolver
from orchestration_project.agents.coordination.context import VersionConflict
from orchestration_project.agents.planning import plan_market_research
from orchestration_project.agents.routing import RuleRouter
from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.common.quality import expectation as expect
from orchestration_project.common.quality import validate
from orchestration_project.operations.healing import OpsSettings
from orchestration_project.research.crawler import (
    crawl_pages,
    crawled_pages,
    ensure_crawl_tables,
    fetch_attempts,
    run_crawl,
)
from orchestration_project.research.extraction import extract_page
from orchestration_project.research.reporting import write_market_report
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.faults import FaultInjection
from resources.fetching import BrowserFetcher, HttpFetcher
from resources.language import LanguageEngine
from resources.sources import MarketSources
from resources.warehouse import WAREHOUSE_POOL, Warehouse

GROUP = "market_research"
REVIEW_TEXT = "review_sentiment_text"  # the extraction layer's attribute for a review body
KNOWN_CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN"]
# Check names are module constants (they appear in the UI and in tests).
SOURCES_NOT_EMPTY = "sources_not_empty"
PAGES_REACHED_EVERY_SITE = "pages_reached_every_site"
SNAPSHOTS_UNIQUE_URLS = "snapshots_unique_urls"
FACTS_HAVE_SOURCES = "facts_have_sources"
RESOLVED_PRICES_VALID = "resolved_prices_valid"
MATRIX_NO_DUPLICATE_PRODUCTS = "matrix_no_duplicate_products"


class ResearchConfig(dg.Config):
    """What to research and how much of it; empty values take the market_sources resource's."""

    topic: str = Field(default="", description="Market topic; empty: the sources resource's.")
    seed_urls: list[str] = Field(default=[], description="Seeds; empty: the sources resource's.")
    max_pages_per_site: int = Field(default=40, description="Page budget per competitor site.")
    max_depth: int = Field(default=3, description="Link depth budget from the seeds.")
    crawl_id: str = Field(
        default="",
        description="Resume or reuse this crawl; empty: the run's root run id, so a "
        "re-execution of a failed run resumes its crawl instead of starting again.",
    )


def _crawl_id(context: dg.AssetExecutionContext, configured: str) -> str:
    if configured:
        return configured
    return context.run.root_run_id or context.run_id


def _persist_actions(warehouse: Warehouse, recorder: ActionRecorder) -> None:
    df = recorder.to_frame()
    if not df.empty:
        warehouse.write_table("agent_actions", df, schema=GROUP, mode="append")


def _action_metadata(recorder: ActionRecorder) -> dict[str, Any]:
    s = recorder.summary()
    meta: dict[str, Any] = {
        "agent_actions": s.get("actions", 0),
        "agent_tool_calls": s.get("tool_calls", 0),
        "agent_decisions": s.get("decisions", 0),
        "agent_errors": s.get("errors", 0),
        "agent_cost_usd": float(s.get("cost_usd", 0.0)),
    }
    if s.get("by_tool"):
        meta["agent_actions_by_tool"] = dg.MetadataValue.md(
            pd.DataFrame(s["by_tool"]).to_markdown(index=False)
        )
    return meta


def _preview(df: pd.DataFrame, cols: list[str], n: int = 10) -> dg.MetadataValue:
    keep = [c for c in cols if c in df.columns]
    return dg.MetadataValue.md(df[keep].head(n).to_markdown(index=False) if len(df) else "(empty)")


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    check_specs=[dg.AssetCheckSpec(SOURCES_NOT_EMPTY, asset="research_sources", blocking=True)],
)
def research_sources(
    context: dg.AssetExecutionContext, config: ResearchConfig, market_sources: MarketSources
) -> pd.DataFrame:
    """The research goal and its plan: topic, seed sites, budgets and the crawl id.

    A planner agent decomposes the goal into one crawl-and-extract branch per competitor site
    plus the aggregation chain; the plan is shown as a graph in the metadata.
    """
    topic = config.topic or market_sources.topic()
    seeds = config.seed_urls or market_sources.seed_urls()
    crawl_id = _crawl_id(context, config.crawl_id)
    graph = plan_market_research(
        topic, seeds, max_pages_per_site=config.max_pages_per_site, max_depth=config.max_depth
    )
    rows = [
        {
            "crawl_id": crawl_id,
            "topic": topic,
            "task_id": t.task_id,
            "site": t.params["site"],
            "seeds": json.dumps(list(t.params["seeds"])),
            "max_pages": t.params["max_pages"],
            "max_depth": t.params["max_depth"],
        }
        for t in graph.of_kind("crawl_site")
    ]
    df = pd.DataFrame(rows)
    meta = dict(
        {
            "topic": topic,
            "crawl_id": crawl_id,
            "sites": len(df),
            "plan": dg.MetadataValue.md(
                f"**{graph.goal}**\n\n```mermaid\n{graph.to_mermaid()}\n```"
            ),
            "preview": _preview(df, ["site", "seeds", "max_pages", "max_depth"]),
        }
    )
    yield dg.Output(df, metadata=meta)
    yield dg.AssetCheckResult(
        check_name=SOURCES_NOT_EMPTY,
        passed=len(df) > 0,
        metadata={"sites": len(df)},
        description="at least one seed site to research",
    )


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python", "playwright"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(PAGES_REACHED_EVERY_SITE, asset="discovered_pages")],
)
def discovered_pages(
    context: dg.AssetExecutionContext,
    research_sources: pd.DataFrame,
    coordination: CoordinationResource,
    http: HttpFetcher,
    browser: BrowserFetcher,
    warehouse: Warehouse,
    market_sources: MarketSources,  # noqa: ARG001 — keeps the demo world up during the crawl
    faults: FaultInjection,
) -> pd.DataFrame:
    """Every page the crawler agents visited or refused, per site.

    Link following stays within each site; robots.txt is respected; links are ranked by
    relevance to the topic and fetched best-first within the page and depth budgets. Each page
    is fetched by a routed fetch (plain HTTP, or Chromium when the page needs JavaScript), and
    every attempt is recorded. Refused links (other schemes, private or metadata addresses,
    hosts off the allow-list, robots.txt) are kept with the reason. The crawl is resumable: a
    killed run re-executed from failure continues where it stopped.
    """
    faults.inject(context, "discovered_pages")  # no-op unless fault injection is configured
    recorder = ActionRecorder(context.run_id, context.log.info)
    topic = str(research_sources["topic"].iloc[0]) if len(research_sources) else ""
    crawl_id = str(research_sources["crawl_id"].iloc[0]) if len(research_sources) else ""
    t0 = time.perf_counter()
    seeds = [u for s in research_sources["seeds"] for u in json.loads(s)]
    run_crawl(
        crawl_id=crawl_id,
        seeds=seeds,
        topic=topic,
        store=coordination.store(),
        http=http,
        browser=browser,
        router=RuleRouter(),
        recorder=recorder,
        max_pages=int(research_sources["max_pages"].max()) if len(research_sources) else 0,
        max_depth=int(research_sources["max_depth"].max()) if len(research_sources) else 0,
        # Sites crawled at once: 3, unless the healer lowered it after resource exhaustion.
        parallel_sites=OpsSettings(coordination.store()).max_parallel(context.job_name, 3),
    )
    df = crawled_pages(coordination.store(), crawl_id)
    _persist_actions(warehouse, recorder)
    ok = df[df["outcome"] == "ok"]
    per_site = ok.groupby("site").size().reindex(research_sources["site"], fill_value=0)
    meta = dict(
        {
            "crawl_id": crawl_id,
            "pages_ok": int(len(ok)),
            "pages_failed": int(((df["outcome"] != "ok") & (df["outcome"] != "refused")).sum()),
            "links_refused": int((df["outcome"].isin(["refused", "robots_disallowed"])).sum()),
            "outcomes": dg.MetadataValue.json(df["outcome"].value_counts().to_dict()),
            "routes": dg.MetadataValue.json(df["route"].fillna("none").value_counts().to_dict()),
            "crawl_seconds": round(time.perf_counter() - t0, 2),
            "preview": _preview(
                df.sort_values("relevance", ascending=False),
                ["url", "depth", "relevance", "outcome", "route", "page_kind"],
            ),
            **_action_metadata(recorder),
        }
    )
    yield dg.Output(df, metadata=meta)
    missing = [s for s, n in per_site.items() if n == 0]
    yield dg.AssetCheckResult(
        check_name=PAGES_REACHED_EVERY_SITE,
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"sites_without_pages": dg.MetadataValue.json(missing)},
    )


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(SNAPSHOTS_UNIQUE_URLS, asset="page_snapshots", blocking=True)],
)
def page_snapshots(
    context: dg.AssetExecutionContext,
    discovered_pages: pd.DataFrame,
    coordination: CoordinationResource,
    warehouse: Warehouse,
    faults: FaultInjection,
) -> pd.DataFrame:
    """The captured content of every page fetched successfully, one row per distinct page.

    Each row keeps the route that produced it (HTTP or the browser), its size, latency and a
    content hash; pages whose content is identical (e.g. ``/`` and ``/index.html``) are kept
    once. The full history of fetch attempts goes to the ``fetch_attempts`` table, the training
    data of the route learner.
    """
    faults.inject(context, "page_snapshots")  # no-op unless fault injection is configured
    store = coordination.store()
    ensure_crawl_tables(store)
    crawl_id = str(discovered_pages["crawl_id"].iloc[0]) if len(discovered_pages) else ""
    with store.engine.connect() as conn:
        pages = pd.read_sql(
            sa.select(crawl_pages).where(
                crawl_pages.c.crawl_id == crawl_id, crawl_pages.c.outcome == "ok"
            ),
            conn,
        )
        attempts = pd.read_sql(sa.select(fetch_attempts), conn)
    warehouse.write_table("fetch_attempts", attempts, schema=GROUP)
    pages = pages[pages["html"].notna()].copy()
    pages["content_sha"] = pages["html"].map(lambda h: hashlib.sha256(h.encode()).hexdigest())
    pages = pages.sort_values(["depth", "url"]).drop_duplicates("content_sha")
    cols = [
        "crawl_id",
        "url",
        "final_url",
        "site",
        "depth",
        "relevance",
        "route",
        "status",
        "size_bytes",
        "latency_s",
        "page_kind",
        "title",
        "needs_javascript",
        "content_sha",
        "html",
        "fetched_at",
    ]
    df = pages[cols].reset_index(drop=True)
    this = attempts[attempts["crawl_id"] == crawl_id]
    meta = dict(
        {
            "pages": len(df),
            "bytes": int(df["size_bytes"].sum()),
            "by_route": dg.MetadataValue.json(df["route"].value_counts().to_dict()),
            "by_kind": dg.MetadataValue.json(df["page_kind"].fillna("?").value_counts().to_dict()),
            "fetch_attempts": len(this),
            "attempt_latency_p50_s": float(this["latency_s"].median()) if len(this) else 0.0,
            "preview": _preview(df, ["url", "route", "page_kind", "size_bytes", "latency_s"]),
        }
    )
    yield dg.Output(df, metadata=meta)
    dupes = int(df["url"].duplicated().sum())
    yield dg.AssetCheckResult(
        check_name=SNAPSHOTS_UNIQUE_URLS, passed=dupes == 0, metadata={"duplicate_urls": dupes}
    )


# ---------------------------------------------------------------------------------------------
def _fact_id(crawl_id: str, *parts: Any) -> str:
    return hashlib.sha256("\x00".join([crawl_id, *map(str, parts)]).encode()).hexdigest()[:24]


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", name.lower())).strip()


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


def _quarantine_reason(f: dict[str, Any]) -> str | None:
    if not f["source_url"]:
        return "no source URL"
    if not f["subject"] or not str(f["subject"]).strip():
        return "no subject"
    if not 0.0 <= float(f["confidence"]) <= 1.0:
        return f"confidence {f['confidence']} outside [0, 1]"
    if f["attribute"] == "price":
        if f["value_num"] is None or not f["value_num"] > 0:
            return f"price {f['value']!r} is not positive"
        if f["currency"] not in KNOWN_CURRENCIES:
            return f"unknown currency {f['currency']!r}"
    if f["attribute"] == "rating" and not 0 <= float(f["value_num"] or -1) <= 5:
        return f"rating {f['value']!r} outside 0..5"
    return None


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(FACTS_HAVE_SOURCES, asset="extracted_facts", blocking=True)],
)
def extracted_facts(
    context: dg.AssetExecutionContext,
    page_snapshots: pd.DataFrame,
    coordination: CoordinationResource,
    language: LanguageEngine,
    warehouse: Warehouse,
    faults: FaultInjection,
) -> pd.DataFrame:
    """Facts extractor agents found on the pages: products and prices (with currency and unit),
    features, ratings and reviews with their sentiment — each with its source URL, method and
    confidence.

    Structured data (JSON-LD, microdata) comes first, then the DOM, then the text; a second pass
    over each site finds prices mentioned in prose for products the first pass named. Facts that
    fail validation are quarantined with the reason (records in = accepted + quarantined), and
    every accepted fact is published on the bus (``facts.<crawl_id>``) with an idempotency key.
    """
    faults.inject(context, "extracted_facts")  # no-op unless fault injection is configured
    recorder = ActionRecorder(context.run_id, context.log.info)
    bus = coordination.bus()
    crawl_id = str(page_snapshots["crawl_id"].iloc[0]) if len(page_snapshots) else ""
    raw: list[dict[str, Any]] = []
    for site, pages in page_snapshots.groupby("site", sort=True):
        agent = Agent(
            name=f"extractor@{site.split('//')[-1]}",
            role="extractor",
            goal=f"Extract market facts from {site}",
            recorder=recorder,
        )
        with agent.step("extract_site"):
            first = {r.url: extract_page(r.html, r.url) for r in pages.itertuples()}
            known = sorted(
                {
                    f.subject
                    for p in first.values()
                    for f in p.facts
                    if f.kind == "product" and f.method != "text"
                }
            )
            for r in pages.itertuples():
                page = extract_page(r.html, r.url, known_products=known) if known else first[r.url]
                for f in page.facts:
                    raw.append(_fact_row(crawl_id, site, r, page, f))
        # Sentiment of each review, scored by the language engine (text is data, not orders).
        for row in raw:
            if row["site"] == site and row["attribute"] == REVIEW_TEXT:
                res = language.sentiment(str(row["value"]))
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
    accepted, quarantined = [], []
    for row in raw:
        reason = _quarantine_reason(row)
        (quarantined if reason else accepted).append({**row, "reason": reason})
    df = pd.DataFrame(accepted, columns=[*FACT_COLUMNS, "reason"]).drop(columns=["reason"])
    df = df.drop_duplicates("fact_id").reset_index(drop=True)
    df["extra"] = df["extra"].map(lambda e: json.dumps(e, default=str))
    qdf = pd.DataFrame(quarantined, columns=[*FACT_COLUMNS, "reason"])
    qdf["extra"] = qdf["extra"].map(lambda e: json.dumps(e, default=str))
    warehouse.write_table("fact_quarantine", qdf, schema=GROUP)
    bus.publish_many(
        [
            {
                "topic": f"facts.{crawl_id}",
                "key": r["site"],
                "payload": r,
                "message_id": r["fact_id"],
            }
            for r in df.to_dict("records")
        ]
    )
    pub = Agent(name="extractor", role="extractor", goal="publish facts", recorder=recorder)
    pub.record_message(f"facts.{crawl_id}", "*", {"facts": len(df)}, count=len(df))
    _persist_actions(warehouse, recorder)
    meta = dict(
        {
            "records_in": len(raw),
            "records_accepted": len(accepted),
            "records_quarantined": len(quarantined),
            "quarantine_reasons": dg.MetadataValue.json(
                qdf["reason"].value_counts().to_dict() if len(qdf) else {}
            ),
            "facts_by_attribute": dg.MetadataValue.json(df["attribute"].value_counts().to_dict()),
            "facts_by_method": dg.MetadataValue.json(df["method"].value_counts().to_dict()),
            "preview": _preview(
                df[df["attribute"] == "price"],
                ["site", "subject", "value", "currency", "method", "confidence", "source_url"],
            ),
            **_action_metadata(recorder),
        }
    )
    yield dg.Output(df, metadata=meta)
    yield validate(
        df,
        [
            expect("ExpectColumnValuesToNotBeNull", column="source_url"),
            expect("ExpectColumnValuesToNotBeNull", column="subject"),
            expect("ExpectColumnValuesToBeBetween", column="confidence", min_value=0, max_value=1),
            expect("ExpectColumnValuesToBeUnique", column="fact_id"),
        ],
        check_name=FACTS_HAVE_SOURCES,
    )


def _fact_row(crawl_id: str, site: str, r: Any, page: Any, f: Any) -> dict[str, Any]:
    value_num = float(f.value) if isinstance(f.value, int | float) else None
    return {
        "fact_id": _fact_id(
            crawl_id, f.source_url, f.kind, f.subject, f.attribute, f.value, f.currency
        ),
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


# ---------------------------------------------------------------------------------------------
SOURCE_KIND_BY_PAGE = {
    "product": "product_page",
    "pricing": "pricing_page",
    "listing": "listing",
    "blog": "blog",
    "reviews": "review",
    "features": "product_page",
    "home": "listing",
}


def _claims_for(group: pd.DataFrame) -> list[Claim]:
    claims = []
    for f in group.itertuples():
        published = None
        if isinstance(f.published, str) and f.published:
            try:
                published = datetime.fromisoformat(f.published)
                if published.tzinfo is None:
                    published = published.replace(tzinfo=UTC)
            except ValueError:
                published = None
        kind = (
            "structured"
            if f.method in ("jsonld", "microdata", "rdfa")
            else SOURCE_KIND_BY_PAGE.get(f.page_kind or "", "unknown")
        )
        if f.method == "text":
            kind = "blog" if f.page_kind == "blog" else "unknown"
        value: Any = (
            (round(float(f.value_num), 2), f.currency) if f.attribute == "price" else f.value
        )
        claims.append(
            Claim(
                value=value,
                source=f.source_url,
                source_kind=kind,
                agent="extractor",
                role="extractor",
                observed_at=published,
                confidence=float(f.confidence),
            )
        )
    return claims


@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(RESOLVED_PRICES_VALID, asset="resolved_facts", blocking=True)],
)
def resolved_facts(
    context: dg.AssetExecutionContext,
    extracted_facts: pd.DataFrame,
    coordination: CoordinationResource,
    warehouse: Warehouse,
    faults: FaultInjection,
) -> pd.DataFrame:
    """One value per product and attribute, decided by a resolver agent from conflicting claims.

    Price claims are weighed by source reliability, confidence and recency (a stale price in an
    old blog post loses to the product page); every decision is written to the shared context
    with compare-and-set and keeps its rationale. Decisions below the confidence threshold are
    escalated to the human review queue.
    """
    faults.inject(context, "resolved_facts")  # no-op unless fault injection is configured
    recorder = ActionRecorder(context.run_id, context.log.info)
    agent = Agent(
        name="resolver", role="resolver", goal="Reconcile conflicting facts", recorder=recorder
    )
    shared = coordination.context()
    resolver = ConflictResolver(strategy="reliability_recency", escalation_threshold=0.6)
    crawl_id = str(extracted_facts["crawl_id"].iloc[0]) if len(extracted_facts) else ""
    facts = extracted_facts.copy()
    facts["subject_key"] = facts["subject"].map(_norm)
    # A product is something a page offers for a price in structured data or the DOM; a name
    # seen only in prose is a claim about a product, never a product of its own.
    offered = set(
        facts.loc[
            (facts["attribute"] == "price") & (facts["method"] != "text"), ["site", "subject_key"]
        ].itertuples(index=False, name=None)
    )
    rows = []
    for (site, subject_key, attribute), group in facts.groupby(
        ["site", "subject_key", "attribute"], sort=True
    ):
        if (site, subject_key) not in offered:
            continue
        if attribute in ("feature", REVIEW_TEXT):
            continue  # set-valued: aggregated in the matrix, not a conflict
        claims = _claims_for(group)
        # Star displays round ratings to whole or half stars: within half a star, a rating
        # shown as stars restates the exact one rather than contradicting it.
        decision = resolver.resolve(claims, tolerance=0.5 if attribute == "rating" else None)
        subject = group.sort_values("confidence", ascending=False)["subject"].iloc[0]
        value = decision.value
        currency = None
        if attribute == "price":
            value, currency = decision.value
        unit = group["unit"].dropna().iloc[0] if group["unit"].notna().any() else None
        key = f"{site}|{subject_key}|{attribute}"
        _write_context(shared, f"market.{crawl_id}", key, value, currency, decision)
        agent.record_decision(
            f"resolve {attribute} of {subject}",
            value,
            inputs={"claims": len(claims), "strategy": decision.strategy},
            rationale=decision.rationale,
        )
        rows.append(
            {
                "crawl_id": crawl_id,
                "site": site,
                "subject": subject,
                "attribute": attribute,
                "value": str(value),
                "value_num": float(value) if attribute in ("price", "rating") else None,
                "currency": currency,
                "unit": unit,
                "confidence": float(decision.confidence),
                "strategy": decision.strategy,
                "rationale": decision.rationale,
                "escalated": bool(decision.escalated),
                "n_claims": len(claims),
                "n_values": len({json.dumps(c.value, default=str) for c in claims}),
                "sources": json.dumps(sorted({c.source for c in claims})),
            }
        )
    df = pd.DataFrame(rows)
    _persist_actions(warehouse, recorder)
    conflicts = df[df["n_values"] > 1] if len(df) else df
    meta = dict(
        {
            "facts_resolved": len(df),
            "conflicts": len(conflicts),
            "escalated": int(df["escalated"].sum()) if len(df) else 0,
            "conflict_decisions": _preview(
                conflicts, ["site", "subject", "attribute", "value", "confidence", "rationale"]
            ),
            **_action_metadata(recorder),
        }
    )
    yield dg.Output(df, metadata=meta)
    prices = (
        df[df["attribute"] == "price"]
        if len(df)
        else pd.DataFrame(columns=["value_num", "currency", "site", "subject"])
    )
    prices = prices.assign(product_key=prices["site"] + "|" + prices["subject"].map(_norm))
    yield validate(
        prices,
        [
            expect(
                "ExpectColumnValuesToBeBetween", column="value_num", min_value=0, strict_min=True
            ),
            expect("ExpectColumnValuesToBeInSet", column="currency", value_set=KNOWN_CURRENCIES),
            expect("ExpectColumnValuesToBeUnique", column="product_key"),
            expect("ExpectTableRowCountToBeBetween", min_value=1),
        ],
        check_name=RESOLVED_PRICES_VALID,
    )


def _write_context(
    shared: Any, namespace: str, key: str, value: Any, currency: Any, decision: Any
) -> None:
    """Compare-and-set the decision into the shared context (a no-op if it is unchanged)."""
    payload = {
        "value": value,
        "currency": currency,
        "strategy": decision.strategy,
        "rationale": decision.rationale,
    }
    for _ in range(10):
        current = shared.get(namespace, key)
        if current is not None and current.value == payload:
            return
        try:
            shared.put(
                namespace,
                key,
                payload,
                expected_version=current.version if current else None,
                source="resolver",
                agent="resolver",
                confidence=float(decision.confidence),
            )
            return
        except VersionConflict:
            continue
    raise RuntimeError(f"could not write {key} to the shared context after 10 attempts")


@dg.asset(group_name=GROUP, kinds={"python"})
def human_review_queue(resolved_facts: pd.DataFrame) -> pd.DataFrame:
    """Decisions the resolver was not confident about, waiting for a person to confirm."""
    if not len(resolved_facts):
        return resolved_facts
    return resolved_facts[resolved_facts["escalated"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python"},
    check_specs=[
        dg.AssetCheckSpec(MATRIX_NO_DUPLICATE_PRODUCTS, asset="competitor_matrix", blocking=True)
    ],
)
def competitor_matrix(
    context: dg.AssetExecutionContext,
    resolved_facts: pd.DataFrame,
    extracted_facts: pd.DataFrame,
    page_snapshots: pd.DataFrame,
    faults: FaultInjection,
) -> pd.DataFrame:
    """One row per competitor product: price, currency, rating, review sentiment and features."""
    faults.inject(context, "competitor_matrix")  # no-op unless fault injection is configured
    brands = _brands(page_snapshots)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in resolved_facts.itertuples():
        key = (r.site, _norm(r.subject))
        row = rows.setdefault(
            key, {"site": r.site, "brand": brands.get(r.site, r.site), "product": r.subject}
        )
        if r.attribute == "price":
            row.update(
                price=r.value_num, currency=r.currency, unit=r.unit, price_confidence=r.confidence
            )
        elif r.attribute == "rating":
            row["rating"] = r.value_num
    features: dict[tuple[str, str], set[str]] = defaultdict(set)
    sentiments: dict[tuple[str, str], list[float]] = defaultdict(list)
    for f in extracted_facts.itertuples():
        key = (f.site, _norm(f.subject))
        if key not in rows:
            continue
        if f.attribute == "feature":
            features[key].add(str(f.value).strip().lower())
        elif f.attribute == REVIEW_TEXT:
            s = json.loads(f.extra or "{}").get("sentiment")
            if s is not None:
                sentiments[key].append(float(s))
    all_features = sorted({x for s in features.values() for x in s})
    for key, row in rows.items():
        row["n_features"] = len(features[key])
        row["reviews"] = len(sentiments[key])
        row["sentiment"] = sum(sentiments[key]) / len(sentiments[key]) if sentiments[key] else None
        for feat in all_features:
            row[f"feature:{feat}"] = feat in features[key]
    df = pd.DataFrame(list(rows.values()))
    for col in ("price", "currency", "unit", "rating", "price_confidence"):
        if col not in df.columns:
            df[col] = None
    df = df.sort_values(["brand", "product"]).reset_index(drop=True)
    meta = dict(
        {
            "products": len(df),
            "competitors": int(df["site"].nunique()) if len(df) else 0,
            "features_tracked": len(all_features),
            "preview": _preview(
                df,
                ["brand", "product", "price", "currency", "rating", "sentiment", "n_features"],
                n=25,
            ),
        }
    )
    yield dg.Output(df, metadata=meta)
    dup = int(df.duplicated(["site", "product"]).sum()) if len(df) else 0
    yield dg.AssetCheckResult(
        check_name=MATRIX_NO_DUPLICATE_PRODUCTS,
        passed=dup == 0 and len(df) > 0,
        metadata={"duplicates": dup, "products": len(df)},
    )


def _brands(snapshots: pd.DataFrame) -> dict[str, str]:
    """A display name per site: the title segment shared by most of its pages' titles (sites
    put their name in every title: "Pricing | Acme", "Acme – Blog")."""
    out = {}
    for site, pages in snapshots.groupby("site"):
        counts: dict[str, int] = defaultdict(int)
        for title in pages["title"].dropna():
            for part in {
                p.strip() for p in re.split(r"\s*(?:\|+|::|–|—|·|»|:|\s-\s)\s*", str(title))
            }:
                if 1 < len(part) <= 40:
                    counts[part] += 1
        best = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])), default=None)
        out[site] = best[0] if best and best[1] >= 2 else site.split("//")[-1]
    return out


# ---------------------------------------------------------------------------------------------
@dg.asset(group_name=GROUP, kinds={"python", "html"})
def market_report(
    context: dg.AssetExecutionContext,
    competitor_matrix: pd.DataFrame,
    resolved_facts: pd.DataFrame,
    research_sources: pd.DataFrame,
    language: LanguageEngine,
    reports_dir: ReportsDir,
    faults: FaultInjection,
) -> dg.MaterializeResult:
    """The market report: Markdown and HTML with charts (price comparison, feature coverage,
    review sentiment), a summary written by the language engine, and every conflict decision
    with its rationale."""
    faults.inject(context, "market_report")  # no-op unless fault injection is configured
    crawl_id = str(research_sources["crawl_id"].iloc[0]) if len(research_sources) else "none"
    topic = str(research_sources["topic"].iloc[0]) if len(research_sources) else ""
    out = write_market_report(
        folder=reports_dir.folder("market_research", crawl_id),
        topic=topic,
        matrix=competitor_matrix,
        resolved=resolved_facts,
        language=language,
    )
    return dg.MaterializeResult(
        metadata={
            "report_html": dg.MetadataValue.path(str(out.html_path)),
            "report_markdown": dg.MetadataValue.path(str(out.markdown_path)),
            "summary": dg.MetadataValue.md(out.summary),
            "charts": len(out.charts),
            "price_chart": dg.MetadataValue.md(out.price_chart_md),
        }
    )


market_research_assets = [
    research_sources,
    discovered_pages,
    page_snapshots,
    extracted_facts,
    resolved_facts,
    human_review_queue,
    competitor_matrix,
    market_report,
]
