"""The canary workflow against a demo world of its own: checks, circuit breakers, routes.

Each test starts its own demo world on free loopback ports (the shared ``demo_world`` fixture
is left healthy for other tests), a temporary DuckDB warehouse and a SQLite coordination store,
and materialises the canary assets in process on an ephemeral Dagster instance.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from assets.canary.assets import (
    FACTS_MATCH_PAGES,
    GROUP,
    HISTORY_NO_DUPLICATE_KEYS,
    HISTORY_REFERENCES_INTACT,
    PAGES_COVER_SOURCES,
    canary_assets,
    fact_history,
    facts_consistency,
    history_consistency,
)
from orchestration_project.demo_world import start_demo_world
from orchestration_project.operations.failures import TRANSIENT, root_error
from orchestration_project.operations.healing import (
    BREAKER_TRIP,
    ROOT_TAG,
    ROUTE_SWITCH,
    SOURCE_SKIPPED,
    CircuitBreakers,
    OpsSettings,
    op_events,
    read_run_failure,
)
from resources.coordination import CoordinationResource
from resources.faults import FaultInjection
from resources.fetching import BrowserFetcher, HttpFetcher, find_chromium
from resources.sources import DemoWorldSources
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests.conftest import free_base_port

PAGES = dg.AssetKey([GROUP, "pages"])
ALL_CHECKS = {
    PAGES_COVER_SOURCES,
    FACTS_MATCH_PAGES,
    HISTORY_NO_DUPLICATE_KEYS,
    HISTORY_REFERENCES_INTACT,
}


@pytest.fixture
def world() -> Iterator[Any]:
    w = start_demo_world("127.0.0.1", free_base_port(), slow_seconds=3.0)
    yield w
    w.stop()


class Canary:
    """The canary's resources over one world, and helpers to run it."""

    def __init__(self, world: Any, tmp: Path) -> None:
        self.world = world
        base = min(int(u.rsplit(":", 1)[1]) for u in world.sites.values())
        sources = DemoWorldSources(base_port=base, start_if_missing=False)
        assert sorted(sources.seed_urls()) == sorted(world.seed_urls)
        allowed = sources.allowed_hosts()
        loopback = ["127.0.0.1", "localhost"]
        self.warehouse = DuckDBWarehouse(path=str(tmp / "warehouse.duckdb"), lock_timeout_s=10)
        self.coordination = CoordinationResource(url=f"sqlite:///{tmp / 'coordination.db'}")
        self.resources = {
            "warehouse": self.warehouse,
            "io_manager": WarehouseIOManager(warehouse=self.warehouse),
            "coordination": self.coordination,
            "http": HttpFetcher(allowed_domains=allowed, allow_private_hosts=loopback),
            "browser": BrowserFetcher(allowed_domains=allowed, allow_private_hosts=loopback),
            "market_sources": sources,
            "faults": FaultInjection(),
        }
        self.instance = dg.DagsterInstance.ephemeral()
        OpsSettings(self.coordination.store()).set("breaker:failure_threshold", 3)

    def netloc(self, slug: str) -> str:
        return self.world.sites[slug].split("://", 1)[1]

    def run(self, assets=None, **kw) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            assets or canary_assets,
            resources=self.resources,
            instance=self.instance,
            raise_on_error=False,
            **kw,
        )

    def breakers(self) -> CircuitBreakers:
        return CircuitBreakers(self.coordination.store())


def pages_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [mat] = [
        m
        for m in result.asset_materializations_for_node(f"{GROUP}__pages")
        if m.asset_key == dg.AssetKey([GROUP, "pages"])
    ]
    return {k: v.value for k, v in mat.metadata.items()}


def checks(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def step_error(result: dg.ExecuteInProcessResult) -> tuple[str, str]:
    [ev] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    err = root_error(ev.step_failure_data.error)
    return err.cls_name, err.message


def retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY for e in result.all_events)


@pytest.fixture
def canary(world, tmp_path: Path) -> Canary:
    return Canary(world, tmp_path)


