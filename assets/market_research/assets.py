"""Market research: agents crawl competitor sites, extract and reconcile facts, write a report.

research_sources → discovered_pages → page_snapshots → extracted_facts → resolved_facts →
competitor_matrix → market_report (and human_review_queue for low-confidence decisions).

Each asset's body runs an agent (a role with tools and a policy); the agents' actions land in
the warehouse table ``market_research.agent_actions`` (an asset of its own, fed by the agents'
steps) and summarise into asset metadata. The fetch history (``fetch_attempts``) and the rejected
facts (``fact_quarantine``) are outputs of the steps that produce them. Every table lives in
schema ``market_research``. Quality checks (Great Expectations) sit beside the asset they guard;
blocking ones stop bad data from flowing downstream.

Over 500 lines on purpose: eleven assets with their checks and UI metadata, read top to bottom
as the group's lineage; every body only wires (the logic is in ``orchestration_project.research``).
"""

import hashlib
import json
import time
import warnings
from typing import Any, ClassVar

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field

from orchestration_project.agents.planning import plan_market_research
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.common.quality import expectation as expect
from orchestration_project.common.quality import validate
from orchestration_project.evolution.compat import RenamedFields, old_name
from orchestration_project.evolution.rollout import (
    OBSERVATIONS_SCHEMA,
    OBSERVATIONS_TABLE,
    rollout_observation_rows,
)
from orchestration_project.operations.healing import (
    QUARANTINE_SPIKE,
    OpsSettings,
    logical_root_run_id,
    record_op_event,
)
from orchestration_project.optimization.route_model import MODEL_NAME as ROUTE_MODEL
from orchestration_project.optimization.route_model import model_prior
from orchestration_project.research.crawler import (
    crawl_pages,
    crawled_pages,
    ensure_crawl_tables,
    fetch_attempts,
    run_crawl,
)
from orchestration_project.research.fact_rows import publish_facts
from orchestration_project.research.matrix import (
    build_competitor_matrix,
    duplicate_products,
    site_brands,
)
from orchestration_project.research.quarantine import KNOWN_CURRENCIES, quarantine_facts
from orchestration_project.research.reporting import write_market_report
from orchestration_project.research.resolution import (
    conflicting_decisions,
    price_check_frame,
    resolve_facts,
)
from orchestration_project.research.rule_sets import (
    DEFAULT_RULE_SET,
    EXTRACTION_RULE_SET,
    extract_facts_by_rule_set,
    load_rule_set,
)
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.faults import FaultInjection
from resources.fetching import BrowserFetcher, HttpFetcher
from resources.language import LanguageEngine
from resources.rollout import RolloutStates
from resources.routing import RoutingResource
from resources.sources import MarketSources
from resources.tracking import MlflowTracking
from resources.warehouse import (
    WAREHOUSE_POOL,
    Warehouse,
    in_schema,
    partitioned_by,
    report_side_table,
)

# Single-run backfills of partitioned assets are "beta" in Dagster 1.13; they are what keeps a
# full refresh one run (see SOURCES below).
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)

