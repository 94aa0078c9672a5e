"""Alerting rules and the alert manager: thresholds, burn rates, anomalies, deduplication,
resolution, cooldown, grouping, verdicts and warehouse persistence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.health import health_metrics
from orchestration_project.operations.alerting import (
    Alert,
    AlertManager,
    AnomalyRule,
    BurnRateRule,
    InMemoryAlertStore,
    ThresholdRule,
    WarehouseAlertStore,
    default_rules,
    evaluate_rules,
)
from resources.warehouse import DuckDBWarehouse

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _events(spec: list[tuple[timedelta, bool, float]], entity: str = "e") -> pd.DataFrame:
    """An event frame from (age before NOW, ok, latency) triples."""
    return pd.DataFrame(
        [{"at": NOW - age, "entity": entity, "ok": ok, "latency_s": lat} for age, ok, lat in spec]
    )


def _steady(
    entity: str = "route_a", *, hours: float = 24, every_s: int = 30, seed: int = 1
) -> pd.DataFrame:
    """Healthy traffic: one event every ``every_s`` seconds, latency uniform in [0.9, 1.1] s."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 / every_s)
    ages = [timedelta(seconds=every_s * i + 1) for i in range(n)]
    return pd.DataFrame(
        {
            "at": [NOW - a for a in ages],
            "entity": entity,
            "ok": True,
            "latency_s": rng.uniform(0.9, 1.1, n),
        }
    )


def _alert(
    rule: str = "r1",
    subject: str = "job_a",
    severity: str = "warning",
    *,
    subject_kind: str = "job",
    at: datetime = NOW,
) -> Alert:
    return Alert(
        rule=rule,
        kind="threshold",
        severity=severity,  # type: ignore[arg-type]
        subject_kind=subject_kind,
        subject=subject,
        value=0.5,
        threshold=0.9,
        message="success_rate 0.5 < 0.9",
        at=at,
    )


# -- Alert ------------------------------------------------------------------------------------


def test_fingerprint_depends_on_rule_and_subject_only() -> None:
    a = _alert(severity="warning", at=NOW)
    b = _alert(severity="critical", at=NOW + timedelta(hours=1))
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != _alert(rule="r2").fingerprint
    assert a.fingerprint != _alert(subject="job_b").fingerprint
    assert a.fingerprint != _alert(subject_kind="asset").fingerprint


def test_alert_rejects_unknown_severity_and_normalises_time_to_utc() -> None:
    with pytest.raises(ValueError):
        _alert(severity="urgent")
    naive = _alert(at=datetime(2026, 1, 1, 8, 0))
    assert naive.at.tzinfo is not None and naive.at.utcoffset() == timedelta(0)


# -- ThresholdRule ----------------------------------------------------------------------------


def test_threshold_rule_fires_per_entity_below_the_limit_with_enough_events() -> None:
    ev = pd.concat(
        [
            _events([(timedelta(minutes=5 * i), i >= 3, 1.0) for i in range(6)], "bad"),  # 50 %
            _events([(timedelta(minutes=5 * i), True, 1.0) for i in range(6)], "good"),
            _events(
                [(timedelta(minutes=5), False, 1.0), (timedelta(minutes=9), False, 1.0)], "few"
            ),
        ]
    )
    health = health_metrics(ev, dimension="job", now=NOW)
    rule = ThresholdRule("job_success_rate", "job", "success_rate", "<", 0.9, window="1h")
    alerts = rule.evaluate(events={"job": ev}, health=health, now=NOW)
    assert [a.subject for a in alerts] == ["bad"]  # "few" has 2 events < min_events=3
    (a,) = alerts
    assert (a.kind, a.subject_kind, a.severity) == ("threshold", "job", "warning")
    assert a.value == pytest.approx(0.5) and a.threshold == 0.9 and a.at == NOW
    assert "success_rate" in a.message and "6 events" in a.message
    # The other direction and another window.
    rule_gt = ThresholdRule("job_errors", "job", "error_rate", ">", 0.4, window="24h", min_events=1)
    fired = rule_gt.evaluate(events={"job": ev}, health=health, now=NOW)
    assert sorted(a.subject for a in fired) == ["bad", "few"]


def test_threshold_rule_ignores_other_dimensions_and_rejects_unknown_operators() -> None:
    ev = _events([(timedelta(minutes=i), False, 1.0) for i in range(5)])
    health = health_metrics(ev, dimension="route", now=NOW)
    rule = ThresholdRule("job_success_rate", "job", "success_rate", "<", 0.9)
    assert rule.evaluate(events={}, health=health, now=NOW) == []
    with pytest.raises(ValueError):
        ThresholdRule("x", "job", "success_rate", "!=", 0.9)


