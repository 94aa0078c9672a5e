"""The canary: a small synthetic workflow that exercises the agent runtime end to end.

canary/pages → canary/facts → canary/fact_history

It fetches the home page of every configured source (through circuit breakers, switching from
the HTTP route to the browser when a source's HTTP route is failing), extracts facts and
appends them to a history table. It runs on a schedule as synthetic monitoring, and the soak
benchmark runs it many times under injected faults. Its checks are the consistency checks run
after every recovery: counts against upstream, no duplicate keys, references intact.
"""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import urlsplit

import dagster as dg
import pandas as pd

from orchestration_project.operations.healing import (
    ROUTE_SWITCH,
    SOURCE_SKIPPED,
    CircuitBreakers,
    OpsSettings,
    logical_root_run_id,
    record_op_event,
)
from orchestration_project.research.extraction import extract_page
from resources.coordination import CoordinationResource
from resources.faults import FaultInjection
from resources.fetching import BrowserFetcher, FetchResult, HttpFetcher
from resources.sources import MarketSources
from resources.warehouse import WAREHOUSE_POOL, Warehouse, report_side_table

GROUP = "canary"
JOB_NAME = "canary_job"
PAGES_COVER_SOURCES = "pages_account_for_every_source"
FACTS_MATCH_PAGES = "facts_match_upstream_pages"
HISTORY_NO_DUPLICATE_KEYS = "history_no_duplicate_keys"
HISTORY_REFERENCES_INTACT = "history_references_intact"
HISTORY_KEY = ["run_id", "url", "subject", "attribute", "value"]
FETCH_ATTEMPTS_KEY = dg.AssetKey([GROUP, "fetch_attempts"])
HISTORY_ROWS_KEY = dg.AssetKey([GROUP, "fact_history_rows"])
STEP_KEY = f"{GROUP}__pages"  # the pages step, as run metadata and alerts name it
# The fetching step retries transient faults itself before incident response sees a failure.
FETCH_RETRY = dg.RetryPolicy(
    max_retries=2, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


class SourceUnavailableError(RuntimeError):
    """One or more sources could not be fetched by any allowed route."""


def _breakers(coordination: CoordinationResource) -> CircuitBreakers:
    return CircuitBreakers(coordination.store())


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    kinds={"python", "playwright", "duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=FETCH_RETRY,
    check_specs=[dg.AssetCheckSpec(PAGES_COVER_SOURCES, asset=[GROUP, "pages"], blocking=True)],
)
def pages(
    context: dg.AssetExecutionContext,
    market_sources: MarketSources,
    http: HttpFetcher,
    browser: BrowserFetcher,
    coordination: CoordinationResource,
    warehouse: Warehouse,
    faults: FaultInjection,
):
    """The home page of every source, fetched through circuit breakers; every attempt lands
    in ``canary.fetch_attempts`` (route health and alerts read it).

    A source whose breaker is open is skipped (reported as degraded); a source whose HTTP route
    breaker is open is fetched with the browser instead. A source that fails by every allowed
    route fails the step with the network error, so the healer can retry it.
    """
    faults.inject(context, "canary/pages")
    breakers = _breakers(coordination)
    parallel = OpsSettings(coordination.store()).max_parallel(JOB_NAME, 4)
    http = http.tuned(coordination.store())  # a reviewed timeout recommendation, if applied
    plan: list[tuple[str, str, str]] = []  # (url, source, route)
    skipped: list[str] = []
    store = coordination.store()
    # What a silent remedy touched: this job, this step and both fetch routes.
    touched = {"job": JOB_NAME, "asset": STEP_KEY, "routes": ["http", "browser"]}
    for url in market_sources.seed_urls():
        source = urlsplit(url).netloc
        if not breakers.allow(f"source:{source}"):
            skipped.append(source)
            # A silent remedy: the run goes on without the source (an operational event that
            # can confirm an alert about this job, asset or the routes).
            record_op_event(
                store,
                SOURCE_SKIPPED,
                subject_kind="source",
                subject=source,
                run_id=context.run.run_id,
                # A skipped source fetched nothing: the routes were not touched.
                detail={"job": JOB_NAME, "asset": STEP_KEY, "breaker": f"source:{source}"},
            )
            continue
        route = "http" if breakers.allow(f"route:http:{source}") else "browser"
        if route == "browser":
            record_op_event(
                store,
                ROUTE_SWITCH,
                subject_kind="source",
                subject=source,
                run_id=context.run.run_id,
                detail={**touched, "to": "browser", "breaker": f"route:http:{source}"},
            )
        plan.append((url, source, route))

    http_urls = [u for u, _, r in plan if r == "http"]
    browser_urls = [u for u, _, r in plan if r == "browser"]
    results: dict[str, FetchResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        for res in pool.map(http.fetch, http_urls):
            results[res.url] = res
    if browser_urls:
        for res in browser.fetch_many(browser_urls):
            results[res.url] = res

    rows, failures, attempts = [], [], []
    now = datetime.now(UTC)
    for url, source, route in plan:
        res = results[url]
        attempts.append(
            {
                "crawl_id": context.run.run_id,
                "url": url,
                "site": source,
                "route": route,
                "outcome": res.outcome,
                "status": res.status,
                "size_bytes": res.size_bytes,
                "latency_s": round(res.elapsed_s, 4),
                "error": res.error,
                "attempted_at": now,
            }
        )
        if res.ok:
            breakers.record_success(f"source:{source}")
            if route == "http":
                breakers.record_success(f"route:http:{source}")
        else:
            why = f"{source} by {route}: {res.outcome} {res.status or ''} {res.error or ''}".strip()
            failures.append(why)
            # A refused connection or timeout means the source is down; an HTTP error on the
            # HTTP route may be that route alone (bot blocking), which the browser can pass.
            if route == "http" and res.outcome == "http_error":
                breakers.record_failure(f"route:http:{source}", why)
                breakers.record_success(f"source:{source}")  # it answered: the source is up
            else:
                breakers.record_failure(f"source:{source}", why)
        rows.append(
            {
                "url": url,
                "source": source,
                "route": route,
                "outcome": res.outcome,
                "status": res.status,
                "elapsed_s": round(res.elapsed_s, 3),
                "html": res.html or "",
            }
        )
    if attempts:  # every attempt, failed ones included, feeds route health and alerts
        frame = pd.DataFrame(attempts).astype({"status": "Int64", "error": "string"})
        warehouse.upsert_rows(
            "fetch_attempts", frame, key="crawl_id", keys=[context.run.run_id], schema=GROUP
        )
        report_side_table(context, warehouse, FETCH_ATTEMPTS_KEY, frame, schema=GROUP)
    if failures:
        raise SourceUnavailableError(
            f"{len(failures)} of {len(plan)} source(s) failed: " + "; ".join(failures)
        )
    df = pd.DataFrame(
        rows, columns=["url", "source", "route", "outcome", "status", "elapsed_s", "html"]
    )
    yield dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "skipped_sources": dg.MetadataValue.json(skipped),
            "routes": dg.MetadataValue.json(df["route"].value_counts().to_dict()),
            "max_parallel": parallel,
        },
    )
    accounted = len(df) + len(skipped)
    yield dg.AssetCheckResult(
        check_name=PAGES_COVER_SOURCES,
        passed=accounted == len(market_sources.seed_urls()) and len(df) > 0,
        metadata={"fetched": len(df), "skipped": len(skipped)},
        description="every source is either fetched or skipped by its open breaker",
    )


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    ins={"pages": dg.AssetIn(key=[GROUP, "pages"])},
    check_specs=[dg.AssetCheckSpec(FACTS_MATCH_PAGES, asset=[GROUP, "facts"], blocking=True)],
)
def facts(context: dg.AssetExecutionContext, pages: pd.DataFrame, faults: FaultInjection):
    """Facts extracted from the canary pages (generic extraction, no site-specific code)."""
    faults.inject(context, "canary/facts")
    rows = []
    empty = 0
    for page in pages.itertuples():
        ext = extract_page(str(page.html or ""), str(page.url))
        found = [
            {
                "url": page.url,
                "source": page.source,
                "subject": f.subject,
                "attribute": f.attribute,
                "value": str(f.value),
            }
            for f in ext.facts
        ]
        empty += not found
        rows.extend(found)
    df = pd.DataFrame(rows, columns=["url", "source", "subject", "attribute", "value"])
    df = df.drop_duplicates(ignore_index=True)
    passed, meta = facts_consistency(df, pages, empty=empty)
    yield dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "pages_with_facts": meta["with_facts"],
            "pages_empty": empty,
        },
    )
    yield dg.AssetCheckResult(
        check_name=FACTS_MATCH_PAGES,
        passed=passed,
        metadata=meta,
        description="pages in = pages with facts + pages without; no fact from an unknown page",
    )


