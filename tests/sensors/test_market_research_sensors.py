"""The site partitions of market research: the sensor keeps them equal to the configured
sources, and the daily schedule asks for one run over all of them."""

from __future__ import annotations

import dagster as dg

from assets.market_research import market_research_schedule, research_sites_sensor
from assets.market_research.assets import SOURCES
from orchestration_project.common.net import port_open
from resources.sources import ConfiguredSources, DemoWorldSources
from tests.conftest import free_base_port


def sources(*urls: str) -> ConfiguredSources:
    return ConfiguredSources(market_topic="thermostats", seeds=list(urls))


def test_the_sensor_adds_new_sites_and_removes_dropped_ones() -> None:
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(
            instance=instance,
            resources={"market_sources": sources("https://a.example/", "https://b.example/x")},
        )
        result = research_sites_sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        [add] = result.dynamic_partitions_requests
        assert list(add.partition_keys) == ["https://a.example", "https://b.example"]
        instance.add_dynamic_partitions(SOURCES.name, list(add.partition_keys))
        assert isinstance(research_sites_sensor(ctx), dg.SkipReason)  # up to date

        ctx = dg.build_sensor_context(
            instance=instance, resources={"market_sources": sources("https://b.example/")}
        )
        [drop] = research_sites_sensor(ctx).dynamic_partitions_requests
        assert list(drop.partition_keys) == ["https://a.example"]


def test_the_schedule_runs_every_site_in_one_run() -> None:
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(
            instance=instance,
            resources={"market_sources": sources("https://a.example/", "https://c.example/")},
        )
        request = market_research_schedule(ctx)
        assert isinstance(request, dg.RunRequest)
        assert request.tags["dagster/asset_partition_range_start"] == "https://a.example"
        assert request.tags["dagster/asset_partition_range_end"] == "https://c.example"
        assert instance.get_dynamic_partitions(SOURCES.name) == [
            "https://a.example",
            "https://c.example",
        ]


def test_evaluating_the_sensor_does_not_serve_the_demo_world() -> None:
    # Regression guard: the demo-world resource serves the sites for a step's duration when
    # nothing listens; a sensor tick needs only the list of sites.
    base = free_base_port()
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance, resources={"market_sources": DemoWorldSources(base_port=base)}
        ) as ctx,
    ):
        [add] = research_sites_sensor(ctx).dynamic_partitions_requests
        assert len(add.partition_keys) == 5
        assert not port_open("127.0.0.1", base)
    assert not port_open("127.0.0.1", base)