# -- BurnRateRule -----------------------------------------------------------------------------


def _traffic(
    failing: Callable[[int], bool], *, minutes: int = 360, per_minute: int = 1
) -> pd.DataFrame:
    """One event per minute over the last ``minutes``; ``failing(i)`` says if event i failed."""
    spec = [
        (timedelta(minutes=i, seconds=j), not failing(i), 1.0)
        for i in range(minutes)
        for j in range(per_minute)
    ]
    return _events(spec, "api")


def test_burn_rate_fires_critical_on_a_fast_burn() -> None:
    ev = _traffic(lambda i: i < 60 and i % 4 == 0)  # 25 % errors in the last hour, none before
    rule = BurnRateRule("burn", "route", slo_target=0.99)
    (a,) = rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW)
    assert (a.kind, a.severity, a.subject) == ("burn_rate", "critical", "api")
    assert a.value == pytest.approx(25.0, rel=0.1) and a.threshold == 14.4


def test_burn_rate_slower_burn_pages_the_lower_tier() -> None:
    ev = _traffic(lambda i: i % 10 == 0)  # 10 %: 10x the budget, above 6 but below 14.4
    rule = BurnRateRule("burn", "route", slo_target=0.99)
    (a,) = rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW)
    assert a.severity == "warning" and a.threshold == 6.0


def test_burn_rate_quiet_on_a_slow_trickle_within_budget() -> None:
    ev = _traffic(lambda i: i % 100 == 0)  # 1 %: exactly the budget, burn rate ≈ 1
    rule = BurnRateRule("burn", "route", slo_target=0.99)
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW) == []


def test_burn_rate_resets_when_the_short_window_is_clean() -> None:
    rule = BurnRateRule("burn", "route", slo_target=0.99)
    burning = _traffic(lambda i: i < 35, minutes=60)
    (a,) = rule.evaluate(events={"route": burning}, health=pd.DataFrame(), now=NOW)
    assert a.severity == "critical"
    # Half the last hour failed, but not the last 5 minutes: the 1h/5m tier resets at once,
    # the 6h/30m tier still sees failures in its short window.
    ev = _traffic(lambda i: 5 <= i < 35, minutes=60)
    (a,) = rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW)
    assert a.severity == "warning"
    # Nothing failed in the last 30 minutes: both tiers are quiet although the hour is bad.
    ev = _traffic(lambda i: 30 <= i < 60, minutes=60)
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW) == []


def test_burn_rate_min_events_guard() -> None:
    ev = _events([(timedelta(minutes=1), False, 1.0), (timedelta(minutes=2), False, 1.0)], "api")
    rule = BurnRateRule("burn", "route", slo_target=0.99, min_events=10)
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW) == []
    loose = BurnRateRule("burn", "route", slo_target=0.99, min_events=2)
    assert len(loose.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW)) == 1


def test_burn_rate_ignores_events_after_now() -> None:
    ev = pd.concat(
        [
            _traffic(lambda i: False, minutes=60),
            _events([(-timedelta(minutes=1 + i / 10), False, 1.0) for i in range(50)], "api"),
        ]
    )
    rule = BurnRateRule("burn", "route")
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW) == []


# -- AnomalyRule ------------------------------------------------------------------------------


def _spike(ev: pd.DataFrame, start: datetime, end: datetime, latency: float) -> pd.DataFrame:
    out = ev.copy()
    out.loc[(out["at"] >= start) & (out["at"] < end), "latency_s"] = latency
    return out


def test_anomaly_rule_detects_a_latency_spike_in_the_newest_bucket() -> None:
    ev = _spike(_steady(), NOW - timedelta(minutes=5), NOW, 10.0)
    rule = AnomalyRule("route_latency", "route", "latency", bucket="5min")
    (a,) = rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW)
    assert (a.kind, a.subject, a.subject_kind) == ("anomaly", "route_a", "route")
    assert a.at == NOW - timedelta(minutes=5)  # the bucket the anomaly is in
    assert a.value >= rule.threshold and "10 s" in a.message


