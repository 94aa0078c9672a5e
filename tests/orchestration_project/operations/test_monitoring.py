"""The monitoring loop: alerts open incidents, incidents confirm alerts, the rest are false."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.alerting import (
    AlertManager,
    InMemoryAlertStore,
    ThresholdRule,
)
from orchestration_project.operations.healing import Healer
from orchestration_project.operations.monitoring import evaluate_alerts

NOW = datetime.now(UTC)


@dg.asset
def fetch_prices() -> int:
    raise ConnectionRefusedError("connection refused by the price service")


def _events(entity_ok: dict[str, list[bool]], dimension_at: datetime) -> pd.DataFrame:
    rows = []
    for entity, oks in entity_ok.items():
        for i, ok in enumerate(oks):
            rows.append(
                {
                    "at": dimension_at - timedelta(minutes=len(oks) - i),
                    "entity": entity,
                    "ok": ok,
                    "latency_s": 1.0,
                }
            )
    return pd.DataFrame(rows)


RULES = [
    ThresholdRule("asset_failing", "asset", "success_rate", "<=", 0.0, severity="critical"),
    ThresholdRule("asset_errors", "asset", "error_rate", ">", 0.2),
    ThresholdRule("route_errors", "route", "error_rate", ">", 0.2),
]


@pytest.fixture
def failed_incident(tmp_path: Path):  # noqa: ANN201
    """A healer holding one real failure incident (transient) of asset fetch_prices."""
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        result = dg.materialize([fetch_prices], instance=instance, raise_on_error=False)
        healer = Healer(CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}"))
        incident = healer.on_run_failure(instance, result.run_id)
        yield healer, incident


def test_alerts_about_a_failed_asset_are_confirmed_and_others_judged_false(
    failed_incident,
) -> None:
    healer, incident = failed_incident
    assert incident.failure_class == "transient_network"
    manager = AlertManager(InMemoryAlertStore())
    events = {
        "asset": _events({"fetch_prices": [False] * 4, "noisy_asset": [True, False, False]}, NOW),
        "route": _events({"http": [False, False, True, True]}, NOW),
    }
    out = evaluate_alerts(
        events=events, manager=manager, healer=healer, now=NOW, rules=RULES, grace=timedelta(0)
    )
    by_subject = {(r.subject_kind, r.subject): r for r in manager.store.records()}
    # The failed asset's alerts and the route alert are confirmed by the network incident.
    assert by_subject[("asset", "fetch_prices")].verdict is True
    assert by_subject[("route", "http")].verdict is True
    # noisy_asset never failed in an incident: still firing, so not judged yet.
    assert by_subject[("asset", "noisy_asset")].verdict is None
    # A critical alert about an asset that a failure incident already covers opens nothing.
    assert out.incidents_opened == []

    # Later the noisy asset recovers: its alert resolves and, unconfirmed, is judged false.
    later = NOW + timedelta(minutes=5)
    events["asset"] = _events({"noisy_asset": [True] * 5, "fetch_prices": [False] * 4}, later)
    evaluate_alerts(
        events=events, manager=manager, healer=healer, now=later, rules=RULES, grace=timedelta(0)
    )
    noisy = [r for r in manager.store.records() if r.subject == "noisy_asset"]
    assert noisy and all(r.verdict is False for r in noisy)
    fp = manager.false_positive_rate()
    assert fp.false == len(noisy) and fp.true >= 2
    assert fp.rate == pytest.approx(fp.false / (fp.true + fp.false))


def test_a_critical_alert_opens_an_incident_that_resolves_with_the_alert(tmp_path: Path) -> None:
    healer = Healer(CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}"))
    manager = AlertManager(InMemoryAlertStore())
    events = {"asset": _events({"report_writer": [False, False, False]}, NOW)}
    out = evaluate_alerts(events=events, manager=manager, healer=healer, now=NOW, rules=RULES)
    assert len(out.incidents_opened) == 1
    inc = healer.incident(out.incidents_opened[0])
    assert (inc.source, inc.subject_kind, inc.subject, inc.status) == (
        "alert",
        "asset",
        "report_writer",
        "open",
    )
    # Firing again: deduplicated, no second incident.
    again = evaluate_alerts(events=events, manager=manager, healer=healer, now=NOW, rules=RULES)
    assert again.incidents_opened == [] and again.notifications == []
    # The asset recovers: the alert resolves and so does its incident.
    later = NOW + timedelta(minutes=10)
    events = {"asset": _events({"report_writer": [True] * 4}, later)}
    done = evaluate_alerts(events=events, manager=manager, healer=healer, now=later, rules=RULES)
    assert done.incidents_resolved == [inc.incident_id]
    assert healer.incident(inc.incident_id).status == "resolved"


@dg.asset(check_specs=[dg.AssetCheckSpec("prices_complete", asset="partial_prices")])
def partial_prices():  # noqa: ANN201
    yield dg.Output(3)
    yield dg.AssetCheckResult(check_name="prices_complete", passed=False)


def test_a_failed_check_incident_confirms_alerts_about_its_asset_not_the_routes(
    tmp_path: Path,
) -> None:
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert dg.materialize([partial_prices], instance=instance).success
        healer = Healer(CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}"))
        [incident] = healer.scan_checks(instance)
        assert (incident.source, incident.failure_class) == ("asset_check", "upstream_data")
        manager = AlertManager(InMemoryAlertStore())
        events = {
            "asset": _events({"partial_prices": [True, False, False]}, NOW),
            "route": _events({"http": [False, False, True, True]}, NOW),
        }
        evaluate_alerts(
            events=events, manager=manager, healer=healer, now=NOW, rules=RULES, grace=timedelta(0)
        )
        by_subject = {(r.subject_kind, r.subject): r for r in manager.store.records()}
        assert by_subject[("asset", "partial_prices")].verdict is True
        # Bad data is not a network failure: the route alert stays unconfirmed.
        assert by_subject[("route", "http")].verdict is None
