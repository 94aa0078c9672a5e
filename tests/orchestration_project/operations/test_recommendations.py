"""Self-healing recommendations: the rules on small frames, the review queue on a real SQLite
coordination store, and the whole loop on real failed Dagster runs (the healing test job of
``test_healing``): incidents → ``config_recommendations`` → approval → a setting that changes
what the healer and the jobs do next."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from assets.operations.assets import run_metadata
from assets.operations.recommendations import config_recommendations
from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.healing import (
    LOWER_CONCURRENCY,
    REEXECUTE,
    Healer,
    Incident,
    OpsSettings,
    RemedyPolicy,
    overrides_table,
    review_table,
    settings_table,
)
from orchestration_project.operations.recommendations import (
    CONCURRENCY_DEFAULT,
    FETCH_TIMEOUT,
    RETRY_BUDGET,
    Recommendation,
    check_value,
    concurrency_recommendations,
    fetch_timeout_recommendations,
    recommend,
    recommendation_id,
    retry_budget_recommendations,
    setting_key,
)
from orchestration_project.operations.review import ReviewQueue, current_settings
from orchestration_project.operations.run_metadata import SCHEMA
from resources.coordination import CoordinationResource
from resources.fetching import HttpFetcher
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests import reexecution
from tests.orchestration_project.operations.test_healing import (
    JOB,
    healing_job_def,
    run_config,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
INCIDENT_COLUMNS = ["incident_id", "source", "job_name", "status", "attempts", "consistency"]


def incidents(rows: list[tuple], *, failure_class: str = "transient_network") -> pd.DataFrame:
    """Incidents of the last day: (id, job, status, attempts[, consistency])."""
    df = pd.DataFrame(
        [(i, "run_failure", job, st, n, c[0] if c else None) for i, job, st, n, *c in rows],
        columns=INCIDENT_COLUMNS,
    )
    df["failure_at"] = pd.Timestamp(NOW - timedelta(hours=2))
    df["failure_class"] = failure_class
    return df


def actions(rows: list[tuple]) -> pd.DataFrame:
    """Actions: (incident, action, detail[, hours ago])."""
    return pd.DataFrame(
        [
            {
                "incident_id": inc,
                "action": act,
                "detail": detail,
                "at": pd.Timestamp(NOW - timedelta(hours=h[0] if h else 1)),
            }
            for inc, act, detail, *h in rows
        ],
        columns=["incident_id", "action", "detail", "at"],
    )


NO_ACTIONS = actions([])


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


def test_a_budget_never_used_past_attempt_two_is_recommended_down_to_two() -> None:
    inc = incidents(
        [
            ("a", "nightly", "recovered", 1),
            ("b", "nightly", "recovered", 2),
            ("c", "nightly", "escalated", 4),
            ("d", "nightly", "escalated", 4),
            ("e", "nightly", "escalated", 0),  # escalated at once (bad input): not a retry
            ("f", "nightly", "escalated", 3, "failed"),  # recovered but failed its checks
        ]
    )
    # Re-executions 3 and 4 of c ran for 30 s each; d's runs are unknown to run metadata.
    acts = actions(
        [("c", REEXECUTE, {"attempt": a, "launched_run_id": f"c{a}"}) for a in (1, 2, 3, 4)]
    )
    runs = pd.DataFrame({"run_id": ["c1", "c2", "c3", "c4"], "duration_s": [5.0, 5.0, 30.0, 30.0]})

    [rec] = retry_budget_recommendations(inc, acts, {}, runs=runs, now=NOW)

    assert (rec.kind, rec.subject, rec.current, rec.proposed) == (RETRY_BUDGET, "nightly", 4, 2)
    assert rec.setting == "max_attempts:nightly"
    assert rec.evidence["counts"] == {
        "incidents": 4,
        "recovered": 2,
        "escalated": 2,
        "reexecutions": 11,
        "wasted_reexecutions": 4,
    }
    assert rec.evidence["recovered_by_attempt"] == {"1": 1, "2": 1}
    assert rec.evidence["incidents"] == ["a", "b", "c", "d"]
    assert rec.evidence["wasted_run_seconds"] == 60.0
    assert "none after re-execution 2" in rec.evidence["text"]
    assert "4 re-execution runs saved" in rec.effect and "60 s of run time" in rec.effect
    assert rec.confidence == pytest.approx(4 / 6, abs=0.01)


@pytest.mark.parametrize(
    ("rows", "settings", "why"),
    [
        (
            [("a", "j", "recovered", 1), ("b", "j", "escalated", 4), ("c", "j", "recovered", 4)],
            {},
            "a recovery needed all four re-executions",
        ),
        (
            [("a", "j", "recovered", 1), ("b", "j", "escalated", 4)],
            {},
            "two incidents are too few",
        ),
        (
            [("a", "j", "recovered", 1), ("b", "j", "recovered", 2), ("c", "j", "recovered", 1)],
            {},
            "nothing was ever wasted",
        ),
        (
            [("a", "j", "recovered", 2), ("b", "j", "escalated", 2), ("c", "j", "escalated", 2)],
            {"max_attempts:j": 2},
            "the budget is already two",
        ),
    ],
)
def test_no_retry_budget_is_recommended_without_evidence(rows, settings, why) -> None:
    assert retry_budget_recommendations(incidents(rows), NO_ACTIONS, settings, now=NOW) == [], why


def test_incidents_outside_the_window_are_not_evidence() -> None:
    inc = incidents(
        [("a", "j", "recovered", 1), ("b", "j", "escalated", 4), ("c", "j", "escalated", 4)]
    )
    assert len(retry_budget_recommendations(inc, NO_ACTIONS, {}, now=NOW)) == 1
    later = NOW + timedelta(days=30)
    assert retry_budget_recommendations(inc, NO_ACTIONS, {}, now=later) == []


def lowering(inc: str, job: str, before: int, after: int, hours_ago: float = 1) -> tuple:
    return (inc, LOWER_CONCURRENCY, {"job": job, "before": before, "after": after}, hours_ago)


def test_a_fan_out_the_healer_keeps_halving_gets_a_lower_default() -> None:
    inc = incidents(
        [("x", "crawl", "recovered", 1), ("y", "crawl", "recovered", 2), ("z", "crawl", "open", 1)],
        failure_class="resource_exhaustion",
    )
    acts = actions(
        [
            lowering("x", "crawl", 4, 2),
            lowering("y", "crawl", 4, 2),
            lowering("y", "crawl", 2, 1),
            lowering("z", "crawl", 4, 2),
            lowering("w", "other", 8, 4),  # another job, once: nothing for it
        ]
    )
    settings = {"default_parallel:crawl": 4, "max_parallel:crawl": 4}

    [rec] = concurrency_recommendations(inc, acts, settings, now=NOW)

    # x recovered at 2, y only at 1: the default that would have served both is 1.
    assert (rec.kind, rec.subject, rec.current, rec.proposed) == (
        CONCURRENCY_DEFAULT,
        "crawl",
        4,
        1,
    )
    assert rec.setting == "max_parallel:crawl"
    assert rec.evidence["counts"] == {"lowerings": 4, "incidents": 3, "recovered": 2}
    assert rec.evidence["lowest_by_incident"] == {"x": 2, "y": 1, "z": 2}
    assert rec.evidence["incidents"] == ["x", "y", "z"]


def test_no_lower_fan_out_is_recommended_for_rare_or_old_lowerings_or_one_already_applied() -> None:
    inc = incidents([("x", "crawl", "recovered", 1)], failure_class="resource_exhaustion")
    two = actions([lowering("x", "crawl", 4, 2), lowering("x", "crawl", 2, 1)])
    assert concurrency_recommendations(inc, two, {}, now=NOW) == []
    old = actions([lowering("x", "crawl", 4, 2, hours_ago=24 * 10) for _ in range(5)])
    assert concurrency_recommendations(inc, old, {}, now=NOW) == []
    recent = actions([lowering("x", "crawl", 4, 2) for _ in range(3)])
    assert len(concurrency_recommendations(inc, recent, {}, now=NOW)) == 1
    assert concurrency_recommendations(inc, recent, {"max_parallel:crawl": 2}, now=NOW) == []


def fetches(route: str, ok: list[float], timeouts: list[float], **extra: list[float]) -> list:
    rows = [(route, "ok", s) for s in ok] + [(route, "timeout", s) for s in timeouts]
    return rows + [(route, outcome, s) for outcome, ss in extra.items() for s in ss]


def fetch_frame(rows: list) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["route", "outcome", "latency_s"])
    df["attempted_at"] = pd.Timestamp(NOW - timedelta(hours=3))
    return df


def test_timeouts_at_the_limit_with_successes_close_to_it_raise_the_fetch_timeout() -> None:
    ok = [1.0] * 20 + [3.9, 4.0, 4.1, 4.2, 4.3]  # p99 ≈ 4.28 s against a 5 s limit
    rows = fetches("http", ok, [5.0, 5.01, 5.02, 5.0, 5.03, 5.0, 2.0], http_error=[0.1, 0.2])
    rows += fetches("browser", [1.0] * 30, [10.0] * 6)  # the browser's successes are quick
    inc = incidents([("t1", "market_research_job", "recovered", 1)], failure_class="timeout")

    [rec] = fetch_timeout_recommendations(
        fetch_frame(rows), {}, {"http": 5.0, "browser": 10.0}, incidents=inc, now=NOW
    )

    p99 = pd.Series(ok).quantile(0.99)
    assert (rec.kind, rec.subject, rec.current) == (FETCH_TIMEOUT, "http", 5.0)
    assert rec.proposed == round(p99 * 1.5, 1) == 6.4
    assert rec.setting == "fetch_timeout_s:http"
    assert rec.evidence["counts"] == {
        "attempts": 34,
        "timeouts": 7,
        "timeouts_at_limit": 6,
        "failed": 9,
        "ok": 25,
    }
    assert rec.evidence["incidents"] == ["t1"]
    assert "6 of 7 http timeouts ended at the 5 s limit" in rec.evidence["text"]


def test_no_fetch_timeout_is_recommended_when_timeouts_are_not_the_limit_or_pages_are_quick() -> (
    None
):
    quick_ok = fetches("http", [0.5] * 30, [5.0] * 10)
    early_timeouts = fetches("http", [4.5] * 30, [1.0] * 10)  # cut off by something else
    applied = fetches("http", [4.5] * 30, [5.0] * 10)
    assert fetch_timeout_recommendations(fetch_frame(quick_ok), {}, {"http": 5.0}, now=NOW) == []
    assert (
        fetch_timeout_recommendations(fetch_frame(early_timeouts), {}, {"http": 5.0}, now=NOW) == []
    )
    # Once 7 s is applied, the same history argues for nothing more.
    assert len(fetch_timeout_recommendations(fetch_frame(applied), {}, {"http": 5.0}, now=NOW))
    assert (
        fetch_timeout_recommendations(
            fetch_frame(applied), {"fetch_timeout_s:http": 7.0}, {"http": 5.0}, now=NOW
        )
        == []
    )


def test_a_proposed_timeout_stays_within_its_bounds() -> None:
    rows = fetches("browser", [100.0] * 25, [110.0] * 6)
    [rec] = fetch_timeout_recommendations(fetch_frame(rows), {}, {"browser": 110.0}, now=NOW)
    assert rec.proposed == 120.0


def test_nothing_is_recommended_from_a_quiet_history() -> None:
    inc = incidents([("a", "j", "recovered", 1)])
    quiet = fetch_frame(fetches("http", [0.3] * 50, []))
    assert recommend(inc, NO_ACTIONS, {}, fetch_attempts=quiet, fetch_timeouts={"http": 5.0}) == []
    empty = pd.DataFrame(columns=[*INCIDENT_COLUMNS, "failure_at", "failure_class"])
    assert recommend(empty, NO_ACTIONS, {}, fetch_attempts=fetch_frame([]), fetch_timeouts={}) == []


def test_ids_are_stable_per_kind_subject_and_value_and_values_are_bounded() -> None:
    a = recommendation_id(RETRY_BUDGET, "j", 2)
    assert (
        a == recommendation_id(RETRY_BUDGET, "j", 2.0) == Recommendation(RETRY_BUDGET, "j", 4, 2).id
    )
    assert a != recommendation_id(RETRY_BUDGET, "j", 3) != recommendation_id(RETRY_BUDGET, "k", 2)
    assert a != recommendation_id(CONCURRENCY_DEFAULT, "j", 2)
    assert check_value(FETCH_TIMEOUT, 6.44) == 6.4
    for kind, bad in [
        (RETRY_BUDGET, 0),
        (RETRY_BUDGET, 11),
        (RETRY_BUDGET, 2.5),
        (CONCURRENCY_DEFAULT, 65),
        (FETCH_TIMEOUT, 0.5),
        (FETCH_TIMEOUT, float("nan")),
        (FETCH_TIMEOUT, True),
        (FETCH_TIMEOUT, "7"),
    ]:
        with pytest.raises(ValueError, match=kind):
            check_value(kind, bad)
    with pytest.raises(ValueError, match="unknown recommendation kind 'pool_size'"):
        setting_key("pool_size", "warehouse")


# ---------------------------------------------------------------------------------------------
# The review queue
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> CoordinationStore:
    return CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")


def budget(proposed: int = 2, *, incidents: int = 4, job: str = "nightly") -> Recommendation:
    return Recommendation(
        RETRY_BUDGET,
        job,
        4,
        proposed,
        evidence={"counts": {"incidents": incidents}, "incidents": ["a"], "text": "t"},
        effect="fewer runs",
        confidence=0.6,
    )


def test_configured_settings_read_a_remedied_value_as_its_baseline(store) -> None:
    OpsSettings(store).set("max_parallel:crawl", 1, reason="override 1: incident x")
    with store.transaction() as conn:
        conn.execute(
            overrides_table.insert().values(
                key="max_parallel:crawl",
                kind="concurrency",
                value=1,
                baseline=4,
                set_at=NOW,
                status="active",
            )
        )
    assert current_settings(store) == {"max_parallel:crawl": 1}
    assert current_settings(store, configured=True) == {"max_parallel:crawl": 4}


def test_proposing_is_idempotent(store) -> None:
    queue = ReviewQueue(store)
    rec = budget()
    assert queue.propose(rec) == "queued"
    assert queue.propose(rec) == "pending"
    assert ReviewQueue(store).propose(budget(incidents=5)) == "pending"  # evidence refreshed
    [item] = queue.pending()
    assert (item.item_id, item.kind, item.subject, item.status) == (
        rec.id,
        RETRY_BUDGET,
        "nightly",
        "pending",
    )
    assert item.proposal["setting"] == "max_attempts:nightly" and item.proposal["proposed"] == 2
    assert item.evidence["counts"] == {"incidents": 5}
    assert len(queue.items()) == 1


def test_two_reviewers_approving_at_once_apply_it_once(store) -> None:
    """The second reviewer read the item while it was still pending: their approval finds it
    decided and changes nothing (claim, setting and record are one transaction)."""
    queue = ReviewQueue(store)
    rec = budget()
    queue.propose(rec)
    stale = queue.item(rec.id)  # what the second reviewer's screen shows
    queue.approve(rec.id, "ana", "first")
    late = ReviewQueue(store)
    late.item = lambda _id: stale  # type: ignore[method-assign]
    OpsSettings(store).set("max_attempts:nightly", 3, reason="an operator, after ana")
    with pytest.raises(ValueError, match="decided meanwhile"):
        late.approve(rec.id, "bo", "second")
    assert OpsSettings(store).get("max_attempts:nightly") == 3  # bo's approval wrote nothing
    item = queue.item(rec.id)
    assert (item.status, item.reviewer, item.note) == ("applied", "ana", "first")


def test_an_approval_that_fails_half_way_leaves_the_item_pending(store) -> None:
    """Writing the setting fails (here a trigger refuses it): nothing of the approval stays —
    the item is still pending, not claimed and unapplied."""
    queue = ReviewQueue(store)
    rec = budget()
    queue.propose(rec)
    with store.transaction() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse_settings BEFORE INSERT ON ops_settings "
            "BEGIN SELECT RAISE(ABORT, 'settings store refused the write'); END"
        )
    with pytest.raises(sa.exc.IntegrityError, match="refused the write"):
        queue.approve(rec.id, "ana", "looks right")
    item = queue.item(rec.id)
    assert (item.status, item.reviewer) == ("pending", None)
    assert OpsSettings(store).get("max_attempts:nightly") is None


def test_approving_applies_the_setting_and_records_who_when_and_why(store) -> None:
    clock_at = [NOW]
    queue = ReviewQueue(store, clock=lambda: clock_at[0])
    rec = budget()
    queue.propose(rec)
    settings = OpsSettings(store)
    settings.set("max_attempts:nightly", 4, reason="initial")
    clock_at[0] = NOW + timedelta(hours=1)

    item = queue.approve(rec.id, "ana", "matches what we saw")

    assert settings.get("max_attempts:nightly") == 2
    assert current_settings(store)["max_attempts:nightly"] == 2
    assert (item.status, item.reviewer, item.note) == ("applied", "ana", "matches what we saw")
    assert item.applied_at == item.decided_at == NOW + timedelta(hours=1)
    assert (item.proposal["applied"], item.proposal["replaced"]) == (2, 4)
    with store.read() as conn:
        reason = conn.execute(
            sa.select(settings_table.c.reason).where(settings_table.c.key == rec.setting)
        ).scalar()
    assert rec.id in reason and "ana" in reason
    assert queue.pending() == []
    assert queue.propose(rec) == "applied"  # found again later: nothing to do
    with pytest.raises(ValueError, match="applied, not pending"):
        queue.approve(rec.id, "bo")
    with pytest.raises(KeyError):
        queue.approve("rec-nope", "bo")


def test_approving_replaces_an_active_remedy_override_of_the_same_setting(store) -> None:
    queue = ReviewQueue(store)
    rec = Recommendation(CONCURRENCY_DEFAULT, "crawl", 4, 2, evidence={"counts": {"n": 3}})
    with store.transaction() as conn:
        conn.execute(
            overrides_table.insert().values(
                key="max_parallel:crawl",
                kind="concurrency",
                value=1,
                baseline=4,
                set_at=NOW,
                rule={"quiet_runs": 3},
                status="active",
            )
        )
    queue.propose(rec)
    queue.approve(rec.id, "ana")
    with store.read() as conn:
        row = conn.execute(sa.select(overrides_table)).first()
    assert row.status == "replaced" and rec.id in row.end_reason
    assert OpsSettings(store).max_parallel("crawl", 4) == 2


def test_a_rejected_recommendation_returns_only_when_its_evidence_grew_materially(store) -> None:
    queue = ReviewQueue(store)
    rec = budget(incidents=4)
    queue.propose(rec)
    item = queue.reject(rec.id, "bo", "a release fixes it")
    assert (item.status, item.reviewer, item.note) == ("rejected", "bo", "a release fixes it")
    assert item.decided_at is not None and item.applied_at is None
    assert OpsSettings(store).get("max_attempts:nightly") is None

    assert queue.propose(budget(incidents=4)) == "rejected"
    assert queue.propose(budget(incidents=5)) == "rejected"  # one more is not material
    assert queue.pending() == []
    assert queue.propose(budget(incidents=6)) == "requeued"  # half as much again
    [again] = queue.pending()
    assert again.item_id == rec.id and again.reviewer is None
    assert again.evidence["previous_decision"]["note"] == "a release fixes it"
    assert again.evidence["previous_decision"]["counts"] == {"incidents": 4}
    assert queue.reject(rec.id, "bo", "still no").status == "rejected"
    with pytest.raises(ValueError, match="rejected, not pending"):
        queue.reject(rec.id, "bo")
    with pytest.raises(KeyError):
        queue.reject("rec-nope", "bo")


def test_a_new_value_for_the_same_setting_supersedes_the_pending_one(store) -> None:
    queue = ReviewQueue(store)
    two, one = budget(2), budget(1)
    queue.propose(two)
    assert queue.propose(one) == "queued"
    assert [i.item_id for i in queue.pending()] == [one.id]
    assert queue.item(two.id).status == "superseded"
    assert queue.propose(budget(2, job="other")) == "queued"  # another subject is independent
    assert len(queue.pending()) == 2


def test_out_of_bounds_values_and_unknown_kinds_are_refused(store) -> None:
    queue = ReviewQueue(store)
    with pytest.raises(ValueError, match="outside the bounds"):
        queue.propose(budget(0))
    with pytest.raises(ValueError, match="unknown recommendation kind"):
        queue.propose(Recommendation("pool_size", "warehouse", 1, 2))
    assert queue.items().empty
    # Rows changed behind the queue's back are refused when applied, and nothing changes.
    rec = budget()
    queue.propose(rec)
    for values, error in [
        ({"proposal": {"setting": rec.setting, "proposed": 50}}, "outside the bounds"),
        ({"kind": "pool_size"}, "unknown recommendation kind"),
    ]:
        with store.transaction() as conn:
            conn.execute(
                review_table.update().where(review_table.c.item_id == rec.id).values(**values)
            )
        with pytest.raises(ValueError, match=error):
            queue.approve(rec.id, "ana")
        assert queue.item(rec.id).status == "pending"
    assert current_settings(store) == {}
    with pytest.raises(ValueError, match="reviewer"):
        queue.approve(rec.id, "")


# ---------------------------------------------------------------------------------------------
# End to end: real failed runs → incidents → the asset → approval → what happens next
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster"))) as inst:
        yield inst


@pytest.fixture
def launcher(instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setitem(reexecution.JOB_FACTORIES, JOB, healing_job_def)
    return reexecution.in_process_launcher(instance)


def incident_cycle(instance, healer: Healer, launch, error: str, failing_attempts: int) -> Incident:
    """A real failed run of the healing test job, healed until recovered or escalated."""
    result = dg.execute_job(
        dg.reconstructable(healing_job_def),
        instance,
        run_config=run_config(error, failing_attempts),
        raise_on_error=False,
    )
    assert not result.success
    inc = healer.on_run_failure(instance, result.run_id)
    while inc.status == "remediating":
        [run_id] = reexecution.run_due(healer, instance, launch)
        if instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE:
            inc = healer.on_run_failure(instance, run_id)
        else:
            [inc] = healer.check_recoveries(instance)
    return inc


def materialise_recommendations(
    instance, store_url: str, tmp_path: Path
) -> dg.AssetMaterialization:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    result = dg.materialize(
        [run_metadata, config_recommendations],
        instance=instance,
        resources={
            "coordination": CoordinationResource(url=store_url),
            "warehouse": warehouse,
            "io_manager": WarehouseIOManager(warehouse=warehouse),
            "http": HttpFetcher(),
        },
    )
    assert result.success
    return result.asset_materializations_for_node("config_recommendations")[0]


def test_a_fan_out_the_healer_kept_halving_is_lowered_for_good_once_approved(
    instance, launcher, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'coord.db'}"
    store = CoordinationStore(url)
    healer = Healer(store, policy=RemedyPolicy(backoff_base_s=0.0))
    settings = OpsSettings(store)
    settings.set("overrides:quiet_runs", 1)  # one quiet run gives a lowered fan-out back
    assert settings.max_parallel(JOB, 4) == 4  # the job's own default, remembered
    # Three out-of-memory failures: each halves the fan-out to 2, recovers, gets 4 back.
    for _ in range(3):
        inc = incident_cycle(instance, healer, launcher, "memory", failing_attempts=1)
        assert (inc.status, inc.attempts) == ("recovered", 1)
        assert settings.max_parallel(JOB, 4) == 4

    mat = materialise_recommendations(instance, url, tmp_path)

    table = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")).read_table(
        "config_recommendations", schema=SCHEMA
    )
    [row] = table.to_dict("records")
    assert (row["kind"], row["subject"], row["current"], row["proposed"]) == (
        CONCURRENCY_DEFAULT,
        JOB,
        4.0,
        2.0,
    )
    assert row["status"] == "pending"
    assert sorted(json.loads(row["incidents"])) == sorted(i.incident_id for i in healer.incidents())
    assert json.loads(row["counts"]) == {"lowerings": 3, "incidents": 3, "recovered": 3}
    assert mat.metadata["queue_by_status"].value == {"pending": 1}
    assert f"| {CONCURRENCY_DEFAULT} | {JOB} |" in mat.metadata["table"].value
    assert mat.metadata["dagster/row_count"].value == 1

    queue = ReviewQueue(store)
    [item] = queue.pending()
    assert item.item_id == row["item_id"]
    queue.approve(item.item_id, "ana", "three OOMs this week")

    # The job's fan-out is 2 from now on ...
    assert settings.max_parallel(JOB, 4) == 2
    # ... the next out-of-memory incident halves from 2, not from 4 ...
    inc = incident_cycle(instance, healer, launcher, "memory", failing_attempts=1)
    acts = healer.actions(inc.incident_id)
    lowered = acts[acts["action"] == LOWER_CONCURRENCY].iloc[0]["detail"]
    assert (lowered["before"], lowered["after"], lowered["baseline"]) == (2, 1, 2)
    # ... and the override's recovery rule gives back the approved 2, not the old 4.
    assert inc.status == "recovered" and settings.max_parallel(JOB, 4) == 2
    # The applied item is not proposed again; the new failure at 2 argues for 1, for review.
    mat = materialise_recommendations(instance, url, tmp_path)
    assert mat.metadata["queue_by_status"].value == {"applied": 1, "pending": 1}
    [newer] = queue.pending()
    assert (newer.proposal["current"], newer.proposal["proposed"]) == (2, 1)


def test_a_retry_budget_never_used_past_the_second_attempt_is_recommended_and_applied(
    instance, launcher, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'coord.db'}"
    store = CoordinationStore(url)
    healer = Healer(store, policy=RemedyPolicy(backoff_base_s=0.0))
    cycles = [
        incident_cycle(instance, healer, launcher, "connect", failing_attempts=n)
        for n in (1, 2, 99)
    ]
    assert [(i.status, i.attempts) for i in cycles] == [
        ("recovered", 1),
        ("recovered", 2),
        ("escalated", 4),
    ]

    mat = materialise_recommendations(instance, url, tmp_path)

    [item] = ReviewQueue(store).pending()
    assert (item.kind, item.subject) == (RETRY_BUDGET, JOB)
    assert (item.proposal["current"], item.proposal["proposed"]) == (4, 2)
    assert item.evidence["counts"]["wasted_reexecutions"] == 2
    assert sorted(item.evidence["incidents"]) == sorted(i.incident_id for i in cycles)
    # Re-executions 3 and 4 of the escalated incident are real runs with a duration.
    assert item.evidence["wasted_run_seconds"] > 0
    assert "re-execution runs saved" in mat.metadata["effects"].value

    ReviewQueue(store).approve(item.item_id, "ana", "attempts 3+ never helped")

    assert OpsSettings(store).get(f"max_attempts:{JOB}") == 2
    # And the healer obeys it: a failure that never recovers escalates after 2 re-executions.
    inc = incident_cycle(instance, healer, launcher, "connect", failing_attempts=99)
    assert (inc.status, inc.attempts) == ("escalated", 2)