def test_a_clean_world_materialises_the_canary_and_every_check_passes(canary) -> None:
    result = canary.run()

    assert result.success
    assert checks(result) == dict.fromkeys(ALL_CHECKS, True)
    meta = pages_metadata(result)
    assert meta["skipped_sources"] == [] and meta["routes"] == {"http": 5}
    assert meta["row_count"] == 5 and meta["max_parallel"] == 4
    history = canary.warehouse.read_table("fact_history_rows", schema=GROUP)
    assert len(history) > 0 and set(history["run_id"]) == {result.run_id}
    assert set(history["source"]) <= {canary.netloc(s) for s in canary.world.sites}
    assert set(history["url"]) <= set(canary.world.seed_urls)
    assert (canary.breakers().all()["state"] == "closed").all()


def test_a_site_that_is_down_fails_the_canary_until_its_source_breaker_opens(canary) -> None:
    slug = sorted(canary.world.sites)[1]
    down = canary.netloc(slug)
    canary.world.take_down(slug)

    # The fetching step retries twice by itself (RetryPolicy); each attempt counts against the
    # source's breaker (3 failures open it), so one failed run opens it.
    result = canary.run()
    assert not result.success
    assert retries(result) == 2
    cls, msg = step_error(result)
    assert cls == "SourceUnavailableError" and down in msg, msg
    assert "1 of 5 source(s) failed" in msg
    # The healer would retry it: a refused connection is a transient network failure.
    assert read_run_failure(canary.instance, result.run_id).failure_class == TRANSIENT
    assert canary.breakers().state(f"source:{down}").state == "open"

    result = canary.run()

    assert result.success
    meta = pages_metadata(result)
    assert meta["skipped_sources"] == [down]
    assert meta["routes"] == {"http": 4} and meta["row_count"] == 4
    assert checks(result) == dict.fromkeys(ALL_CHECKS, True)
    history = canary.warehouse.read_table("fact_history_rows", schema=GROUP)
    assert down not in set(history["source"])
    # Both silent remedies are on record: the breaker that tripped, the source skipped.
    events = op_events(canary.coordination.store())
    assert [(e.kind, e.subject) for e in events.itertuples()] == [
        (BREAKER_TRIP, down),
        (SOURCE_SKIPPED, down),
    ]
    assert events.iloc[1]["detail"]["job"] == "canary_job"


def test_a_site_blocking_non_browsers_is_fetched_by_browser_once_its_http_route_breaker_opens(
    canary,
) -> None:
    find_chromium()  # Chromium is installed on these machines; fail loudly if not
    slug = sorted(canary.world.sites)[2]
    blocked = canary.netloc(slug)
    canary.world.set_faults(slug, block_non_browsers=True)

    result = canary.run()  # three attempts on the HTTP route, all refused
    assert not result.success and retries(result) == 2
    cls, msg = step_error(result)
    assert cls == "SourceUnavailableError" and f"{blocked} by http: http_error 503" in msg
    breakers = canary.breakers()
    assert breakers.state(f"route:http:{blocked}").state == "open"
    assert breakers.state(f"source:{blocked}").state == "closed"

    result = canary.run()

    assert result.success, step_error(result)
    meta = pages_metadata(result)
    assert meta["skipped_sources"] == []
    assert meta["routes"] == {"http": 4, "browser": 1}
    assert checks(result) == dict.fromkeys(ALL_CHECKS, True)
    history = canary.warehouse.read_table("fact_history_rows", schema=GROUP)
    assert blocked in set(history["source"])
    # The silent remedies: the HTTP route's breaker tripped, then the route was switched.
    events = op_events(canary.coordination.store())
    assert [(e.kind, e.subject_kind, e.subject) for e in events.itertuples()] == [
        (BREAKER_TRIP, "route", "http"),
        (ROUTE_SWITCH, "source", blocked),
    ]
    assert events.iloc[1]["detail"]["routes"] == ["http", "browser"]


def test_rerunning_fact_history_for_the_same_root_run_does_not_duplicate_rows(canary) -> None:
    first = canary.run()
    assert first.success
    before = canary.warehouse.read_table("fact_history_rows", schema=GROUP)
    mine = before[before["run_id"] == first.run_id]
    assert len(mine) > 0

    # A recovery of the same workflow (what the remedy sensor launches) re-runs fact_history.
    again = canary.run(selection=[fact_history.key], tags={ROOT_TAG: first.run_id})

    assert again.success and again.run_id != first.run_id
    after = canary.warehouse.read_table("fact_history_rows", schema=GROUP)
    assert len(after) == len(before)
    assert set(after["run_id"]) == {first.run_id}
    assert not after.duplicated(subset=["run_id", "url", "subject", "attribute", "value"]).any()
    assert checks(again) == {HISTORY_NO_DUPLICATE_KEYS: True, HISTORY_REFERENCES_INTACT: True}

    # A new workflow appends its own rows next to the first one's.
    second = canary.run()
    assert second.success
    final = canary.warehouse.read_table("fact_history_rows", schema=GROUP)
    assert set(final["run_id"]) == {first.run_id, second.run_id}
    assert (final["run_id"] == first.run_id).sum() == len(mine)