GROUP = "market_research"
# Fetching steps retry transient faults themselves (exponential backoff with jitter) before a
# failure reaches incident response.
FETCH_RETRY = dg.RetryPolicy(
    max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
# Check names are module constants (they appear in the UI and in tests).
SOURCES_NOT_EMPTY = "sources_not_empty"
PAGES_REACHED_EVERY_SITE = "pages_reached_every_site"
SNAPSHOTS_UNIQUE_URLS = "snapshots_unique_urls"
FACTS_HAVE_SOURCES = "facts_have_sources"
RESOLVED_PRICES_VALID = "resolved_prices_valid"
MATRIX_NO_DUPLICATE_PRODUCTS = "matrix_no_duplicate_products"
# Tables written beside the main chain.
AGENT_ACTIONS = "agent_actions"
FETCH_ATTEMPTS = "fetch_attempts"
FACT_QUARANTINE = "fact_quarantine"
TABLE = in_schema(GROUP)  # every table of the group lives in schema market_research

# One partition per competitor site (dynamic: the sources sensor and schedule register them
# from the market_sources resource). Crawl, capture and extraction are per site, so a user sees
# each site's state and re-runs one site alone; a full refresh is still ONE run over every site
# (single-run backfill policy), so the crawl keeps fetching sites in parallel threads instead of
# paying a step, or a process, per site.
SOURCES = dg.DynamicPartitionsDefinition(name="research_site")
PER_SITE: dict[str, Any] = {
    "partitions_def": SOURCES,
    "backfill_policy": dg.BackfillPolicy.single_run(),
}
SITE_TABLE = {**TABLE, **partitioned_by("site")}  # a site's partition = its rows


def _site_table(description: str, *more_kinds: str) -> dg.AssetOut:
    """An output of a per-site step: a table in schema market_research, partitioned by site."""
    return dg.AssetOut(
        kinds={"python", "duckdb", *more_kinds}, metadata=SITE_TABLE, description=description
    )


class ResearchConfig(RenamedFields, dg.Config):
    """What to research and how much of it; empty values take the market_sources resource's.

    ``topic`` (release 0.1.0) was renamed ``market_topic``, the name the ``market_sources``
    resource uses; run configs that still say ``topic`` load with a deprecation warning."""

    renamed_fields: ClassVar[dict[str, str]] = {"topic": "market_topic"}

    market_topic: str = Field(
        default="", description="Market topic; empty: the sources resource's."
    )
    seed_urls: list[str] = Field(default=[], description="Seeds; empty: the sources resource's.")
    max_pages_per_site: int = Field(default=40, description="Page budget per competitor site.")
    max_depth: int = Field(default=3, description="Link depth budget from the seeds.")
    crawl_id: str = Field(
        default="",
        description="Resume or reuse this crawl; empty: the run's root run id, so a "
        "re-execution of a failed run resumes its crawl instead of starting again.",
    )
    topic: str | None = old_name("market_topic")


def _crawl_id(context: dg.AssetExecutionContext, configured: str) -> str:
    if configured:
        return configured
    return logical_root_run_id(context.run)


def _crawl_of_this_run(context: dg.AssetExecutionContext, planned: str) -> str:
    """The crawl to run or resume: the plan's when the plan was made by this run (or the run it
    recovers) or names a crawl explicitly; a later run of some sources alone (a per-source
    re-run) crawls them afresh under its own root."""
    root = logical_root_run_id(context.run)
    if not planned or planned == root or context.instance.get_run_by_id(planned) is None:
        return planned or root
    return root


def _persist_actions(
    context: dg.AssetExecutionContext, warehouse: Warehouse, recorder: ActionRecorder
) -> None:
    """Append the step's agent actions to ``market_research.agent_actions`` and report the
    table's new state as a materialization of the ``agent_actions`` asset."""
    df = recorder.to_frame()
    if df.empty:
        return
    warehouse.write_table(AGENT_ACTIONS, df, schema=GROUP, mode="append")
    # by_step: which agent step wrote these rows
    report_side_table(context, warehouse, AGENT_ACTIONS, df, schema=GROUP, by_step=context.op.name)


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
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(SOURCES_NOT_EMPTY, asset="research_sources", blocking=True)],
)
def research_sources(
    context: dg.AssetExecutionContext, config: ResearchConfig, market_sources: MarketSources
) -> pd.DataFrame:
    """The research goal and its plan: topic, seed sites, budgets and the crawl id.

    A planner agent decomposes the goal into one crawl-and-extract branch per competitor site
    plus the aggregation chain; the plan is shown as a graph in the metadata.
    """
    topic = config.market_topic or market_sources.topic()
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


