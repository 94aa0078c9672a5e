"""The code location loads, and every job, schedule and sensor resolves."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

import assets
import ml
import orchestration_project
import resources
import sensors
from orchestration_project.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_the_generic_top_level_packages_are_this_repositorys() -> None:
    # Regression guard: `assets`, `resources`, `ml`, `sensors` are generic names that another
    # installed distribution could shadow.
    for pkg in (orchestration_project, assets, ml, sensors, resources):
        assert Path(pkg.__file__).resolve().parent.parent == ROOT, pkg.__name__


def test_every_job_schedule_and_sensor_resolves() -> None:
    repo = defs.get_repository_def()
    jobs = repo.get_all_jobs()
    assert {"market_research_job", "canary_job", "operations_job"} <= {j.name for j in jobs}
    graph = defs.resolve_asset_graph()
    for job in jobs:
        if job.name.startswith("__"):
            continue  # Dagster's implicit asset job
        # Each domain's job selects exactly its own group's assets, and they resolve to steps.
        keys = job.asset_layer.executable_asset_keys
        assert keys, f"{job.name} selects no asset"
        assert {graph.get(k).group_name for k in keys} == {job.tags["domain"]}, job.name
        assert job.graph.node_defs, job.name
    for schedule in repo.schedule_defs:
        assert schedule.job_name in {j.name for j in jobs}
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensors = {s.name: s for s in repo.sensor_defs}
    # Incident response runs by default (the issue asks for it).
    assert sensors["incident_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    assert sensors["remedy_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    # the operations group heals every domain's jobs, new domains included, by itself
    healed = {j.name for j in sensors["remedy_sensor"].jobs}
    assert healed == {j.name for j in jobs if not j.name.startswith("__")}
    assert {"content_marketing_job", "customer_onboarding_job"} <= healed
    # the route model retrains early on drift without anyone switching the sensor on
    assert sensors["route_model_drift_sensor"].default_status == dg.DefaultSensorStatus.RUNNING


def test_the_market_research_lineage() -> None:
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey
    assert graph.get(key("discovered_pages")).parent_keys == {key("research_sources")}
    assert graph.get(key("market_report")).parent_keys == {
        key("competitor_matrix"),
        key("resolved_facts"),
        key("research_sources"),
    }
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {
        "market_research",
        "operations",
        "canary",
        "optimization",
        "content_marketing",
        "customer_onboarding",
        "business_processes",
        "site_qa",
        "evolution",
    }
    # the route model learns from the fetch history the crawl writes
    assert graph.get(key("route_training_set")).parent_keys == {key("fetch_attempts")}
    assert graph.get(key("route_model_promotion")).parent_keys == {key("route_training_set")}
    for k in graph.get_all_asset_keys():
        assert graph.get(k).description, f"{k} has no docstring"


def test_the_code_location_is_the_merge_of_the_domains_definitions() -> None:
    # definitions.py only assembles: every asset, job, schedule and sensor comes from a
    # domain's own Definitions.
    from orchestration_project.definitions import DOMAINS

    def names(d: dg.Definitions, attr: str) -> set[str]:
        return {x.name for x in (getattr(d, attr) or [])}

    for attr in ("jobs", "schedules", "sensors"):
        assert set().union(*(names(d, attr) for d in DOMAINS)) == names(defs, attr), attr
    domain_keys = set()
    for d in DOMAINS:
        for a in d.assets or []:
            domain_keys |= {a.key} if isinstance(a, dg.AssetSpec) else set(a.keys)
    assert domain_keys == set(defs.resolve_asset_graph().get_all_asset_keys())


def test_every_asset_that_touches_the_warehouse_is_in_the_warehouse_pool() -> None:
    # Regression: the README promised that every writer of the DuckDB file uses the
    # `warehouse` pool (one slot in dagster.yaml) while eight assets did not. Every executable
    # asset loads its inputs or stores its output through the warehouse IO manager, or uses
    # the warehouse resource, so every one of them must hold the pool's slot.
    from resources.warehouse import WAREHOUSE_POOL, WarehouseIOManager

    assert isinstance(defs.resources["io_manager"], WarehouseIOManager)
    executable = [ad for ad in defs.resolve_asset_graph().assets_defs if ad.is_executable]
    assert len(executable) >= 14
    for ad in executable:
        io_keys = {ad.get_io_manager_key_for_asset_key(k) for k in ad.keys}
        uses = "warehouse" in ad.required_resource_keys or any(
            isinstance(defs.resources.get(k), WarehouseIOManager) for k in io_keys
        )
        assert uses, ad.op.name
        assert ad.op.pool == WAREHOUSE_POOL, f"{ad.op.name} touches the warehouse outside the pool"
    assert "default_limit: 1" in (ROOT / "dagster.yaml").read_text()


def test_every_asset_says_what_it_uses() -> None:
    for ad in defs.resolve_asset_graph().assets_defs:
        for spec in ad.specs:
            name = spec.key.to_user_string()
            assert spec.kinds, f"{name} has no kinds"
            if "browser" in ad.required_resource_keys:
                assert "playwright" in spec.kinds, name
            if (
                "warehouse" in ad.required_resource_keys
                or "io_manager" in ad.required_resource_keys
            ):
                assert "duckdb" in spec.kinds, name


def test_every_resource_has_a_description() -> None:
    for name, res in defs.resources.items():
        assert type(res).__doc__, name


def test_the_production_environment_builds_without_touching_the_network(monkeypatch) -> None:
    from resources.environment import Environment, build_resources

    monkeypatch.setenv("ALLOWED_DOMAINS", "example.com,*.example.org")
    monkeypatch.setenv("RESEARCH_SEED_URLS", "https://example.com/")
    prod = build_resources(Environment.PRODUCTION)
    assert type(prod["warehouse"]).__name__ == "PostgresWarehouse"
    assert type(prod["language"]).__name__ == "TieredLanguageEngine"  # LLM tier routed
    assert prod["http"].allowed_domains == ["example.com", "*.example.org"]
    assert prod["http"].allow_private_hosts == []
    assert set(prod) == set(build_resources(Environment.LOCAL))
