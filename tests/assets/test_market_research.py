"""The market research group end to end on the demo world: real HTTP, real Chromium, DuckDB,
SQLite coordination store, Great Expectations checks. Runs the job once and inspects it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.market_research import all_sites_tags, register_sites, source_sites
from assets.market_research.assets import market_research_assets
from orchestration_project.research.evaluation import score_products
from tests.conftest import demo_resources

PER_SITE_ASSETS = [
    "discovered_pages",
    "page_snapshots",
    "fetch_attempts",
    "extracted_facts",
    "fact_quarantine",
]
PER_SITE_TABLES = ["discovered_pages", "page_snapshots", "extracted_facts"]


@pytest.fixture(scope="module")
def run(demo_world: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = tmp_path_factory.mktemp("data")
    resources = demo_resources(demo_world, data)
    with dg.instance_for_test() as instance:
        sites = register_sites(instance, source_sites(resources["market_sources"]))
        result = dg.materialize(
            market_research_assets,
            resources=resources,
            instance=instance,
            tags=all_sites_tags(sites),
        )
        checks = result.get_asset_check_evaluations()
        mats = {
            e.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()
        }
        # Re-run one site alone: its partitions of the per-site assets, nothing else.
        before = {
            t: resources["warehouse"].read_table(t, schema="market_research")
            for t in PER_SITE_TABLES
        }
        one = dg.materialize(
            market_research_assets,
            selection=PER_SITE_ASSETS,
            resources=resources,
            instance=instance,
            partition_key=sites[1],
        )
        after = {
            t: resources["warehouse"].read_table(t, schema="market_research")
            for t in PER_SITE_TABLES
        }
        partitions = instance.get_materialized_partitions(dg.AssetKey("discovered_pages"))
    wh = resources["warehouse"]
    return {
        "sites": sites,
        "one": one,
        "before": before,
        "after": after,
        "partitions": partitions,
        "result": result,
        "checks": checks,
        "mats": mats,
        "wh": wh,
        "world": demo_world,
        "data": data,
    }


def _site_slugs(world: Any) -> dict[str, str]:
    return {url: slug for slug, url in world.sites.items()}


def test_every_asset_materialises_and_every_check_passes(run: dict[str, Any]) -> None:
    assert run["result"].success
    assert set(run["mats"]) == {
        "research_sources",
        "discovered_pages",
        "page_snapshots",
        "fetch_attempts",  # the side tables are assets too
        "extracted_facts",
        "fact_quarantine",
        "agent_actions",  # reported by each step whose agents acted
        "resolved_facts",
        "human_review_queue",
        "competitor_matrix",
        "market_report",
    }
    failed = [c.check_name for c in run["checks"] if not c.passed]
    assert failed == []
    assert len(run["checks"]) == 6


def test_products_and_prices_match_the_ground_truth(run: dict[str, Any]) -> None:
    world = run["world"]
    slugs = _site_slugs(world)
    matrix = run["wh"].read_table("competitor_matrix", schema="market_research")
    predicted = [
        {"site": slugs[r.site], "name": r.product, "price": r.price, "currency": r.currency}
        for r in matrix.itertuples()
    ]
    expected = [
        {"site": p["site"], "name": p["name"], "price": p["price"], "currency": p["currency"]}
        for p in world.ground_truth()["products"]
    ]
    scores = score_products(predicted, expected)
    for kind in ("products", "prices"):
        assert scores[kind].precision >= 0.95, (kind, scores[kind].as_dict())
        assert scores[kind].recall >= 0.95, (kind, scores[kind].as_dict())


def test_stale_blog_prices_lose_and_the_decision_explains_why(run: dict[str, Any]) -> None:
    world = run["world"]
    resolved = run["wh"].read_table("resolved_facts", schema="market_research")
    prices = resolved[resolved["attribute"] == "price"]
    for stale in world.ground_truth()["stale_claims"]:
        row = prices[prices["subject"].str.lower() == stale["product"].lower()]
        assert len(row) == 1, stale
        row = row.iloc[0]
        assert row["value_num"] != pytest.approx(stale["stale_price"]), stale
        assert row["n_values"] >= 2
        assert "blog" in row["rationale"] or "unknown" in row["rationale"]
        assert str(stale["path"]).split("/")[-1] in row["rationale"]


def test_hostile_pages_are_reported_not_fatal(run: dict[str, Any]) -> None:
    pages = run["wh"].read_table("discovered_pages", schema="market_research")
    outcomes = set(pages["outcome"])
    for expected in (
        "timeout",
        "too_large",
        "not_found",
        "redirect_loop",
        "non_html",
        "robots_disallowed",
        "refused",
    ):
        assert expected in outcomes, expected
    refused = pages[pages["outcome"] == "refused"]
    errors = " ".join(refused["error"])
    assert "file:" in errors and "mailto:" in errors and "169.254.169.254" in errors
    assert "not on the allow-list" in errors  # the outside site
    outside = run["world"].outside_url
    assert not ((pages["url"].str.startswith(outside)) & (pages["outcome"] == "ok")).any()


def test_injection_text_changes_nothing(run: dict[str, Any]) -> None:
    matrix = run["wh"].read_table("competitor_matrix", schema="market_research")
    assert not (matrix["price"] <= 1.0).any()
    truth = {p["name"].lower() for p in run["world"].ground_truth()["products"]}
    assert set(matrix["product"].str.lower()) <= truth


def test_javascript_pages_were_rendered_by_the_browser(run: dict[str, Any]) -> None:
    attempts = run["wh"].read_table("fetch_attempts", schema="market_research")
    browser = attempts[attempts["route"] == "browser"]
    assert len(browser) >= 2
    js_paths = [j["path"] for j in run["world"].ground_truth()["js_only"]]
    assert any(any(u.endswith(p) for p in js_paths) for u in browser["url"])
    assert (attempts[attempts["route"] == "http"]["outcome"] == "ok").sum() > 50


def test_agent_actions_are_recorded(run: dict[str, Any]) -> None:
    actions = run["wh"].read_table("agent_actions", schema="market_research")
    assert {"crawler", "extractor", "resolver"} <= set(actions["role"])
    assert {"tool_call", "decision", "message"} <= set(actions["kind"])
    assert (actions["duration_s"] >= 0).all()
    md = run["mats"]["discovered_pages"].metadata
    assert md["agent_tool_calls"].value > 0
    # The crawl's budgets are reported: every site stopped for a stated reason.
    assert md["dead_links"].value >= 0 and md["pagination_pages"].value >= 0
    assert set(md["stopped_by"].value.values()) <= {
        "frontier_empty",
        "page_budget",
        "failed_budget",
    }


def test_records_in_equal_accepted_plus_quarantined(run: dict[str, Any]) -> None:
    md = run["mats"]["extracted_facts"].metadata
    assert md["records_in"].value == md["records_accepted"].value + md["records_quarantined"].value


def test_the_report_has_charts_summary_and_rationales(run: dict[str, Any]) -> None:
    md = run["mats"]["market_report"].metadata
    html = Path(md["report_html"].value).read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "Conflicting facts" in html and "outweighs" in html
    text = Path(md["report_markdown"].value).read_text()
    assert "## Summary" in text and "competitors were compared" in text


def test_shared_context_holds_the_decisions_with_provenance(run: dict[str, Any]) -> None:
    from orchestration_project.agents.coordination import CoordinationStore, SharedContext

    src = run["wh"].read_table("research_sources", schema="market_research")
    crawl_id = src["crawl_id"].iloc[0]
    store = CoordinationStore(f"sqlite:///{run['data'] / 'coordination.db'}")
    snap = SharedContext(store).snapshot(f"market.{crawl_id}")
    assert len(snap) == len(run["wh"].read_table("resolved_facts", schema="market_research"))
    some = next(iter(snap.values()))
    assert {"value", "strategy", "rationale"} <= set(some)
    assert json.dumps(snap)  # JSON all the way down


def test_facts_are_published_once_and_republishing_adds_nothing(run: dict[str, Any]) -> None:
    from orchestration_project.agents.coordination import CoordinationStore, MessageBus

    facts = run["wh"].read_table("extracted_facts", schema="market_research")
    crawl_id = facts["crawl_id"].iloc[0]
    bus = MessageBus(CoordinationStore(f"sqlite:///{run['data'] / 'coordination.db'}"))
    topic = f"facts.{crawl_id}"
    assert len(bus.messages(topic)) == len(facts)
    again = [
        {
            "topic": topic,
            "key": r["site"],
            "payload": {"fact_id": r["fact_id"]},
            "message_id": r["fact_id"],
        }
        for r in facts.to_dict("records")
    ]
    assert bus.publish_many(again) == 0  # a re-run of the extractor duplicates nothing
    assert len(bus.messages(topic)) == len(facts)


def test_brands_are_named_from_the_sites_own_titles(run: dict[str, Any]) -> None:
    world = run["world"]
    matrix = run["wh"].read_table("competitor_matrix", schema="market_research")
    brand_of = {s["slug"]: s["brand"] for s in world.ground_truth()["sites"]}
    for site_url, slug in _site_slugs(world).items():
        shown = set(matrix.loc[matrix["site"] == site_url, "brand"])
        assert len(shown) == 1 and brand_of[slug] in shown.pop(), slug


def test_one_site_reruns_alone_and_replaces_only_its_own_rows(run: dict[str, Any]) -> None:
    """Per-source work is visible and re-runnable: one partition per competitor site."""
    sites, one = run["sites"], run["one"]
    assert len(sites) == 5
    assert one.success
    assert set(run["partitions"]) == set(sites)  # every site's partition materialised
    rerun = sites[1]
    done = {
        (e.asset_key.to_user_string(), e.partition) for e in one.get_asset_materialization_events()
    }
    # nothing but that site's partitions ran (plus the agents' actions they reported)
    assert done - {("agent_actions", None)} == {(a, rerun) for a in PER_SITE_ASSETS}
    for table in PER_SITE_TABLES:
        before, after = run["before"][table], run["after"][table]
        others_before = before[before["site"] != rerun].sort_values(list(before.columns)[:3])
        others_after = after[after["site"] != rerun].sort_values(list(after.columns)[:3])
        # the other sites' rows are untouched ...
        assert others_after["crawl_id"].tolist() == others_before["crawl_id"].tolist(), table
        assert len(others_after) == len(others_before), table
        # ... and the re-run site's rows come from the new run's own crawl
        mine = after[after["site"] == rerun]
        assert len(mine) > 0 and set(mine["crawl_id"]) == {one.run_id}, table
        assert not set(before.loc[before["site"] == rerun, "crawl_id"]) & {one.run_id}