def test_anomaly_rule_ignores_a_departure_smaller_than_min_change() -> None:
    """The same anomalous bucket alerts or not by how far it is from the typical value: a few
    tenths of a second on a shared machine is not worth a page."""
    typical = float(_steady()["latency_s"].median())
    small = _spike(_steady(), NOW - timedelta(minutes=5), NOW, typical + 0.3)
    large = _spike(_steady(), NOW - timedelta(minutes=5), NOW, typical + 2.0)
    plain = AnomalyRule("route_latency", "route", "latency", bucket="5min")
    floor = AnomalyRule("route_latency", "route", "latency", bucket="5min", min_change=1.0)
    assert len(plain.evaluate(events={"route": small}, health=pd.DataFrame(), now=NOW)) == 1
    assert floor.evaluate(events={"route": small}, health=pd.DataFrame(), now=NOW) == []
    assert len(floor.evaluate(events={"route": large}, health=pd.DataFrame(), now=NOW)) == 1
    with pytest.raises(ValueError, match="min_change"):
        AnomalyRule("x", "route", "latency", min_change=-1)


def test_anomaly_rule_is_quiet_on_steady_latency_evaluated_every_few_minutes() -> None:
    ev = _steady()
    rule = AnomalyRule("route_latency", "route", "latency", bucket="5min")
    since = None
    fired = []
    for k in range(60, -1, -1):  # the last five hours, evaluated every 5 minutes
        now = NOW - timedelta(minutes=5 * k)
        fired += rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=now, since=since)
        since = now
    assert fired == []


def test_anomaly_rule_has_no_look_ahead() -> None:
    # The spike is in the bucket still open at `now` (and in events after `now`).
    ev = _spike(_steady(), NOW - timedelta(minutes=4), NOW + timedelta(minutes=30), 10.0)
    ev = pd.concat(
        [ev, _events([(-timedelta(minutes=m), True, 50.0) for m in range(1, 20)], "route_a")]
    )
    rule = AnomalyRule("route_latency", "route", "latency", bucket="5min")
    now = NOW - timedelta(minutes=1)  # the bucket [11:55, 12:00) is not closed yet
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=now) == []
    series = rule.series(ev, now=now)["route_a"]
    assert series.index[-1] == NOW - timedelta(minutes=10)  # newest closed bucket: 11:50
    # Once the bucket has closed it is judged.
    assert len(rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW)) == 1


def test_anomaly_rule_judges_only_buckets_closed_since_the_previous_evaluation() -> None:
    ev = _spike(_steady(), NOW - timedelta(minutes=20), NOW - timedelta(minutes=15), 10.0)
    rule = AnomalyRule("route_latency", "route", "latency", bucket="5min")
    # Judging just the newest bucket misses it; judging those since 30 min ago finds it.
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW) == []
    since = NOW - timedelta(minutes=30)
    (a,) = rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW, since=since)
    assert a.at == NOW - timedelta(minutes=20)
    # Already judged at an evaluation after the bucket closed: not judged again.
    later = NOW - timedelta(minutes=14)
    assert rule.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW, since=later) == []


def test_latency_drop_is_not_an_incident_but_a_throughput_drop_is() -> None:
    ev = _spike(_steady(), NOW - timedelta(minutes=5), NOW, 0.01)
    lat = AnomalyRule("route_latency", "route", "latency")
    assert lat.evaluate(events={"route": ev}, health=pd.DataFrame(), now=NOW) == []
    quiet = _steady()
    quiet = quiet[quiet["at"] < NOW - timedelta(minutes=5)]  # no traffic in the newest bucket
    thr = AnomalyRule("route_throughput", "route", "throughput")
    (a,) = thr.evaluate(events={"route": quiet}, health=pd.DataFrame(), now=NOW)
    assert "events 0" in a.message


# -- evaluate_rules / default_rules -----------------------------------------------------------


def test_default_rules_work_for_any_dimension_and_entity_name() -> None:
    jobs = _events(
        [(timedelta(minutes=10 * i), i % 2 == 0, 60.0) for i in range(30)], "nightly_etl"
    )
    assets = _events([(timedelta(minutes=7 * i), False, 3.0) for i in range(4)], "customers__load")
    agents = _events([(timedelta(minutes=i), True, 0.5) for i in range(20)], "summariser")
    routes = _steady("GET /api/v2/things")
    events = {"job": jobs, "asset": assets, "agent": agents, "route": routes}
    alerts = evaluate_rules(default_rules(), events=events, now=NOW)
    found = {(a.rule, a.subject) for a in alerts}
    assert ("job_success_rate", "nightly_etl") in found
    assert ("asset_failing", "customers__load") in found
    assert ("asset_failures", "customers__load") in found
    assert not any(a.subject in ("summariser", "GET /api/v2/things") for a in alerts)
    assert len({r.name for r in default_rules()}) == len(default_rules())


