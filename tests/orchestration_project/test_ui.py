"""A real client: the Dagster webserver on loopback, its asset graph opened in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import chromium_page, running_webserver

ROOT = Path(__file__).resolve().parents[2]
ASSETS = [
    "research_sources",
    "discovered_pages",
    "page_snapshots",
    "extracted_facts",
    "resolved_facts",
    "competitor_matrix",
    "market_report",
]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {"DAGSTER_HOME": str(home), "ORCHESTRATION_DATA_DIR": str(tmp_path_factory.mktemp("d"))}
    with running_webserver(env) as url:
        yield url


def test_the_lineage_is_served_by_the_graphql_api(webserver: str) -> None:
    query = "{ assetNodes { assetKey { path } groupName dependencyKeys { path } } }"
    resp = httpx.post(webserver + "/graphql", json={"query": query}, timeout=60)
    nodes = {tuple(n["assetKey"]["path"]): n for n in resp.json()["data"]["assetNodes"]}
    assert {(a,) for a in ASSETS} <= set(nodes)
    deps = {tuple(d["path"]) for d in nodes[("extracted_facts",)]["dependencyKeys"]}
    assert deps == {("page_snapshots",)}
    assert nodes[("market_report",)]["groupName"] == "market_research"


def test_the_asset_graph_page_shows_the_market_research_assets(
    webserver: str, tmp_path: Path
) -> None:
    with chromium_page() as page:
        # The group's own lineage page (the global one collapses groups once there are two).
        page.goto(
            webserver + "/locations/orchestration_project/asset-groups/market_research",
            timeout=60_000,
        )
        page.get_by_text("Lineage", exact=True).first.wait_for(timeout=60_000)
        for name in ASSETS:
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "asset_graph.png"))
        body = page.inner_text("body")
    for name in ASSETS:
        assert name in body
    assert (tmp_path / "asset_graph.png").stat().st_size > 10_000
