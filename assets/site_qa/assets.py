"""The site QA group: scripted user journeys run through the Playwright MCP server's browser
tools on the sites → one row per journey run (status, duration, findings) with an asset check
per journey → every finding (broken links, console errors, failed requests, slow pages,
accessibility changes against the last good snapshot).

A failed journey is a failed, non-blocking check of a run that succeeded: the operations
domain's ``remedy_sensor`` (``Healer.scan_checks``) opens an ``asset_check`` incident for it by
itself, and closes it when the journey passes again.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.demo_world import QA_JOURNEYS_PATH
from orchestration_project.demo_world.data import SITES
from orchestration_project.evolution.compat import RenamedFields
from orchestration_project.site_qa.journeys import Journey, load_journeys
from orchestration_project.site_qa.links import HttpLinkChecker, Policy
from orchestration_project.site_qa.runner import COUNTED, JourneyResult, JourneyRunner
from orchestration_project.site_qa.tables import (
    baseline_rows,
    baselines_from,
    findings_frame,
    journeys_frame,
    markdown_table,
)
from resources.playwright_mcp import PlaywrightMcp, caller_for
from resources.sources import DemoWorldSources, MarketSources
from resources.url_policy import BlockedUrlError
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema, report_side_table

GROUP = "site_qa"
JOURNEYS_ASSET = "site_qa_journeys"
FINDINGS_ASSET = "site_qa_findings"
BASELINES = "site_qa_baselines"  # side table: the last good accessibility tree of each page
ACTIONS = "agent_actions"  # every tool call, appended; operations consolidates it
TABLE = in_schema(GROUP)
# The demo world's journeys (journeys name their sites, so they live beside them).
JOURNEYS: list[Journey] = load_journeys(QA_JOURNEYS_PATH, sites={s.slug for s in SITES})


def check_name(journey: str) -> str:
    """The asset check of a journey: ``journey_<name>``."""
    return f"journey_{journey}"


class SiteQaConfig(RenamedFields, dg.Config):
    """How the journeys run (which ones: the checks selected; all by default)."""

    slow_page_ms: float = Field(
        default=3000.0, description="A step that loads a page for longer than this is slow."
    )
    check_links: bool = Field(default=True, description="Check the links of visited pages.")
    link_timeout_s: float = Field(default=3.0, description="Time allowed per link check.")
    site_urls: dict[str, str] = Field(
        default={},
        description="Site slug -> base URL; empty: the demo world's sites (market_sources).",
    )


def _sites(config: SiteQaConfig, sources: MarketSources) -> dict[str, str]:
    if config.site_urls:
        return dict(config.site_urls)
    if isinstance(sources, DemoWorldSources):
        return {site.slug: url for site, url in zip(SITES, sources.site_urls(), strict=True)}
    raise dg.Failure("site_qa needs site_urls in its config outside the demo world")


def _policy(mcp: PlaywrightMcp) -> Policy:
    """The resource's URL policy as a function: why a URL is refused, or None."""
    policy = mcp.policy()

    def check(url: str) -> str | None:
        try:
            policy.check(url)
        except BlockedUrlError as exc:
            return str(exc)
        return None

    return check


def _selected(context: dg.AssetExecutionContext) -> list[Journey]:
    """The journeys whose checks this run evaluates (all when no check is selected)."""
    names = {k.name for k in context.selected_asset_check_keys}
    chosen = [j for j in JOURNEYS if check_name(j.name) in names]
    return chosen or list(JOURNEYS)


def _run_journeys(
    context: dg.AssetExecutionContext,
    journeys: list[Journey],
    *,
    config: SiteQaConfig,
    mcp: PlaywrightMcp,
    sites: dict[str, str],
    baselines: dict[str, list[str]],
) -> tuple[list[JourneyResult], ActionRecorder]:
    """Run ``journeys`` in one MCP session (one browser); returns the results and the
    recorder of every tool call made."""
    recorder = ActionRecorder(run_id=context.run.run_id)
    policy = _policy(mcp)
    checker = HttpLinkChecker(policy, timeout_s=config.link_timeout_s)
    results: list[JourneyResult] = []
    try:
        with mcp.session() as session:
            # The session's first navigation launches Chromium: pay it here, not in the first
            # page's load time (about:blank requests nothing, so no policy is involved).
            session.call("browser_navigate", {"url": "about:blank"})
            agent = mcp.agent(
                session,
                name="site_qa",
                role="QA tester",
                goal="Walk the scripted user journeys and report what is broken",
                recorder=recorder,
            )
            runner = JourneyRunner(
                caller_for(agent),  # every call recorded, behind the URL policy
                sites=sites,
                slow_page_ms=config.slow_page_ms,
                link_checker=checker if config.check_links else None,
                baselines=baselines,
                policy=policy,
            )
            for journey in journeys:
                result = runner.run(journey)
                context.log.info(
                    f"journey {journey.name}: {result.status} in {result.duration_s:.1f} s"
                    + (f" — {result.error}" if result.error else "")
                )
                results.append(result)
    finally:
        checker.close()
    return results, recorder


