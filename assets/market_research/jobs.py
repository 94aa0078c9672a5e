"""The market-research job, its daily schedule and the sensor that keeps one partition per
competitor site (all running by default).

A run of the job covers a range of site partitions: the schedule asks for every current site
in one run (the per-site assets have a single-run backfill policy), and a user re-runs one site
by materialising that site's partitions from the UI or the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from assets.market_research.assets import GROUP, SOURCES
from orchestration_project.agents.planning import site_of
from resources.executor import job_executor
from resources.sources import MarketSources

market_research_job = dg.define_asset_job(
    "market_research_job",
    selection=dg.AssetSelection.groups(GROUP).materializable(),
    description="Research the market end to end: crawl, capture, extract, resolve, report.",
    # One process for the whole run: the steps are a chain, and process start-up per step
    # (Dagster + Great Expectations imports) would cost more than the work on 2 cores.
    executor_def=job_executor(),
    tags={"domain": GROUP},
)


def source_sites(market_sources: MarketSources) -> list[str]:
    """The sites of the configured seeds, in order: the partition keys of the per-site
    assets."""
    return list(dict.fromkeys(site_of(u) for u in market_sources.seed_urls()))


def site_changes(instance: dg.DagsterInstance, sites: Sequence[str]) -> tuple[list[str], list[str]]:
    """The site partitions to add and to delete so that they are exactly ``sites``."""
    have = instance.get_dynamic_partitions(SOURCES.name)
    return [s for s in sites if s not in have], [s for s in have if s not in sites]


def register_sites(instance: dg.DagsterInstance, sites: Sequence[str]) -> list[str]:
    """Make the site partitions exactly ``sites`` (for runs launched outside the daemon: the
    CLI, tests, benchmarks) and return them in partition order."""
    add, drop = site_changes(instance, sites)
    if add:
        instance.add_dynamic_partitions(SOURCES.name, add)
    for key in drop:
        instance.delete_dynamic_partition(SOURCES.name, key)
    return instance.get_dynamic_partitions(SOURCES.name)


def all_sites_tags(sites: Sequence[str]) -> dict[str, str]:
    """Run tags for one run over every site partition (first to last, in partition order)."""
    if not sites:
        raise ValueError("no research sites: configure the market_sources resource")
    return {
        "dagster/asset_partition_range_start": sites[0],
        "dagster/asset_partition_range_end": sites[-1],
    }


@dg.schedule(
    name="market_research_daily",
    job=market_research_job,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh the market research of every site every morning at 06:00 UTC.",
)
def market_research_schedule(
    context: dg.ScheduleEvaluationContext, market_sources: MarketSources
) -> dg.RunRequest | dg.SkipReason:
    """One run over every configured site (registering new sites' partitions first)."""
    sites = register_sites(context.instance, source_sites(market_sources))
    if not sites:
        return dg.SkipReason("no research sources configured")
    return dg.RunRequest(tags=all_sites_tags(sites))


@dg.sensor(
    name="research_sites_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=300,
    description="Keeps one partition per configured competitor site (adds new sites, removes "
    "dropped ones), so the UI shows every site's state.",
)
def research_sites_sensor(
    context: dg.SensorEvaluationContext, market_sources: MarketSources
) -> dg.SensorResult | dg.SkipReason:
    """Sync the site partitions with the market_sources resource."""
    add, drop = site_changes(context.instance, source_sites(market_sources))
    if not add and not drop:
        return dg.SkipReason("site partitions are up to date")
    requests: list = []
    if add:
        requests.append(SOURCES.build_add_request(add))
    if drop:
        requests.append(SOURCES.build_delete_request(drop))
    return dg.SensorResult(dynamic_partitions_requests=requests)
