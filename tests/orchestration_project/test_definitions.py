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
    assert "market_research_job" in {j.name for j in jobs}
    for job in jobs:
        assert job.execute_in_process is not None
    for schedule in repo.schedule_defs:
        assert schedule.job_name in {j.name for j in jobs}
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensors = {s.name: s for s in repo.sensor_defs}
    # Incident response runs by default (the issue asks for it).
    assert sensors["incident_sensor"].default_status == dg.DefaultSensorStatus.RUNNING
    assert sensors["remedy_sensor"].default_status == dg.DefaultSensorStatus.RUNNING


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
    assert groups == {"market_research", "operations", "canary"}
    for k in graph.get_all_asset_keys():
        assert graph.get(k).description, f"{k} has no docstring"


def test_every_resource_has_a_description() -> None:
    for name, res in defs.resources.items():
        assert type(res).__doc__, name


def test_the_production_environment_builds_without_touching_the_network(monkeypatch) -> None:
    from resources.environment import Environment, build_resources

    monkeypatch.setenv("ALLOWED_DOMAINS", "example.com,*.example.org")
    monkeypatch.setenv("RESEARCH_SEED_URLS", "https://example.com/")
    prod = build_resources(Environment.PRODUCTION)
    assert type(prod["warehouse"]).__name__ == "PostgresWarehouse"
    assert type(prod["language"]).__name__ == "OpenAIChatEngine"
    assert prod["http"].allowed_domains == ["example.com", "*.example.org"]
    assert prod["http"].allow_private_hosts == []
    assert set(prod) == set(build_resources(Environment.LOCAL))
