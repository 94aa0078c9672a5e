"""The site QA group end to end: the real Playwright MCP server and Chromium walk the journeys
on a real demo world; a page broken on purpose fails its journey's check, and the operations
domain's remedy sensor opens an incident for it — then closes it when the journey passes again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets.site_qa import defs, site_qa_hourly, site_qa_job
from assets.site_qa.assets import FINDINGS_ASSET, GROUP, JOURNEYS_ASSET, site_qa_journeys
from orchestration_project.demo_world import DemoWorld, start_demo_world
from orchestration_project.operations.healing import Healer
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.playwright_mcp import PlaywrightMcp
from resources.sources import DemoWorldSources
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from sensors.operations import remedy_sensor
from tests.conftest import free_base_port

CHECKS = ["journey_find_a_product", "journey_compare_prices", "journey_contact_form"]
CHECKS.append("journey_checkout")
CHECKOUT_ONLY = dg.AssetSelection.assets(
    JOURNEYS_ASSET, FINDINGS_ASSET
).without_checks() | dg.AssetSelection.checks(
    dg.AssetCheckKey(dg.AssetKey(JOURNEYS_ASSET), "journey_checkout")
)


@dataclass
class Qa:
    """A demo world, the resources over it, a Dagster instance and the healthy first run."""

    world: DemoWorld
    warehouse: DuckDBWarehouse
    instance: dg.DagsterInstance
    resources: dict[str, Any]
    data: Path
    healthy: dg.ExecuteInProcessResult

    def table(self, name: str) -> Any:
        return self.warehouse.read_table(name, schema=GROUP)

    def sensor_tick(self, cursor: str | None) -> dg.SensorResult:
        """One evaluation of the operations domain's remedy sensor on this instance."""
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=cursor,
            resources={
                "coordination": CoordinationResource(url=f"sqlite:///{self.data / 'coord.db'}"),
                "reports_dir": ReportsDir(path=str(self.data / "reports")),
            },
        )
        return remedy_sensor(context)


@pytest.fixture(scope="module")
def qa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Qa]:
    base = free_base_port()
    world = start_demo_world(base_port=base, slow_seconds=2)
    data = tmp_path_factory.mktemp("site_qa")
    warehouse = DuckDBWarehouse(path=str(data / "warehouse.duckdb"))
    resources = {
        "warehouse": warehouse,
        "io_manager": WarehouseIOManager(warehouse=warehouse),
        "playwright_mcp": PlaywrightMcp(
            allowed_domains=world.allowed_hosts, allow_private_hosts=["127.0.0.1"], settle_ms=150
        ),
        "market_sources": DemoWorldSources(base_port=base, start_if_missing=False),
    }
    (data / "home").mkdir()
    try:
        with dg.instance_for_test(temp_dir=str(data / "home")) as instance:
            healthy = dg.materialize([site_qa_journeys], instance=instance, resources=resources)
            yield Qa(world, warehouse, instance, resources, data, healthy)
    finally:
        world.stop()


def test_every_journey_passes_on_the_healthy_demo_world(qa: Qa) -> None:
    assert qa.healthy.success
    evaluations = {e.check_name: e for e in qa.healthy.get_asset_check_evaluations()}
    assert sorted(evaluations) == sorted(CHECKS)
    assert all(e.passed for e in evaluations.values())

    runs = qa.table(JOURNEYS_ASSET)
    assert list(runs["journey"]) == [c.removeprefix("journey_") for c in CHECKS]
    assert set(runs["status"]) == {"passed"} and runs["error"].isna().all()
    assert (runs["duration_s"] > 0).all() and (runs["duration_s"] < 15).all()
    # The order the checkout journey placed is the one the store took.
    captures = json.loads(runs.set_index("journey").loc["checkout", "captures"])
    assert list(qa.world.storefronts["nestwell"].orders) == [captures["order_number"]]

    # What a healthy world still shows: the CDN image the policy blocks (info) and the
    # product list's dead link to a discontinued product (a warning).
    findings = qa.table(FINDINGS_ASSET)
    assert sorted(zip(findings["kind"], findings["severity"], strict=True)) == [
        ("blocked_request", "info"),
        ("broken_link", "warning"),
    ]
    # Every page of every journey is now a baseline.
    baselines = qa.table("site_qa_baselines")
    assert set(baselines["journey"]) == set(runs["journey"])
    assert len(baselines) == int(runs["pages"].sum())

    # Every tool call of the QA agent is recorded (operations consolidates agent_actions).
    actions = qa.table("agent_actions")
    assert set(actions["run_id"]) == {qa.healthy.run_id}
    assert {"browser_navigate", "browser_click", "browser_fill_form"} <= set(actions["name"])

    mat = qa.healthy.asset_materializations_for_node("site_qa_journeys")
    preview = next(m for m in mat if m.asset_key.path == [JOURNEYS_ASSET]).metadata["preview"]
    assert "| checkout | passed |" in preview.value


