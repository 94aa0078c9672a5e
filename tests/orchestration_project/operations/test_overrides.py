"""Remedies that undo themselves: the override rules of ``healing.overrides``.

Failures are real failed runs of a small job of this module (``overrides_probe_job``, which
raises ``MemoryError`` when told to: resource exhaustion) on a real temporary Dagster instance;
quiet runs are real successful runs of the same job; the healer's state lives in a real SQLite
coordination store. The healer runs on a clock the test moves, while quiet runs are counted in
the run storage's own order, so the two never need to agree on the time.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.healing import (
    LOWER_CONCURRENCY,
    MAX_LIFETIME_KEY,
    QUIET_RUNS_KEY,
    RESTORE_CONCURRENCY,
    ROUTE_SWITCH,
    SOURCE_SKIPPED,
    CircuitBreakers,
    Healer,
    OpsSettings,
    Overrides,
    RemedyPolicy,
    record_op_event,
)
from orchestration_project.operations.incident_report import write_incident_report
from tests.reexecution import Clock

JOB = "overrides_probe_job"
KEY = f"max_parallel:{JOB}"


class ProbeConfig(dg.Config):
    exhausted: bool = False


@dg.asset
def overrides_probe(config: ProbeConfig) -> int:
    if config.exhausted:
        raise MemoryError("cannot allocate 4294967296 bytes")
    return 1


PROBE_JOB = dg.Definitions(
    assets=[overrides_probe],
    jobs=[dg.define_asset_job(JOB, executor_def=dg.in_process_executor)],
).resolve_job_def(JOB)


def run(instance: dg.DagsterInstance, *, exhausted: bool = False) -> str:
    """One real run of the probe job; returns its id."""
    result = PROBE_JOB.execute_in_process(
        instance=instance,
        run_config={"ops": {"overrides_probe": {"config": {"exhausted": exhausted}}}},
        raise_on_error=False,
    )
    assert result.success is not exhausted
    return result.run_id


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        yield inst


@pytest.fixture
def store(tmp_path: Path) -> CoordinationStore:
    return CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def healer(store: CoordinationStore, clock: Clock) -> Healer:
    settings = OpsSettings(store)
    settings.set(QUIET_RUNS_KEY, 2)
    assert settings.max_parallel(JOB, 4) == 4  # the job's own default: the baseline
    return Healer(store, clock=clock)


def exhaust(healer: Healer, instance: dg.DagsterInstance) -> str:
    """A resource-exhaustion failure handled by the healer (a new incident); its id."""
    return healer.on_run_failure(instance, run(instance, exhausted=True)).incident_id


def quiet(healer: Healer, instance: dg.DagsterInstance, runs: int) -> int:
    """``runs`` successful runs, then the rules; returns the concurrency afterwards."""
    for _ in range(runs):
        run(instance)
    healer.check_recoveries(instance)
    return healer.settings.max_parallel(JOB, 4)


def restores(healer: Healer) -> list[tuple[int, int, str]]:
    acts = healer.actions()
    rows = acts[acts["action"] == RESTORE_CONCURRENCY]["detail"]
    return [(d["before"], d["value"], d["outcome"]) for d in rows]


def test_overlapping_incidents_each_halve_one_override_that_keeps_the_first_baseline(
    healer, instance
) -> None:
    # Regression: overlapping incidents each halved the setting, and only the incident whose
    # value was still in place could restore it, so 4 -> 2 -> 1 stayed at 1 for ever.
    first = exhaust(healer, instance)
    second = exhaust(healer, instance)
    assert first != second
    assert healer.settings.max_parallel(JOB, 4) == 1

    history = healer.overrides.all()
    assert list(history["status"]) == ["replaced", "active"]
    assert list(history["value"]) == [2, 1]
    assert list(history["baseline"]) == [4, 4]
    assert list(history["incident_id"]) == [first, second]
    active = healer.overrides.active().iloc[0]
    assert active["expires_at"] == healer.clock() + timedelta(hours=24)
    assert active["rule"]["quiet_runs"] == 2
    acts = healer.actions()
    lowered = acts[acts["action"] == LOWER_CONCURRENCY]["detail"].tolist()
    assert [(d["before"], d["after"], d["baseline"]) for d in lowered] == [(4, 2, 4), (2, 1, 4)]
    assert [d["override_id"] for d in lowered] == list(history["override_id"])

    # Both incidents recover (as far as the overrides care); quiet runs restore step by step.
    assert quiet(healer, instance, 2) == 2
    assert quiet(healer, instance, 2) == 4
    assert healer.overrides.active().empty
    assert restores(healer) == [(1, 2, "restored"), (2, 4, "restored")]


def test_each_restore_step_needs_its_own_quiet_runs_and_never_exceeds_the_baseline(
    healer, instance
) -> None:
    exhaust(healer, instance)
    exhaust(healer, instance)
    assert quiet(healer, instance, 1) == 1  # one quiet run of two: nothing yet
    assert quiet(healer, instance, 1) == 2  # the second: one step, 1 -> 2
    # Hysteresis: the runs that earned that step do not count for the next one.
    healer.check_recoveries(instance)
    assert healer.settings.max_parallel(JOB, 4) == 2
    assert quiet(healer, instance, 1) == 2
    assert quiet(healer, instance, 1) == 4  # back at the baseline; the override has ended
    assert quiet(healer, instance, 5) == 4  # and never above it
    assert OpsSettings(healer.store).get(KEY) == 4
    ended = healer.overrides.all()
    assert list(ended["status"]) == ["replaced", "restored", "restored"]
    assert (
        "2 successful run(s) of overrides_probe_job without resource exhaustion"
        in (ended.iloc[-1]["end_reason"])
    )
    assert "(baseline)" in ended.iloc[-1]["end_reason"]


def test_a_baseline_below_the_next_doubling_caps_the_restore(store, clock, instance) -> None:
    settings = OpsSettings(store)
    settings.set(QUIET_RUNS_KEY, 1)
    assert settings.max_parallel(JOB, 3) == 3  # this job fans out to 3
    healer = Healer(store, clock=clock)
    exhaust(healer, instance)  # 3 -> 1
    assert settings.max_parallel(JOB, 3) == 1
    assert quiet(healer, instance, 1) == 2
    assert quiet(healer, instance, 1) == 3  # min(2 x 2, baseline 3)
    assert settings.get(KEY) == 3
    assert restores(healer) == [(1, 2, "restored"), (2, 3, "restored")]


def test_a_new_resource_failure_restarts_the_quiet_count(healer, store, instance) -> None:
    exhaust(healer, instance)  # 4 -> 2
    assert quiet(healer, instance, 1) == 2
    exhaust(healer, instance)  # 2 -> 1: the quiet run before it no longer counts
    assert quiet(healer, instance, 1) == 1
    assert quiet(healer, instance, 1) == 2

    # A resource failure whose incident is escalated at once lowers nothing, but it is not
    # quiet either: the count restarts.
    assert quiet(healer, instance, 1) == 2
    escalating = Healer(store, clock=healer.clock, policy=RemedyPolicy(max_attempts=0))
    inc = escalating.on_run_failure(instance, run(instance, exhausted=True))
    assert inc.status == "escalated"
    assert healer.settings.max_parallel(JOB, 4) == 2
    assert healer.overrides.active().iloc[0]["rule"]["reset_by"] == f"incident {inc.incident_id}"
    assert quiet(healer, instance, 1) == 2
    assert quiet(healer, instance, 1) == 4


def test_an_operators_change_is_never_overwritten(healer, store, instance) -> None:
    exhaust(healer, instance)
    exhaust(healer, instance)
    OpsSettings(store).set(KEY, 3, reason="ops: 3 is enough on the new workers")

    assert quiet(healer, instance, 4) == 3
    assert OpsSettings(store).get(KEY) == 3
    assert healer.overrides.active().empty
    last = healer.overrides.all().iloc[-1]
    assert last["status"] == "replaced"
    assert "changed by hand to 3 (ops: 3 is enough on the new workers)" in last["end_reason"]
    assert restores(healer) == []

    # A later incident starts from the operator's value, and restores no higher than it.
    exhaust(healer, instance)
    assert healer.settings.max_parallel(JOB, 4) == 1
    assert healer.overrides.active().iloc[0]["baseline"] == 3
    assert quiet(healer, instance, 2) == 2
    assert quiet(healer, instance, 2) == 3


def test_an_override_past_its_lifetime_restores_the_baseline_without_quiet_runs(
    healer, store, clock, instance
) -> None:
    OpsSettings(store).set(MAX_LIFETIME_KEY, 3600)
    exhaust(healer, instance)
    exhaust(healer, instance)
    clock.advance(3599)
    assert quiet(healer, instance, 0) == 1
    clock.advance(2)
    assert quiet(healer, instance, 0) == 4
    last = healer.overrides.all().iloc[-1]
    assert last["status"] == "expired"
    assert last["end_reason"].startswith("expired at")
    assert restores(healer) == [(1, 4, "expired")]


def test_breaker_route_and_skip_overrides_end_when_their_breaker_closes(store, clock) -> None:
    """Open breakers, and the route switches and skipped sources they cause, are overrides
    with the breaker's cooldown as their rule; they end when the breaker closes."""
    instance = dg.DagsterInstance.ephemeral()
    breakers = CircuitBreakers(store, cooldown=timedelta(seconds=60))
    now = datetime.now(UTC)
    for _ in range(3):
        breakers.record_failure("route:http:shop.test", "HTTP 403", now=now)
        breakers.record_failure("source:down.test", "connection refused", now=now)
    record_op_event(store, ROUTE_SWITCH, subject_kind="source", subject="shop.test", at=now)
    record_op_event(store, SOURCE_SKIPPED, subject_kind="source", subject="down.test", at=now)
    record_op_event(store, SOURCE_SKIPPED, subject_kind="source", subject="up.test", at=now)
    overrides = Overrides(store, clock=clock)

    changes = overrides.evaluate(instance)
    assert overrides.evaluate(instance) == []  # idempotent: nothing recorded twice

    active = overrides.active().set_index("key")
    assert sorted(c["key"] for c in changes) == sorted(active.index)
    assert sorted(active.index) == [
        "breaker:route:http:shop.test",
        "breaker:source:down.test",
        "route:shop.test",
        "skip_source:down.test",  # up.test's breaker is closed: no override for it
    ]
    assert active.loc["route:shop.test", "value"] == "browser"
    assert active.loc["route:shop.test", "baseline"] == "http"
    assert active.loc["route:shop.test", "rule"] == {
        "breaker_cooldown_s": 120.0,  # CircuitBreakers(store) reads the default cooldown
        "breaker": "route:http:shop.test",
    }
    assert (active["expires_at"] > datetime.now(UTC) + timedelta(hours=23)).all()

    # The HTTP route's breaker lets its trial call through after the cooldown and closes.
    later = now + timedelta(seconds=61)
    assert breakers.allow("route:http:shop.test", now=later)
    breakers.record_success("route:http:shop.test", now=later)
    ended = {c["key"]: c for c in overrides.evaluate(instance)}
    assert set(ended) == {"breaker:route:http:shop.test", "route:shop.test"}
    assert all(c["status"] == "restored" for c in ended.values())
    assert "breaker route:http:shop.test closed" in ended["route:shop.test"]["reason"]

    # The dead source's breaker never closes by itself: after the lifetime it is closed anyway.
    clock.advance(24 * 3600 + 1)
    ended = {c["key"]: c["status"] for c in overrides.evaluate(instance)}
    assert ended == {"breaker:source:down.test": "expired", "skip_source:down.test": "expired"}
    assert breakers.state("source:down.test").state == "closed"
    assert overrides.active().empty