@dg.asset(
    key_prefix=[GROUP],
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    ins={"facts": dg.AssetIn(key=[GROUP, "facts"]), "pages": dg.AssetIn(key=[GROUP, "pages"])},
    check_specs=[
        dg.AssetCheckSpec(HISTORY_NO_DUPLICATE_KEYS, asset=[GROUP, "fact_history"], blocking=True),
        dg.AssetCheckSpec(HISTORY_REFERENCES_INTACT, asset=[GROUP, "fact_history"], blocking=True),
    ],
)
def fact_history(
    context: dg.AssetExecutionContext,
    facts: pd.DataFrame,
    pages: pd.DataFrame,
    warehouse: Warehouse,
    faults: FaultInjection,
):
    """Every canary run's facts, appended to ``canary.fact_history_rows`` keyed by run.

    The run's rows replace any earlier rows of the same root run, so a re-execution after a
    failure never duplicates them.
    """
    faults.inject(context, "canary/fact_history")
    root = logical_root_run_id(context.run)
    rows = facts.assign(run_id=root)[HISTORY_KEY + ["source"]]
    warehouse.upsert_rows("fact_history_rows", rows, key="run_id", keys=[root], schema=GROUP)
    report_side_table(context, warehouse, HISTORY_ROWS_KEY, rows, schema=GROUP)
    history = (
        warehouse.read_table("fact_history_rows", schema=GROUP)
        if warehouse.table_exists("fact_history_rows", schema=GROUP)
        else rows.iloc[0:0]
    )
    mine = history[history["run_id"] == root]
    (keys_ok, keys_meta), (refs_ok, refs_meta) = history_consistency(mine, rows, pages)
    dupes, orphans = keys_meta["duplicates"], refs_meta["orphan_urls"]
    summary = pd.DataFrame(
        [{"run_id": root, "rows": len(mine), "duplicates": dupes, "orphans": len(orphans)}]
    )
    yield dg.Output(summary, metadata={"row_count": len(mine), "run_id": root})
    yield dg.AssetCheckResult(
        check_name=HISTORY_NO_DUPLICATE_KEYS,
        asset_key=dg.AssetKey([GROUP, "fact_history"]),
        passed=keys_ok,
        metadata=keys_meta,
        description="the run's history rows equal its facts, with no duplicate key",
    )
    yield dg.AssetCheckResult(
        check_name=HISTORY_REFERENCES_INTACT,
        asset_key=dg.AssetKey([GROUP, "fact_history"]),
        passed=refs_ok,
        metadata={"orphan_urls": dg.MetadataValue.json(orphans[:20])},
        description="every stored fact references a page of this run",
    )