# -- AlertManager -----------------------------------------------------------------------------


def test_same_alert_twice_is_notified_once_and_counted_twice() -> None:
    store = InMemoryAlertStore()
    mgr = AlertManager(store)
    first = mgr.process([_alert()], now=NOW)
    second = mgr.process([_alert(at=NOW + timedelta(minutes=5))], now=NOW + timedelta(minutes=5))
    assert len(first) == 1 and second == []
    (rec,) = store.records()
    assert rec.count == 2 and rec.status == "firing"
    assert rec.last_at == NOW + timedelta(minutes=5) and rec.notified_at == NOW
    assert mgr.last_summary is not None and mgr.last_summary.deduplicated == 1


def test_duplicates_within_one_evaluation_collapse() -> None:
    mgr = AlertManager(InMemoryAlertStore())
    (n,) = mgr.process([_alert(), _alert()], now=NOW)
    assert len(n.alerts) == 1


def test_a_firing_alert_absent_from_an_evaluation_is_resolved() -> None:
    store = InMemoryAlertStore()
    mgr = AlertManager(store)
    mgr.process([_alert("r1"), _alert("r2")], now=NOW)
    mgr.process([_alert("r1")], now=NOW + timedelta(minutes=5))
    status = {r.rule: (r.status, r.resolved_at) for r in store.records()}
    assert status["r1"] == ("firing", None)
    assert status["r2"] == ("resolved", NOW + timedelta(minutes=5))
    assert mgr.last_summary is not None and mgr.last_summary.resolved == 1


def test_flapping_within_the_cooldown_is_suppressed_then_notified_after_it() -> None:
    store = InMemoryAlertStore()
    mgr = AlertManager(store, cooldown=timedelta(minutes=30))
    t = NOW
    assert len(mgr.process([_alert()], now=t)) == 1
    mgr.process([], now=t + timedelta(minutes=5))  # resolved
    assert mgr.process([_alert()], now=t + timedelta(minutes=10)) == []  # reopened silently
    (rec,) = store.records()
    assert (rec.status, rec.suppressed, rec.count) == ("firing", 1, 2)
    mgr.process([], now=t + timedelta(minutes=15))  # resolved again at +15
    # 31 minutes after the last resolution the alert is news again: a new episode, notified.
    (n,) = mgr.process([_alert()], now=t + timedelta(minutes=46))
    records = sorted(store.records(), key=lambda r: r.first_at)
    assert len(records) == 2 and records[1].alert_id == n.alert_ids[0]
    assert records[0].status == "resolved" and records[1].status == "firing"


def test_escalation_of_a_firing_alert_is_notified() -> None:
    mgr = AlertManager(InMemoryAlertStore())
    mgr.process([_alert(severity="warning")], now=NOW)
    (n,) = mgr.process([_alert(severity="critical")], now=NOW + timedelta(minutes=5))
    assert n.severity == "critical"
    assert mgr.process([_alert(severity="critical")], now=NOW + timedelta(minutes=10)) == []


def test_alerts_about_one_subject_form_one_notification_at_the_max_severity() -> None:
    mgr = AlertManager(InMemoryAlertStore())
    batch = [
        _alert("success_rate", "job_a", "warning"),
        _alert("burn", "job_a", "critical"),
        _alert("latency", "job_a", "info"),
    ]
    (n,) = mgr.process(batch, now=NOW)
    assert n.severity == "critical" and (n.subject_kind, n.subject) == ("job", "job_a")
    assert [a.rule for a in n.alerts] == ["burn", "success_rate", "latency"]
    assert len(set(n.alert_ids)) == 3 and "3 alerts" in n.title
    two = AlertManager(InMemoryAlertStore()).process(
        [_alert("r", "job_a"), _alert("r", "job_b", "critical")], now=NOW
    )
    assert [(x.subject, x.severity) for x in two] == [("job_b", "critical"), ("job_a", "warning")]