def test_the_incident_report_lists_the_settings_its_remedies_changed(
    healer, instance, tmp_path
) -> None:
    incident_id = exhaust(healer, instance)
    path = write_incident_report(instance, healer, incident_id, tmp_path)
    text = path.read_text()
    section = text.split("## Settings changed by its remedies", 1)[1].split("## Timeline")[0]
    assert KEY in section and "x2 after 2 quiet runs" in section and "active" in section


def test_the_incidents_asset_shows_active_overrides_and_stores_their_history(
    healer, store, instance, tmp_path
) -> None:
    from assets.operations.assets import OVERRIDES_KEY, incidents
    from resources.coordination import CoordinationResource
    from resources.environment import ReportsDir
    from resources.warehouse import DuckDBWarehouse, WarehouseIOManager

    exhaust(healer, instance)
    exhaust(healer, instance)
    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    result = dg.materialize(
        [incidents],
        instance=instance,
        resources={
            "warehouse": wh,
            "io_manager": WarehouseIOManager(warehouse=wh),
            "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
            "coordination": CoordinationResource(url=str(store.engine.url)),
        },
    )
    assert result.success

    [mat] = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey("incidents")
    ]
    meta = mat.materialization.metadata
    assert meta["overrides_active"].value == 1
    table = meta["active_overrides"].value
    assert KEY in table and "x2 after 2 quiet runs" in table and "2 -> 1" in table
    history = wh.read_table("overrides", schema="operations")
    assert list(history["status"]) == ["replaced", "active"]
    assert list(history["value"]) == ["2", "1"]  # JSON text: values of any kind fit one column
    [side] = [
        m.materialization
        for m in result.get_asset_materialization_events()
        if m.asset_key == OVERRIDES_KEY
    ]
    assert side.metadata["dagster/row_count"].value == 2
    assert side.metadata["active"].value == 1
