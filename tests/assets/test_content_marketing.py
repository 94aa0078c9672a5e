"""The content-marketing group through Dagster: briefs → drafts → checked channel outputs →
publication to the demo content site (a real HTTP server on loopback, its own SQLite) →
experiment results from SIMULATED visitors (real HTTP requests, a known true click rate per
strategy) → the promoted strategy; MLflow on a temporary SQLite store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest

from assets.content_marketing import defs as content_defs
from assets.content_marketing.assets import content_assets
from assets.content_marketing.experiments import experiment_assets
from orchestration_project.demo_world.content_site import ContentStore, start_content_site
from resources.content import SiteEngagement, WebhookPublishSink
from resources.environment import ReportsDir
from resources.language import OfflineLanguageEngine
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests.orchestration_project.content_marketing.test_content import MATRIX

ASSETS = [*content_assets, *experiment_assets]


@pytest.fixture
def site(tmp_path: Path):
    server = start_content_site("127.0.0.1", 0, tmp_path / "site.db")
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _resources(tmp_path: Path, site: str, **engagement) -> dict:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    if not wh.table_exists("competitor_matrix", schema="market_research"):
        wh.write_table("competitor_matrix", MATRIX, schema="market_research")
    return {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "language": OfflineLanguageEngine(),
        "publish_sink": WebhookPublishSink(url=f"{site}/publish"),
        "engagement": SiteEngagement(url=site, **engagement),
        "tracking": MlflowTracking(data_dir=str(tmp_path / "data")),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }


def _run(resources: dict, instance: dg.DagsterInstance, run_config: dict | None = None):
    return dg.materialize(
        ASSETS,
        resources=resources,
        instance=instance,
        run_config=run_config or {},
        raise_on_error=False,
    )


def test_the_calendar_publishes_checked_content_and_reads_the_experiments(
    tmp_path: Path, site: str
) -> None:
    res = _resources(tmp_path, site, simulate_visitors=300)
    with dg.instance_for_test() as instance:
        assert _run(res, instance).success
        mat = instance.get_latest_materialization_event(dg.AssetKey("experiment_results"))
        plot = mat.asset_materialization.metadata["plot"].value  # the chart the UI shows
        assert plot.startswith("![click rate per variant (SIMULATED visitors)](data:image/png")
    wh = res["warehouse"]
    drafts = wh.read_table("content_drafts", schema="content_marketing")
    skipped = drafts[drafts["status"] == "skipped"]
    assert set(skipped["strategy"]) == {"llm"}  # offline: the LLM strategy says why it is absent
    assert skipped["reason"].str.contains("no LLM endpoint configured").all()
    outputs = wh.read_table("channel_outputs", schema="content_marketing")
    assert outputs["passed"].all() and set(outputs["channel"]) == {"blog", "email", "social"}
    published = wh.read_table("published_content", schema="content_marketing")
    assert len(published) == len(outputs) and (published["error"] == "").all()
    for f in published["file"]:
        assert Path(f).read_text(encoding="utf-8")  # a file per output and channel
    # the site holds both strategies of every experiment as its variants
    store = ContentStore(tmp_path / "site.db")
    for exp in published["experiment"].unique():
        assert [v[1] for v in store.variants(exp)] == ["templated", "market_facts"]
    results = wh.read_table("experiment_results", schema="content_marketing")
    assert results["simulated"].all()
    assert set(results["experiment"]) == set(published["experiment"])
    per_exp = results.groupby("experiment")["units"].sum()
    assert (per_exp == 300).all()  # every simulated visitor is one exposed unit
    promoted = wh.read_table("promoted_strategy", schema="content_marketing")
    assert set(promoted["experiment"]) == set(published["experiment"])
    undecided = promoted[promoted["decided_by"] != "experiment"]
    assert undecided["reason"].str.startswith("[content-strategy-ts-v1] no winner yet").all()
    assert (tmp_path / "reports" / "content" / "experiments.png").stat().st_size > 5000
    runs = (
        res["tracking"].client().search_runs([res["tracking"].experiment_id("content_experiments")])
    )
    assert len(runs) == published["experiment"].nunique()
    assert all(r.data.tags["simulated"] == "true" for r in runs)


def test_a_clear_winner_is_promoted_by_the_experiment(tmp_path: Path, site: str) -> None:
    # SIMULATION with a large known effect, on one experiment (one brief on one channel):
    # market_facts 12 % against templated 3 %.
    briefs = tmp_path / "briefs"
    briefs.mkdir()
    (briefs / "b.yaml").write_text(
        "brief_id: thermo\ntopic: smart thermostats\naudience: homeowners\n"
        "cta_text: Compare every model\ncta_url: https://www.example.com/\nchannels: [blog]\n"
    )
    res = _resources(
        tmp_path,
        site,
        simulate_visitors=3000,
        true_click_rates={"templated": 0.03, "market_facts": 0.12},
    )
    config = {
        "ops": {
            "content_briefs": {"config": {"briefs_dir": str(briefs)}},
            "experiment_results": {"config": {"planned_units": 3000}},
        }
    }
    with dg.instance_for_test() as instance:
        assert _run(res, instance, config).success
    promoted = res["warehouse"].read_table("promoted_strategy", schema="content_marketing")
    assert promoted["experiment"].tolist() == ["thermo--blog"]
    assert (promoted["strategy"] == "market_facts").all()
    assert (promoted["decided_by"] == "experiment").all()
    assert promoted["reason"].str.contains("1-market_facts wins").all()
    # The next calendar run publishes the winner as the default everyone else sees.
    before = httpx.get(f"{site}/p/thermo--blog").text
    assert 'name="strategy" content="templated"' in before  # the control, until now
    with dg.instance_for_test() as instance:
        again = dg.materialize(
            ASSETS,
            resources=res,
            instance=instance,
            run_config={"ops": {"content_briefs": config["ops"]["content_briefs"]}},
            selection=content_assets,
        )
        assert again.success
    published = res["warehouse"].read_table("published_content", schema="content_marketing")
    assert published.loc[published["default"], "strategy"].tolist() == ["market_facts"]
    after = httpx.get(f"{site}/p/thermo--blog").text
    assert 'name="strategy" content="market_facts"' in after


def test_failed_content_checks_block_publication(tmp_path: Path, site: str) -> None:
    briefs = tmp_path / "briefs"
    briefs.mkdir()
    (briefs / "b.yaml").write_text(
        "brief_id: pushy\ntopic: smart thermostats\naudience: homeowners\n"
        "cta_text: Click here to compare\ncta_url: https://www.example.com/\n"
        "channels: [blog]\n"
    )
    res = _resources(tmp_path, site, simulate_visitors=10)
    config = {"ops": {"content_briefs": {"config": {"briefs_dir": str(briefs)}}}}
    with dg.instance_for_test() as instance:
        result = _run(res, instance, config)
        checks = result.get_asset_check_evaluations()
        [check] = [c for c in checks if c.check_name == "content_passes_checks"]
        assert not check.passed  # "click here" is always banned
        mats = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert "channel_outputs" in mats and "published_content" not in mats
    outputs = res["warehouse"].read_table("channel_outputs", schema="content_marketing")
    assert (outputs["banned_words"] == "click here").all()
    assert ContentStore(tmp_path / "site.db").variants("pushy--blog") == []


def test_the_group_has_its_job_and_a_calendar_running_by_default() -> None:
    [schedule] = content_defs.schedules
    assert schedule.name == "content_calendar"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    keys = {k.to_user_string() for a in ASSETS for k in a.keys}
    assert {"content_drafts", "channel_outputs", "experiment_results"} <= keys
    assert isinstance(pd.DataFrame(), pd.DataFrame)