def facts_consistency(
    facts_df: pd.DataFrame, pages_df: pd.DataFrame, *, empty: int
) -> tuple[bool, dict[str, int]]:
    """The ``facts_match_upstream_pages`` check: every upstream page is accounted for (pages in
    = pages with facts + pages without) and no fact names a page that was not fetched."""
    with_facts = int(facts_df["url"].nunique()) if len(facts_df) else 0
    foreign = set(facts_df["url"]) - set(pages_df["url"]) if len(facts_df) else set()
    passed = with_facts + empty == len(pages_df) and not foreign
    return passed, {
        "pages_in": len(pages_df),
        "with_facts": with_facts,
        "empty": empty,
        "foreign_pages": len(foreign),
    }


def history_consistency(
    stored: pd.DataFrame, expected: pd.DataFrame, pages_df: pd.DataFrame
) -> tuple[tuple[bool, dict[str, int]], tuple[bool, dict[str, list[str]]]]:
    """The two ``fact_history`` checks on one run's stored rows: no duplicate key and exactly
    the rows the run produced (counts against upstream); every row references a page of the
    run (references intact)."""
    dupes = int(stored.duplicated(subset=HISTORY_KEY).sum())
    orphans = sorted(set(stored["url"]) - set(pages_df["url"]))
    keys = (
        dupes == 0 and len(stored) == len(expected),
        {"rows": len(stored), "duplicates": dupes, "expected": len(expected)},
    )
    return keys, (not orphans, {"orphan_urls": orphans})


fetch_attempts = dg.AssetSpec(
    FETCH_ATTEMPTS_KEY,
    group_name=GROUP,
    deps=[pages],
    kinds={"duckdb"},
    description="Every fetch attempt of every canary run (failed ones included): source, "
    "route, outcome, status, latency. Route health and alerts read it.",
)
fact_history_rows = dg.AssetSpec(
    HISTORY_ROWS_KEY,
    group_name=GROUP,
    deps=[fact_history],
    kinds={"duckdb"},
    description="The canary's facts of every run, keyed by the run's root run id, so that a "
    "re-execution replaces its rows instead of duplicating them.",
)

canary_assets = [pages, facts, fact_history, fetch_attempts, fact_history_rows]