@dg.multi_asset(
    group_name=GROUP,
    outs={
        JOURNEYS_ASSET: dg.AssetOut(
            description="One row per journey run: status, the step that failed and why, "
            "duration, counts of findings by kind, every step with its time, captured values.",
            metadata=TABLE,
            kinds={"python", "playwright", "duckdb"},
            is_required=False,
        ),
        FINDINGS_ASSET: dg.AssetOut(
            description="Every finding of the journey runs: broken links, console errors, "
            "failed (and policy-blocked) requests, slow pages, accessibility-tree changes "
            "against the last good snapshot, failed steps; with severity, page and step.",
            metadata=TABLE,
            kinds={"python", "duckdb"},
            is_required=False,
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            check_name(j.name),
            asset=JOURNEYS_ASSET,
            blocking=False,
            description=f"Journey {j.name} on {j.site} passes: {j.description}",
        )
        for j in JOURNEYS
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,
)
def site_qa_journeys(
    context: dg.AssetExecutionContext,
    config: SiteQaConfig,
    playwright_mcp: PlaywrightMcp,
    warehouse: Warehouse,
    market_sources: MarketSources,
) -> Iterator[Any]:
    """Run the scripted user journeys (``orchestration_project/demo_world/qa_journeys.yaml``)
    through the Playwright MCP server's tools — find a product, compare prices, send the
    contact form, check out — and report what each saw; each journey's check fails when the
    journey does. The pages of journeys that passed become the new accessibility baselines
    (``site_qa.site_qa_baselines``); every tool call is appended to ``site_qa.agent_actions``."""
    run_id = context.run.run_id
    journeys = _selected(context)
    sites = _sites(config, market_sources)
    baselines = (
        baselines_from(warehouse.read_table(BASELINES, schema=GROUP))
        if warehouse.table_exists(BASELINES, schema=GROUP)
        else {}
    )
    results, recorder = _run_journeys(
        context, journeys, config=config, mcp=playwright_mcp, sites=sites, baselines=baselines
    )
    table = journeys_frame(results, run_id=run_id)
    findings = findings_frame(results, run_id=run_id)
    good = baseline_rows(results, run_id=run_id)
    if not good.empty:
        passed = sorted(set(good["journey"]))
        warehouse.upsert_rows(BASELINES, good, key="journey", keys=passed, schema=GROUP)
        report_side_table(context, warehouse, BASELINES, good, schema=GROUP)
    actions = recorder.to_frame()
    if not actions.empty:
        warehouse.write_table(ACTIONS, actions, schema=GROUP, mode="append")
    failed = int((table["status"] == "failed").sum())
    preview = markdown_table(
        table,
        ["journey", "status", "duration_s", "failed_step", "error", *(f"{k}s" for k in COUNTED)],
    )
    selected_outputs = context.op_execution_context.selected_output_names
    if JOURNEYS_ASSET in selected_outputs:
        yield dg.Output(
            table,
            output_name=JOURNEYS_ASSET,
            metadata={
                "journeys": len(table),
                "failed": failed,
                "tool_calls": len(actions),
                "sites": ", ".join(sorted({j.site for j in journeys})),
                "preview": dg.MetadataValue.md(preview),
            },
        )
    if FINDINGS_ASSET in selected_outputs:
        by_kind = findings["kind"].value_counts().to_dict() if not findings.empty else {}
        yield dg.Output(
            findings,
            output_name=FINDINGS_ASSET,
            metadata={
                "findings": len(findings),
                **{f"{k}": int(v) for k, v in sorted(by_kind.items())},
                "preview": dg.MetadataValue.md(
                    markdown_table(findings, ["journey", "step", "kind", "severity", "detail"])
                ),
            },
        )
    selected_checks = {k.name for k in context.selected_asset_check_keys}
    for result in results:
        name = check_name(result.journey)
        if name not in selected_checks:
            continue
        yield dg.AssetCheckResult(
            check_name=name,
            asset_key=JOURNEYS_ASSET,
            passed=result.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "status": result.status,
                "site": result.site,
                "duration_s": round(result.duration_s, 2),
                "failed_step": result.failed_step or 0,
                "error": result.error or "",
                **{f"{k}s": v for k, v in sorted(result.counts().items())},
            },
        )


site_qa_baselines = dg.AssetSpec(
    BASELINES,
    group_name=GROUP,
    deps=[JOURNEYS_ASSET],
    kinds={"duckdb"},
    metadata=TABLE,
    description="The last good accessibility tree of every page of every journey (normalised: "
    "roles and names, numbers masked), one row per journey and page; replaced for a journey "
    "each time it passes, kept while it fails. Accessibility changes are measured against it.",
)

site_qa_assets = [site_qa_journeys, site_qa_baselines]

__all__ = [
    "FINDINGS_ASSET",
    "GROUP",
    "JOURNEYS",
    "JOURNEYS_ASSET",
    "SiteQaConfig",
    "check_name",
    "site_qa_assets",
    "site_qa_baselines",
    "site_qa_journeys",
]