def test_verdicts_and_the_measured_false_positive_rate() -> None:
    store = InMemoryAlertStore()
    mgr = AlertManager(store)
    notes = mgr.process([_alert("r1"), _alert("r2"), _alert("r3"), _alert("r4")], now=NOW)
    ids = {a.rule: i for a, i in zip(notes[0].alerts, notes[0].alert_ids, strict=True)}
    assert mgr.false_positive_rate().rate is None
    assert mgr.mark([ids["r1"]], True, "INC-1") == [ids["r1"]]
    mgr.mark(_alert("r2").fingerprint, False, None)  # by fingerprint: its latest episode
    with pytest.raises(KeyError):
        mgr.mark(["no-such-alert"], True, None)
    mgr.process([_alert("r4")], now=NOW + timedelta(minutes=5))  # r3 resolves, r4 keeps firing
    # Too early: nothing expires. After the grace, the unconfirmed resolved r3 counts as false.
    assert mgr.expire_unconfirmed(NOW + timedelta(hours=1), grace=timedelta(hours=24)) == []
    assert mgr.expire_unconfirmed(NOW + timedelta(days=2), grace=timedelta(hours=24)) == [ids["r3"]]
    fp = mgr.false_positive_rate()
    assert (fp.true, fp.false, fp.unconfirmed) == (1, 2, 1)
    assert fp.rate == pytest.approx(2 / 3)
    assert mgr.false_positive_rate(rule="r1").rate == 0.0
    by_id = {r.alert_id: r for r in store.records()}
    assert by_id[ids["r1"]].incident_id == "INC-1"


def test_an_incident_confirms_the_alerts_about_its_subject_in_its_time_span() -> None:
    mgr = AlertManager(InMemoryAlertStore())
    mgr.process([_alert("r1", "job_a"), _alert("r1", "job_b")], now=NOW)
    marked = mgr.confirm_incident(
        "INC-7", subject_kind="job", subject="job_a", start=NOW - timedelta(minutes=10), end=NOW
    )
    assert len(marked) == 1
    fp = mgr.false_positive_rate()
    assert (fp.true, fp.false, fp.unconfirmed) == (1, 0, 1)


def test_warehouse_store_keeps_state_across_managers(tmp_path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    first = AlertManager(WarehouseAlertStore(wh))
    assert first.last_evaluated_at() is None
    assert len(first.process([_alert("r1"), _alert("r2", "job_b")], now=NOW)) == 2

    # A separate run: a fresh manager on the same warehouse deduplicates against stored state.
    second = AlertManager(WarehouseAlertStore(wh))
    assert second.last_evaluated_at() == NOW
    t2 = NOW + timedelta(minutes=5)
    assert second.process([_alert("r1", at=t2)], now=t2) == []
    rows = wh.read_table("alerts", schema="operations").set_index("subject")
    expected = {"alert_id", "fingerprint", "rule", "kind", "severity", "subject_kind", "value"}
    expected |= {"threshold", "message", "first_at", "last_at", "count", "status", "resolved_at"}
    expected |= {"notified_at", "suppressed", "verdict", "incident_id"}
    assert expected <= set(rows.reset_index().columns)
    assert rows.loc["job_a", "count"] == 2 and rows.loc["job_a", "status"] == "firing"
    assert rows.loc["job_b", "status"] == "resolved"

    third = AlertManager(WarehouseAlertStore(wh))
    (rid,) = third.mark(_alert("r2", "job_b").fingerprint, False, None)
    third.mark([rows.loc["job_a", "alert_id"]], True, "INC-9")
    fp = AlertManager(WarehouseAlertStore(wh)).false_positive_rate()
    assert (fp.true, fp.false, fp.rate) == (1, 1, 0.5)
    records = {r.alert_id: r for r in WarehouseAlertStore(wh).records()}
    assert records[rid].verdict is False and records[rid].resolved_at == t2
    assert records[rows.loc["job_a", "alert_id"]].incident_id == "INC-9"
    log = wh.read_table("alert_evaluations", schema="operations")
    assert len(log) == 2 and list(log["opened"]) == [2, 0]


def test_evaluate_then_process_end_to_end_with_since_from_the_store() -> None:
    ev = _spike(_steady(), NOW - timedelta(minutes=5), NOW, 10.0)
    rules = [AnomalyRule("route_latency", "route", "latency")]
    mgr = AlertManager(InMemoryAlertStore())
    t0 = NOW - timedelta(minutes=5)
    mgr.process(evaluate_rules(rules, events={"route": ev}, now=t0), now=t0)
    since = mgr.last_evaluated_at()
    assert since == t0
    (n,) = mgr.process(evaluate_rules(rules, events={"route": ev}, now=NOW, since=since), now=NOW)
    assert n.subject == "route_a" and n.alerts[0].kind == "anomaly"
