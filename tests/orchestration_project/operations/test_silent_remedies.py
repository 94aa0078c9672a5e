"""Silent remedies: recorded as low-severity operational events, and confirming the alerts about
what they touched — but only those (the verdict stays strict)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.alerting import (
    AlertManager,
    InMemoryAlertStore,
    ThresholdRule,
)
from orchestration_project.operations.events import silent_retries
from orchestration_project.operations.healing import (
    BREAKER_TRIP,
    ROUTE_SWITCH,
    STEP_RETRY,
    CircuitBreakers,
    Healer,
    op_events,
    record_op_event,
)
from orchestration_project.operations.monitoring import (
    confirm_from_op_events,
    evaluate_alerts,
    op_event_subjects,
)
from orchestration_project.research.quarantine import quarantine_facts
from resources.warehouse import DuckDBWarehouse

NOW = datetime.now(UTC)


def _store(tmp_path: Path) -> CoordinationStore:
    return CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")


def test_a_breaker_that_opens_records_one_trip_event(tmp_path: Path) -> None:
    store = _store(tmp_path)
    breakers = CircuitBreakers(store, failure_threshold=2)
    breakers.record_failure("route:http:shop.example", "403 bot block")
    assert op_events(store).empty  # one failure: still closed, nothing happened yet
    breakers.record_failure("route:http:shop.example", "403 bot block")
    breakers.record_failure("route:http:shop.example", "403 bot block")  # already open
    ev = op_events(store)
    assert list(ev["kind"]) == [BREAKER_TRIP]
    row = ev.iloc[0]
    assert (row["subject_kind"], row["subject"], row["severity"]) == ("route", "http", "low")
    assert row["detail"]["breaker"] == "route:http:shop.example"
    assert row["detail"]["failures"] == 2


def test_trip_forces_a_breaker_open_and_records_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    breakers = CircuitBreakers(store)
    breakers.trip("source:shop.example", "failure predicted within 10 minutes")
    assert breakers.state("source:shop.example").state == "open"
    assert not breakers.allow("source:shop.example")
    [row] = op_events(store).to_dict("records")
    assert (row["kind"], row["subject_kind"], row["subject"]) == (
        BREAKER_TRIP,
        "source",
        "shop.example",
    )


def test_unknown_event_kinds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown operational event kind"):
        record_op_event(_store(tmp_path), "something_happened", subject_kind="job", subject="j")


def test_event_subjects_cover_job_asset_and_routes() -> None:
    ev = {
        "subject_kind": "source",
        "subject": "shop.example",
        "detail": {"job": "canary_job", "asset": "canary__pages", "routes": ["http", "browser"]},
    }
    assert op_event_subjects(ev) == [
        ("job", "canary_job"),
        ("asset", "canary__pages"),
        ("route", "http"),
        ("route", "browser"),
    ]
    assert op_event_subjects({"subject_kind": "route", "subject": "http", "detail": {}}) == [
        ("route", "http")
    ]


def _latency_events(entity: str, latencies: list[float], end: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "at": [end - timedelta(minutes=len(latencies) - i) for i in range(len(latencies))],
            "entity": entity,
            "ok": True,
            "latency_s": latencies,
        }
    )


RULES = [
    ThresholdRule("route_slow", "route", "latency_p95_s", ">", 1.0),
    ThresholdRule("asset_slow", "asset", "latency_p95_s", ">", 1.0),
]


def test_a_route_switch_confirms_the_route_alert_and_nothing_else(tmp_path: Path) -> None:
    """A bot block healed by switching to the browser: the browser route's latency shift is
    real (confirmed by the switch); a slow asset that nothing touched is still false."""
    store = _store(tmp_path)
    healer = Healer(store)
    manager = AlertManager(InMemoryAlertStore())
    events = {
        "route": _latency_events("browser", [3.0] * 5, NOW),
        "asset": _latency_events("report_writer", [3.0] * 5, NOW),
    }
    record_op_event(
        store,
        ROUTE_SWITCH,
        subject_kind="source",
        subject="shop.example",
        at=NOW - timedelta(minutes=3),
        detail={"job": "canary_job", "asset": "canary__pages", "routes": ["http", "browser"]},
    )
    evaluate_alerts(events=events, manager=manager, healer=healer, now=NOW, rules=RULES)
    later = NOW + timedelta(minutes=10)
    quiet = {
        "route": _latency_events("browser", [0.2] * 5, later),
        "asset": _latency_events("report_writer", [0.2] * 5, later),
    }
    evaluate_alerts(
        events=quiet, manager=manager, healer=healer, now=later, rules=RULES, grace=timedelta(0)
    )
    by_subject = {(r.subject_kind, r.subject): r for r in manager.store.records()}
    assert by_subject[("route", "browser")].verdict is True
    assert by_subject[("route", "browser")].incident_id.endswith(":route_switch")
    assert by_subject[("asset", "report_writer")].verdict is False
    fp = manager.false_positive_rate()
    assert (fp.true, fp.false) == (1, 1)


def test_an_event_long_before_the_alert_confirms_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    manager = AlertManager(InMemoryAlertStore())
    healer = Healer(store)
    record_op_event(
        store,
        ROUTE_SWITCH,
        subject_kind="route",
        subject="browser",
        at=NOW - timedelta(hours=5),
    )
    events = {"route": _latency_events("browser", [3.0] * 5, NOW)}
    evaluate_alerts(events=events, manager=manager, healer=healer, now=NOW, rules=RULES)
    assert confirm_from_op_events(manager, op_events(store)) == 0
    [rec] = manager.store.records()
    assert rec.verdict is None


def test_a_quarantine_spike_is_a_large_share_of_a_batch() -> None:
    good = {
        "fact_id": "f",
        "crawl_id": "c",
        "site": "http://s",
        "kind": "product",
        "subject": "Widget",
        "attribute": "price",
        "value": "9.99",
        "value_num": 9.99,
        "currency": "EUR",
        "unit": None,
        "source_url": "http://s/p",
        "page_kind": "product",
        "confidence": 0.9,
        "method": "dom",
        "evidence": "9,99 €",
        "published": None,
        "extra": {},
    }
    bad = {**good, "currency": "XXQ"}
    rows = [{**good, "fact_id": f"g{i}"} for i in range(20)]
    few = quarantine_facts(rows + [{**bad, "fact_id": f"b{i}"} for i in range(2)])
    assert few.records_quarantined == 2 and not few.is_spike()
    many = quarantine_facts(rows + [{**bad, "fact_id": f"b{i}"} for i in range(8)])
    assert many.records_quarantined == 8 and many.is_spike()
    assert many.records_in == many.records_accepted + many.records_quarantined


def test_a_step_healed_by_its_own_retry_is_a_silent_remedy(tmp_path: Path) -> None:
    """From run metadata in a real DuckDB warehouse: only steps that succeeded after a failed
    attempt count; a first-time success or a step that failed for good do not."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    assert silent_retries(warehouse).empty  # no run metadata yet
    end = pd.Timestamp(NOW)
    warehouse.write_table(
        "runs",
        pd.DataFrame({"run_id": ["r1", "r2"], "job_name": ["canary_job", "canary_job"]}),
        schema="operations",
    )
    warehouse.write_table(
        "steps",
        pd.DataFrame(
            {
                "run_id": ["r1", "r1", "r2"],
                "step_key": ["canary__pages", "canary__facts", "canary__pages"],
                "status": ["SUCCESS", "SUCCESS", "FAILURE"],
                "ended_at": [end, end, end],
                "attempts": [2, 1, 3],
            }
        ),
        schema="operations",
    )
    [ev] = silent_retries(warehouse).to_dict("records")
    assert (ev["kind"], ev["subject_kind"], ev["subject"], ev["run_id"]) == (
        STEP_RETRY,
        "asset",
        "canary__pages",
        "r1",
    )
    assert ev["detail"] == {"job": "canary_job", "asset": "canary__pages", "attempts": 2}
    assert op_event_subjects(ev) == [("asset", "canary__pages"), ("job", "canary_job")]