def _route_prior(tracking: MlflowTracking, context: dg.AssetExecutionContext) -> Any:
    """The bandit's prior from ``route_success@champion``, loaded once for this run; None (the
    rule's priors) with a logged warning when the registry or the model cannot be loaded."""
    if not tracking.has_store():
        context.log.info("no model registry yet: the fetch router starts from the rule's priors")
        return None
    try:
        model, model_config = tracking.load_sklearn_model(ROUTE_MODEL)
    except Exception as exc:  # registry down, no champion, or a model that will not load
        context.log.warning(
            f"{ROUTE_MODEL}@champion unavailable ({type(exc).__name__}: {str(exc)[:200]}); "
            "the fetch router falls back to the rule's priors"
        )
        return None
    version = tracking.alias_version(ROUTE_MODEL, "champion")
    label = f"{ROUTE_MODEL}/v{version}" if version else f"{ROUTE_MODEL}@champion"
    context.log.info(f"fetch router prior: {label}")
    prior = model_prior(model, model_config.get("histories"))
    prior.label = label  # type: ignore[attr-defined]  # named in every routing decision
    return prior


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python", "playwright", "duckdb"},
    metadata=SITE_TABLE,
    pool=WAREHOUSE_POOL,
    retry_policy=FETCH_RETRY,
    **PER_SITE,
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
    routing: RoutingResource,
    tracking: MlflowTracking,
) -> pd.DataFrame:
    """Every page the crawler agents visited or refused, per site.

    Link following stays within each site; robots.txt is respected; links are ranked by
    relevance to the topic and fetched best-first within the page and depth budgets. Each page
    is fetched by a routed fetch (plain HTTP, or Chromium when the page needs JavaScript; with
    the default ``routing`` resource a bandit per site also moves pages off a route that starts
    failing and retries a page whose route refused it in the other one), and every attempt is
    recorded with the router's version and evidence. Refused links (other schemes, private or
    metadata addresses, hosts off the allow-list, robots.txt) are kept with the reason. The crawl is resumable: a
    killed run re-executed from failure continues where it stopped.
    """
    faults.inject(context, "discovered_pages")  # no-op unless fault injection is configured
    recorder = ActionRecorder(context.run_id, context.log.info)
    research_sources = research_sources[research_sources["site"].isin(context.partition_keys)]
    topic = str(research_sources["topic"].iloc[0]) if len(research_sources) else ""
    planned = str(research_sources["crawl_id"].iloc[0]) if len(research_sources) else ""
    crawl_id = _crawl_of_this_run(context, planned)
    t0 = time.perf_counter()
    seeds = [u for s in research_sources["seeds"] for u in json.loads(s)]
    crawls = run_crawl(
        crawl_id=crawl_id,
        seeds=seeds,
        topic=topic,
        store=coordination.store(),
        http=http.tuned(coordination.store()),  # a reviewed timeout recommendation, if applied
        browser=browser,
        router=routing.router(coordination.store(), prior_fn=_route_prior(tracking, context)),
        recorder=recorder,
        max_pages=int(research_sources["max_pages"].max()) if len(research_sources) else 0,
        max_depth=int(research_sources["max_depth"].max()) if len(research_sources) else 0,
        # Sites crawled at once: 3, unless the healer lowered it after resource exhaustion.
        parallel_sites=OpsSettings(coordination.store()).max_parallel(context.job_name, 3),
        mcp=routing.mcp,  # the third route, when FETCH_ROUTES includes mcp
    )
    df = crawled_pages(coordination.store(), crawl_id)
    df = df[df["site"].isin(context.partition_keys)].reset_index(drop=True)
    _persist_actions(context, warehouse, recorder)
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
            "pages_by_site": dg.MetadataValue.json({str(k): int(v) for k, v in per_site.items()}),
            # Budgets: dead links have their own budget; pagination does not deepen the crawl.
            "dead_links": sum(c.dead_links for c in crawls.values()),
            "pagination_pages": sum(c.pagination_pages for c in crawls.values()),
            "stopped_by": dg.MetadataValue.json({s: c.stopped_by for s, c in crawls.items()}),
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
@dg.multi_asset(
    group_name=GROUP,
    outs={
        "page_snapshots": _site_table(
            "The captured content of every page fetched successfully, one row per "
            "distinct page: route (HTTP or the browser), size, latency and content hash; pages "
            "with identical content (``/`` and ``/index.html``) are kept once.",
        ),
        FETCH_ATTEMPTS: _site_table(
            "Every fetch attempt of every crawl, failed ones included: URL, route, "
            "outcome, status, latency. The router's history and the route learner's training "
            "data.",
        ),
    },
    pool=WAREHOUSE_POOL,
    **PER_SITE,
    check_specs=[dg.AssetCheckSpec(SNAPSHOTS_UNIQUE_URLS, asset="page_snapshots", blocking=True)],
)
def page_snapshots(
    context: dg.AssetExecutionContext,
    discovered_pages: pd.DataFrame,
    coordination: CoordinationResource,
    faults: FaultInjection,
):
    """The captured content of every page fetched successfully, and the history of every fetch
    attempt (``fetch_attempts``)."""
    faults.inject(context, "page_snapshots")  # no-op unless fault injection is configured
    store = coordination.store()
    ensure_crawl_tables(store)
    sites = list(context.partition_keys)
    crawl_id = str(discovered_pages["crawl_id"].iloc[0]) if len(discovered_pages) else ""
    with store.engine.connect() as conn:
        pages = pd.read_sql(
            sa.select(crawl_pages).where(
                crawl_pages.c.crawl_id == crawl_id,
                crawl_pages.c.outcome == "ok",
                crawl_pages.c.site.in_(sites),
            ),
            conn,
        )
        # Every attempt ever made on these sites: the route learner's history.
        attempts = pd.read_sql(
            sa.select(fetch_attempts).where(fetch_attempts.c.site.in_(sites)), conn
        )
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
    yield dg.Output(df, output_name="page_snapshots", metadata=meta)
    yield dg.Output(
        attempts,
        output_name=FETCH_ATTEMPTS,
        metadata={
            "this_crawl": len(this),
            "by_outcome": dg.MetadataValue.json(this["outcome"].value_counts().to_dict()),
        },
    )
    dupes = int(df["url"].duplicated().sum())
    yield dg.AssetCheckResult(
        check_name=SNAPSHOTS_UNIQUE_URLS, passed=dupes == 0, metadata={"duplicate_urls": dupes}
    )