def test_a_source_that_came_back_is_fetched_again_after_its_breaker_cooldown(canary) -> None:
    """The source breaker's half-open trial must end: here the trial's HTTP fetch is answered
    503 (bot blocking), which the canary records on the route breaker only; once the site is
    healthy the source must be fetched again, not skipped for ever."""
    OpsSettings(canary.coordination.store()).set("breaker:cooldown_s", 0)
    slug = sorted(canary.world.sites)[3]
    site = canary.netloc(slug)
    canary.world.take_down(slug)
    assert not canary.run().success  # its three attempts open the source breaker
    assert canary.breakers().state(f"source:{site}").state == "open"

    # Back, but refusing non-browsers: the trial (cooldown 0) fails on the HTTP route.
    canary.world.bring_up(slug)
    canary.world.set_faults(slug, block_non_browsers=True)
    trial = canary.run()
    assert not trial.success
    assert f"{site} by http: http_error 503" in step_error(trial)[1]

    # Fully healthy again: within a few runs the source is fetched, not skipped.
    canary.world.clear_faults()
    skipped = []
    for _ in range(3):
        result = canary.run()
        assert result.success
        skipped.append(pages_metadata(result)["skipped_sources"])
    assert skipped[-1] == [], (
        f"source breaker stuck {canary.breakers().state(f'source:{site}').state!r}; "
        f"skipped per run: {skipped}"
    )


# ---------------------------------------------------------------------------------------------
# The consistency checks' own logic, on data broken on purpose (the runs above only ever see
# consistent data, so they could not tell a check that always passes from a working one)
# ---------------------------------------------------------------------------------------------

PAGES_DF = pd.DataFrame({"url": ["http://a/1", "http://a/2", "http://b/1"]})
FACTS_DF = pd.DataFrame(
    {
        "url": ["http://a/1", "http://a/1", "http://b/1"],
        "subject": ["Kit", "Kit", "Pump"],
        "attribute": ["price", "name", "price"],
        "value": ["10", "Kit", "99"],
    }
)


def test_facts_check_counts_pages_against_upstream_and_rejects_unknown_pages() -> None:
    assert facts_consistency(FACTS_DF, PAGES_DF, empty=1)[0]  # 2 with facts + 1 empty = 3
    passed, meta = facts_consistency(FACTS_DF, PAGES_DF, empty=0)  # a page went missing
    assert not passed and meta["with_facts"] + meta["empty"] == 2 and meta["pages_in"] == 3
    stray = pd.concat([FACTS_DF, FACTS_DF.head(1).assign(url="http://evil/1")])
    passed, meta = facts_consistency(stray, PAGES_DF, empty=0)  # 3 urls, but one is foreign
    assert not passed and meta["foreign_pages"] == 1


def test_history_checks_catch_duplicates_missing_rows_and_orphans() -> None:
    rows = FACTS_DF.assign(run_id="r1")
    (keys_ok, keys), (refs_ok, refs) = history_consistency(rows, rows, PAGES_DF)
    assert keys_ok and refs_ok and keys["duplicates"] == 0 and refs["orphan_urls"] == []

    doubled = pd.concat([rows, rows.head(1)])  # a re-execution appended instead of replacing
    (keys_ok, keys), (refs_ok, _) = history_consistency(doubled, rows, PAGES_DF)
    assert not keys_ok and keys["duplicates"] == 1 and refs_ok

    lost = rows.head(2)  # a write lost a row: counts against upstream differ
    (keys_ok, keys), _ = history_consistency(lost, rows, PAGES_DF)
    assert not keys_ok and (keys["rows"], keys["expected"]) == (2, 3)

    orphaned = rows.assign(url=["http://a/1", "http://a/1", "http://gone/9"])
    _, (refs_ok, refs) = history_consistency(orphaned, rows, PAGES_DF)
    assert not refs_ok and refs["orphan_urls"] == ["http://gone/9"]