def test_the_job_runs_hourly_by_default_and_the_group_is_one_definitions(qa: Qa) -> None:
    assert site_qa_hourly.default_status == dg.DefaultScheduleStatus.RUNNING
    assert site_qa_hourly.cron_schedule == "17 * * * *"
    wired = dg.Definitions.merge(defs, dg.Definitions(resources=qa.resources))
    assert wired.resolve_job_def("site_qa_job").name == site_qa_job.name
    assert wired.resolve_schedule_def("site_qa_hourly").job_name == "site_qa_job"
    keys = {k.to_user_string() for k in wired.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {JOURNEYS_ASSET, FINDINGS_ASSET, "site_qa_baselines"}


def test_a_page_broken_on_purpose_fails_the_journey_check_and_opens_an_incident(qa: Qa) -> None:
    first = qa.sensor_tick(None)  # the healthy run: every check passed, no incident
    healer = Healer(CoordinationResource(url=f"sqlite:///{qa.data / 'coord.db'}").store())
    assert healer.incidents() == []

    qa.world.break_page("nestwell", "/store", "remove_buttons")
    try:
        broken = dg.materialize(
            [site_qa_journeys],
            instance=qa.instance,
            resources=qa.resources,
            selection=CHECKOUT_ONLY,
        )
    finally:
        qa.world.clear_faults()

    # Nothing crashed, so the run succeeds; the journey's non-blocking check fails.
    assert broken.success
    [evaluation] = broken.get_asset_check_evaluations()
    assert (evaluation.check_name, evaluation.passed) == ("journey_checkout", False)
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    error = evaluation.metadata["error"].value
    assert error.startswith("step 2 (click button 'Add Nestwell Room Sensor to cart'): ")
    assert error.endswith("has no button named 'Add Nestwell Room Sensor to cart'")
    runs = qa.table(JOURNEYS_ASSET)
    assert list(zip(runs["journey"], runs["status"], strict=True)) == [("checkout", "failed")]
    # The store page lost its buttons against the last good snapshot, and the step failed.
    findings = qa.table(FINDINGS_ASSET).set_index("kind")
    assert findings.loc["step_failed", "severity"] == "error"
    a11y = findings.loc["a11y_change", "detail"]
    assert a11y.startswith('/store: +0 -7: - button "Search"; - button "Add Nestwell Aura')
    # A failed journey leaves its last good baseline in place.
    baselines = qa.table("site_qa_baselines")
    kept = set(baselines.loc[baselines["journey"] == "checkout", "run_id"])
    assert kept == {qa.healthy.run_id}

    # The operations domain's remedy sensor finds the failed check of the successful run.
    tick = qa.sensor_tick(first.cursor)
    [incident] = healer.incidents()
    assert (incident.source, incident.subject_kind, incident.subject) == (
        "asset_check",
        "asset",
        JOURNEYS_ASSET,
    )
    assert (incident.error_class, incident.failure_class, incident.status) == (
        "journey_checkout",
        "upstream_data",
        "escalated",
    )
    assert f"check journey_checkout on {JOURNEYS_ASSET} failed in run {broken.run_id[:8]}" in (
        incident.message
    )
    assert "has no button named" in incident.message

    # The page is repaired: the next run's journey passes and the incident is recovered.
    fixed = dg.materialize(
        [site_qa_journeys], instance=qa.instance, resources=qa.resources, selection=CHECKOUT_ONLY
    )
    assert [e.passed for e in fixed.get_asset_check_evaluations()] == [True]
    qa.sensor_tick(tick.cursor)
    [recovered] = healer.incidents()
    assert recovered.incident_id == incident.incident_id
    assert recovered.status == "recovered" and recovered.recovered_at is not None