# ---------------------------------------------------------------------------------------------
@dg.multi_asset(
    group_name=GROUP,
    outs={
        "extracted_facts": _site_table(
            "Facts the extractor agents found on the pages (products, prices with "
            "currency and unit, features, ratings, reviews with sentiment), each with its "
            "source URL, method and confidence.",
            "great_expectations",
        ),
        FACT_QUARANTINE: _site_table(
            "Extracted facts that failed validation, each with the reason "
            "(records in = accepted + quarantined).",
        ),
    },
    pool=WAREHOUSE_POOL,
    **PER_SITE,
    check_specs=[dg.AssetCheckSpec(FACTS_HAVE_SOURCES, asset="extracted_facts", blocking=True)],
)
def extracted_facts(
    context: dg.AssetExecutionContext,
    page_snapshots: pd.DataFrame,
    coordination: CoordinationResource,
    language: LanguageEngine,
    warehouse: Warehouse,
    faults: FaultInjection,
):
    """Facts extractor agents found on the pages: products and prices (with currency and unit),
    features, ratings and reviews with their sentiment — each with its source URL, method and
    confidence.

    Structured data (JSON-LD, microdata) comes first, then the DOM, then the text; a second pass
    over each site finds prices mentioned in prose for products the first pass named. Facts that
    fail validation are quarantined with the reason (records in = accepted + quarantined), and
    every accepted fact is published on the bus (``facts.<crawl_id>``) with an idempotency key.

    Which facts a page keeps is its extraction rule set's (``rule_set`` column): the current
    one, or — while a rollout of a new rule set runs — the candidate on the rollout's canary
    share of the pages; each page is then measured as a rollout unit (reported to the evolution
    group's ``rollout_observations``).
    """
    faults.inject(context, "extracted_facts")  # no-op unless fault injection is configured
    recorder = ActionRecorder(context.run_id, context.log.info)
    crawl_id = str(page_snapshots["crawl_id"].iloc[0]) if len(page_snapshots) else ""
    rollouts = RolloutStates.of(coordination)
    rollout = rollouts.active(EXTRACTION_RULE_SET)
    current = rollouts.current_version(EXTRACTION_RULE_SET, DEFAULT_RULE_SET)

    def assign(url: str) -> tuple[str, str]:
        return rollout.assign(url) if rollout is not None else ("current", current)

    versions = {current}
    if rollout is not None:
        versions |= {rollout.spec.current_version, rollout.spec.candidate_version}
    rule_sets = {v: load_rule_set(v) for v in versions}
    extraction = extract_facts_by_rule_set(
        page_snapshots,
        crawl_id=crawl_id,
        language=language,
        recorder=recorder,
        rule_set_for=lambda url: rule_sets[assign(url)[1]],
    )
    raw = extraction.rows
    outcome = quarantine_facts(raw)
    df = outcome.accepted
    df["rule_set"] = df["fact_id"].map({r["fact_id"]: r["rule_set"] for r in raw})
    publish_facts(coordination.bus(), crawl_id, df, recorder=recorder)
    _persist_actions(context, warehouse, recorder)
    meta = dict(
        {
            "records_in": outcome.records_in,
            "records_accepted": outcome.records_accepted,
            "records_quarantined": outcome.records_quarantined,
            "quarantine_reasons": dg.MetadataValue.json(outcome.reason_counts()),
            "facts_by_attribute": dg.MetadataValue.json(df["attribute"].value_counts().to_dict()),
            "facts_by_method": dg.MetadataValue.json(df["method"].value_counts().to_dict()),
            "facts_by_rule_set": dg.MetadataValue.json(df["rule_set"].value_counts().to_dict()),
            "preview": _preview(
                df[df["attribute"] == "price"],
                ["site", "subject", "value", "currency", "method", "confidence", "source_url"],
            ),
            **_action_metadata(recorder),
        }
    )
    if outcome.is_spike():
        # The run goes on with the good rows: a silent remedy, recorded so that an alert about
        # this step's quality or latency can be confirmed by it.
        record_op_event(
            coordination.store(),
            QUARANTINE_SPIKE,
            subject_kind="asset",
            subject="extracted_facts",
            run_id=context.run_id,
            detail={
                "job": context.job_name,
                "asset": "extracted_facts",
                "crawl_id": crawl_id,
                "site": context.partition_key if context.has_partition_key else None,
                "records_in": outcome.records_in,
                "records_quarantined": outcome.records_quarantined,
                "reasons": outcome.reason_counts(),
            },
        )
    yield dg.Output(df, output_name="extracted_facts", metadata=meta)
    yield dg.Output(
        outcome.quarantined,
        output_name=FACT_QUARANTINE,
        metadata={"reasons": dg.MetadataValue.json(outcome.reason_counts())},
    )
    if rollout is not None:
        # Each page is a unit of the rollout: what it gave under its arm's rule set goes to
        # the rollout's observations (one row per rollout and page, the latest), which
        # rollout_decisions judges the stage on.
        obs = rollout_observation_rows(extraction.observations, rollout, run_id=context.run_id)
        warehouse.upsert_rows(
            OBSERVATIONS_TABLE,
            obs,
            key="observation_key",
            keys=list(obs["observation_key"]),
            schema=OBSERVATIONS_SCHEMA,
        )
        report_side_table(
            context,
            warehouse,
            OBSERVATIONS_TABLE,
            obs,
            schema=OBSERVATIONS_SCHEMA,
            rollout_id=rollout.rollout_id,
            stage_percent=rollout.percent,
            units_by_arm=dg.MetadataValue.json(obs["arm"].value_counts().to_dict()),
        )
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


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb", "great_expectations"},
    metadata=TABLE,
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
    df = resolve_facts(extracted_facts, shared=coordination.context(), recorder=recorder)
    _persist_actions(context, warehouse, recorder)
    conflicts = conflicting_decisions(df)
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
    yield validate(
        price_check_frame(df),
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


@dg.asset(group_name=GROUP, kinds={"python", "duckdb"}, metadata=TABLE, pool=WAREHOUSE_POOL)
def human_review_queue(resolved_facts: pd.DataFrame) -> pd.DataFrame:
    """Decisions the resolver was not confident about, waiting for a person to confirm: price
    and rating conflicts, and uncertain product identities (attribute ``identity``)."""
    if not len(resolved_facts):
        return resolved_facts
    return resolved_facts[resolved_facts["escalated"]].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
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
    """One row per competitor product, priced or not: price and its kind (fixed, free, from,
    tiered, contact, none), currency, rating, review sentiment and features."""
    faults.inject(context, "competitor_matrix")  # no-op unless fault injection is configured
    matrix = build_competitor_matrix(resolved_facts, extracted_facts, site_brands(page_snapshots))
    df = matrix.frame
    meta = dict(
        {
            "products": len(df),
            "competitors": int(df["site"].nunique()) if len(df) else 0,
            "features_tracked": len(matrix.features),
            "unpriced_products": int((~df["price_kind"].isin(["fixed", "from", "tiered"])).sum())
            if len(df)
            else 0,
            "preview": _preview(
                df,
                ["brand", "product", "price", "price_kind", "currency", "rating", "n_features"],
                n=25,
            ),
        }
    )
    yield dg.Output(df, metadata=meta)
    dup = duplicate_products(df)
    yield dg.AssetCheckResult(
        check_name=MATRIX_NO_DUPLICATE_PRODUCTS,
        passed=dup == 0 and len(df) > 0,
        metadata={"duplicates": dup, "products": len(df)},
    )


# ---------------------------------------------------------------------------------------------
@dg.asset(group_name=GROUP, kinds={"python", "html", "duckdb"}, pool=WAREHOUSE_POOL)
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


agent_actions = dg.AssetSpec(
    AGENT_ACTIONS,
    group_name=GROUP,
    deps=[discovered_pages, "extracted_facts", resolved_facts],
    kinds={"duckdb"},
    metadata=TABLE,
    description="Every action of the market-research agents (tool calls with inputs, outputs, "
    "latency and cost; decisions with their rationale; messages), appended by the steps whose "
    "agents acted. Consolidated with every domain's actions into operations/agent_actions.",
)

market_research_assets = [
    agent_actions,
    research_sources,
    discovered_pages,
    page_snapshots,
    extracted_facts,
    resolved_facts,
    human_review_queue,
    competitor_matrix,
    market_report,
]
