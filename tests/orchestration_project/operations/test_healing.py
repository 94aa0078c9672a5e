"""Incident response and self-healing, through real failed Dagster runs.

A small job of this module (``healing_test_job``: ``healing_upstream`` → ``healing_flaky``)
fails in ``healing_flaky`` with a chosen exception for its first ``failing_attempts`` attempts
(the root run is attempt 0, each re-execution one more) and then succeeds, with an asset check
whose outcome the run config decides. Runs execute in this process on a real temporary Dagster
instance; the healer's state lives in a real SQLite coordination store.
"""

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.failures import (
    BAD_INPUT,
    CODE,
    RESOURCE,
    TIMEOUT,
    TRANSIENT,
    UPSTREAM,
)
from orchestration_project.operations.healing import (
    ACTION_TAG,
    ESCALATE,
    INCIDENT_TAG,
    LOWER_CONCURRENCY,
    QUIET_RUNS_KEY,
    REEXECUTE,
    ROOT_TAG,
    CircuitBreakers,
    Healer,
    OpsSettings,
    RemedyPolicy,
    check_outcomes,
    incidents_frame,
    read_run_failure,
    unfinished_assets,
)
from orchestration_project.operations.incident_report import write_incident_report
from tests import reexecution
from tests.reexecution import Clock

JOB = "healing_test_job"
CHECK = "healing_flaky_consistent"


class UpstreamDataError(RuntimeError):
    """The upstream table this step reads has no rows."""


ERRORS = {
    "connect": lambda: httpx.ConnectError("[Errno 111] Connection refused"),
    "timeout": lambda: TimeoutError("the read operation timed out"),
    "memory": lambda: MemoryError("cannot allocate 2147483648 bytes"),
    "malformed": lambda: ValueError("malformed record"),
    "upstream": lambda: UpstreamDataError("upstream table page_snapshots has no rows"),
    "keyerror": lambda: KeyError("price"),
}


class FlakyConfig(dg.Config):
    error: str = "connect"
    failing_attempts: int = 1
    check_passes: bool = True


def _attempt(context: dg.AssetExecutionContext) -> int:
    """0 for a root run, +1 per Dagster re-execution, +1 for a sensor-launched recovery."""
    n, run = 0, context.run
    while run.parent_run_id:
        n += 1
        run = context.instance.get_run_by_id(run.parent_run_id)
    return n + (1 if context.run.tags.get(ROOT_TAG) else 0)


@dg.asset
def healing_upstream() -> int:
    return 41


@dg.asset(check_specs=[dg.AssetCheckSpec(CHECK, asset="healing_flaky")])
def healing_flaky(context: dg.AssetExecutionContext, config: FlakyConfig, healing_upstream: int):
    if _attempt(context) < config.failing_attempts:
        raise ERRORS[config.error]()
    yield dg.Output(healing_upstream + 1)
    yield dg.AssetCheckResult(check_name=CHECK, passed=config.check_passes)


def healing_job_def() -> dg.JobDefinition:
    """Module-level factory, so ``dg.reconstructable`` can rebuild the job for re-execution."""
    job = dg.define_asset_job(JOB, executor_def=dg.in_process_executor)
    return dg.Definitions(assets=[healing_upstream, healing_flaky], jobs=[job]).resolve_job_def(JOB)


def run_config(error: str, failing_attempts: int = 1, check_passes: bool = True) -> dict:
    cfg = {"error": error, "failing_attempts": failing_attempts, "check_passes": check_passes}
    return {"ops": {"healing_flaky": {"config": cfg}}}


def execute(instance: dg.DagsterInstance, config: dict, **kw) -> dg.JobExecutionResult:
    return dg.execute_job(
        dg.reconstructable(healing_job_def),
        instance,
        run_config=config,
        raise_on_error=False,
        **kw,
    )


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster"))) as inst:
        yield inst


@pytest.fixture
def store(tmp_path: Path) -> CoordinationStore:
    return CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")


@pytest.fixture
def launcher(instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch):
    """The project's real in-process launcher, with this module's job registered."""
    monkeypatch.setitem(reexecution.JOB_FACTORIES, JOB, healing_job_def)
    return reexecution.in_process_launcher(instance)


def failed_run(instance: dg.DagsterInstance, error: str, **kw) -> str:
    result = execute(instance, run_config(error, **kw))
    assert not result.success
    return result.run_id


def planned(healer: Healer, incident_id: str):
    acts = healer.actions(incident_id)
    return acts[acts["action"] == REEXECUTE]


# ---------------------------------------------------------------------------------------------
# One failure class at a time: classification, status and remedy
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "error_class", "failure_class"),
    [("connect", "ConnectError", TRANSIENT), ("timeout", "TimeoutError", TIMEOUT)],
)
def test_a_transient_failure_is_planned_for_reexecution_from_failure_after_a_backoff(
    instance, store, error, error_class, failure_class
) -> None:
    run_id = failed_run(instance, error)
    clock = Clock()
    events: list[dict] = []
    healer = Healer(store, clock=clock, notify=events.append)

    inc = healer.on_run_failure(instance, run_id)

    assert inc.incident_id == "inc-" + run_id[:13]
    assert (inc.failure_class, inc.error_class) == (failure_class, error_class)
    assert inc.step_key == "healing_flaky"
    assert (inc.status, inc.severity, inc.attempts) == ("remediating", "warning", 1)
    assert inc.job_name == JOB and inc.root_run_id == run_id
    assert inc.closed_at is None
    plan = planned(healer, inc.incident_id)
    assert len(plan) == 1
    row = plan.iloc[0]
    assert row["status"] == "planned" and row["run_id"] == run_id
    delay = (row["due_at"].to_pydatetime() - clock.now).total_seconds()
    assert 16.0 <= delay <= 24.0  # 20 s base, +/- 20% jitter
    assert row["detail"]["attempt"] == 1
    assert [e["event"] for e in events] == ["incident_opened"]
    # Not due before its backoff, due after it.
    assert healer.due_reexecutions() == []
    clock.advance(25)
    due = healer.due_reexecutions()
    assert [(d["incident_id"], d["parent_run_id"]) for d in due] == [(inc.incident_id, run_id)]
    assert healer.next_due_at() == row["due_at"].to_pydatetime()


def test_resource_exhaustion_halves_the_jobs_concurrency_then_reexecutes(
    instance, store, launcher
) -> None:
    run_id = failed_run(instance, "memory", failing_attempts=3)
    clock = Clock()
    healer = Healer(store, clock=clock)
    settings = OpsSettings(store)
    assert settings.max_parallel(JOB, 4) == 4

    inc = healer.on_run_failure(instance, run_id)

    assert (inc.failure_class, inc.error_class) == (RESOURCE, "MemoryError")
    assert (inc.status, inc.attempts) == ("remediating", 1)
    assert settings.max_parallel(JOB, 4) == 2
    acts = healer.actions(inc.incident_id)
    lowered = acts[acts["action"] == LOWER_CONCURRENCY].iloc[0]
    assert (lowered["detail"]["before"], lowered["detail"]["after"]) == (4, 2)
    assert len(planned(healer, inc.incident_id)) == 1

    # Each re-execution exhausts memory again: halved once more (never below 1), planned again.
    for expected in (1, 1):
        clock.advance(300)
        [recovery] = reexecution.run_due(healer, instance, launcher)
        assert instance.get_run_by_id(recovery).status == dg.DagsterRunStatus.FAILURE
        inc = healer.on_run_failure(instance, recovery)
        assert settings.max_parallel(JOB, 4) == expected
        assert inc.status == "remediating"
    assert inc.attempts == 3
    acts = healer.actions(inc.incident_id)
    steps = [(d["before"], d["after"]) for d in acts[acts["action"] == LOWER_CONCURRENCY]["detail"]]
    assert steps == [(4, 2), (2, 1), (1, 1)]

    # Regression: the lowered fan-out used to stay for ever. It is now an override that quiet
    # runs undo one step at a time (test_overrides.py); with one quiet run per step, the
    # verified recovery earns the first step back.
    settings.set(QUIET_RUNS_KEY, 1)
    clock.advance(600)
    [recovery] = reexecution.run_due(healer, instance, launcher)
    assert instance.get_run_by_id(recovery).status == dg.DagsterRunStatus.SUCCESS
    [done] = healer.check_recoveries(instance)
    assert done.status == "recovered"
    assert settings.max_parallel(JOB, 4) == 2
    acts = healer.actions(inc.incident_id)
    assert acts[acts["action"] == "restore_concurrency"].iloc[0]["detail"]["value"] == 2


@pytest.mark.parametrize(
    ("error", "error_class", "failure_class"),
    [
        ("malformed", "ValueError", BAD_INPUT),
        ("upstream", "UpstreamDataError", UPSTREAM),
        ("keyerror", "KeyError", CODE),
    ],
)
def test_failures_no_retry_can_fix_are_escalated_at_once(
    instance, store, error, error_class, failure_class
) -> None:
    run_id = failed_run(instance, error)
    events: list[dict] = []
    healer = Healer(store, notify=events.append)

    inc = healer.on_run_failure(instance, run_id)

    assert (inc.failure_class, inc.error_class) == (failure_class, error_class)
    assert (inc.status, inc.severity, inc.attempts) == ("escalated", "critical", 0)
    assert inc.closed_at is not None
    acts = healer.actions(inc.incident_id)
    assert list(acts["action"]) == ["failure_detected", ESCALATE]
    assert "cannot be fixed by retrying" in acts.iloc[-1]["detail"]["reason"]
    assert planned(healer, inc.incident_id).empty
    assert healer.due_reexecutions() == []
    assert [e["event"] for e in events] == ["incident_escalated"]
    assert events[0]["failure_class"] == failure_class


def test_read_run_failure_unwraps_dagsters_error_to_the_users_exception(instance) -> None:
    run_id = failed_run(instance, "malformed")
    failure = read_run_failure(instance, run_id)
    assert (failure.error_class, failure.step_key, failure.job_name) == (
        "ValueError",
        "healing_flaky",
        JOB,
    )
    assert "malformed record" in failure.message
    assert failure.root_run_id == run_id
    assert failure.at <= datetime.now(UTC)
    assert unfinished_assets(instance, run_id) == [dg.AssetKey("healing_flaky")]
    with pytest.raises(KeyError):
        read_run_failure(instance, "no-such-run")


def test_on_run_failure_is_idempotent(instance, store) -> None:
    run_id = failed_run(instance, "connect")
    events: list[dict] = []
    healer = Healer(store, notify=events.append)
    first = healer.on_run_failure(instance, run_id)
    actions_before = healer.actions(first.incident_id)

    second = healer.on_run_failure(instance, run_id)
    # A second healer on the same store (another sensor tick, another process) too.
    third = Healer(store, notify=events.append).on_run_failure(instance, run_id)

    assert second == first == third
    after = healer.actions(first.incident_id)
    assert len(after) == len(actions_before)
    assert len(planned(healer, first.incident_id)) == 1
    assert len(healer.incidents()) == 1
    assert [e["event"] for e in events] == ["incident_opened"]
    assert OpsSettings(store).get(f"max_parallel:{JOB}") is None


def test_backoff_grows_per_attempt_and_the_incident_escalates_after_max_attempts(
    instance, store, launcher
) -> None:
    run_id = failed_run(instance, "connect", failing_attempts=99)
    clock = Clock()
    events: list[dict] = []
    healer = Healer(store, clock=clock, policy=RemedyPolicy(max_attempts=2), notify=events.append)

    inc = healer.on_run_failure(instance, run_id)
    runs = [run_id]
    for _ in range(2):
        clock.advance(300)
        launched = reexecution.run_due(healer, instance, launcher)
        assert len(launched) == 1
        recovery = instance.get_run_by_id(launched[0])
        assert recovery.status == dg.DagsterRunStatus.FAILURE
        # A real re-execution from failure of the previous attempt, in the same workflow.
        assert recovery.parent_run_id == runs[-1] and recovery.root_run_id == run_id
        assert recovery.tags[INCIDENT_TAG] == inc.incident_id
        runs.append(recovery.run_id)
        inc = healer.on_run_failure(instance, recovery.run_id)

    assert inc.incident_id == "inc-" + run_id[:13]
    assert len(healer.incidents()) == 1  # the recoveries joined the root's incident
    assert (inc.status, inc.severity, inc.attempts) == ("escalated", "critical", 2)
    plans = planned(healer, inc.incident_id).sort_values("action_id")
    assert list(plans["status"]) == ["launched", "launched"]
    backoffs = [d["backoff_s"] for d in plans["detail"]]
    assert [d["attempt"] for d in plans["detail"]] == [1, 2]
    assert backoffs[1] > backoffs[0]
    assert 16 <= backoffs[0] <= 24 and 32 <= backoffs[1] <= 48
    acts = healer.actions(inc.incident_id)
    assert list(acts["action"]).count("failure_detected") == 3
    assert acts.iloc[-1]["action"] == ESCALATE
    assert "2 re-executions did not recover it" in acts.iloc[-1]["detail"]["reason"]
    assert [e["event"] for e in events] == ["incident_opened", "incident_escalated"]
    assert healer.due_reexecutions(now=clock.now + timedelta(days=1)) == []
    # The upstream asset was materialised once: re-executions ran only what failed.
    assert (
        len(instance.fetch_materializations(dg.AssetKey("healing_upstream"), limit=10).records) >= 1
    )
    for r in runs[1:]:
        assert unfinished_assets(instance, r) == [dg.AssetKey("healing_flaky")]


def test_remedy_policy_delay_grows_is_capped_and_deterministic() -> None:
    p = RemedyPolicy(backoff_base_s=10, backoff_factor=3, backoff_max_s=100, jitter=0.0)
    assert [p.delay_s(a) for a in (1, 2, 3, 4)] == [10, 30, 90, 100]
    j = RemedyPolicy()
    assert j.delay_s(1, salt="x") == j.delay_s(1, salt="x")
    assert {round(j.delay_s(1, salt=s), 6) for s in "abcdef"} != {20.0}
    for s in "abcdefgh":
        assert 16 <= j.delay_s(1, salt=s) <= 24
        assert j.delay_s(2, salt=s) > j.delay_s(1, salt=s)


# ---------------------------------------------------------------------------------------------
# Recovery: re-execute, verify with the asset checks, report
# ---------------------------------------------------------------------------------------------


def test_a_full_recovery_cycle_is_verified_and_reported(
    instance, store, launcher, tmp_path: Path
) -> None:
    run_id = failed_run(instance, "connect")
    events: list[dict] = []
    healer = Healer(store, policy=RemedyPolicy(backoff_base_s=0.0), notify=events.append)
    inc = healer.on_run_failure(instance, run_id)
    assert inc.status == "remediating"

    launched = reexecution.run_due(healer, instance, launcher)

    assert len(launched) == 1
    recovery = instance.get_run_by_id(launched[0])
    assert recovery.status == dg.DagsterRunStatus.SUCCESS
    assert recovery.parent_run_id == run_id and recovery.root_run_id == run_id
    assert recovery.tags[INCIDENT_TAG] == inc.incident_id
    assert recovery.tags[ACTION_TAG] == str(planned(healer, inc.incident_id).iloc[0]["action_id"])
    assert check_outcomes(instance, recovery.run_id) == (1, [])
    assert healer.due_reexecutions() == []  # launched, not planned any more

    recovered = healer.check_recoveries(instance)

    assert [r.incident_id for r in recovered] == [inc.incident_id]
    done = healer.incident(inc.incident_id)
    assert (done.status, done.consistency) == ("recovered", "passed")
    assert done.recovered_at is not None and done.closed_at is not None
    assert done.time_to_detect_s >= 0
    assert done.time_to_recover_s is not None and done.time_to_recover_s >= 0
    assert done.recovered_at >= done.failure_at
    assert [e["event"] for e in events] == ["incident_opened", "incident_recovered"]
    acts = healer.actions(inc.incident_id)
    assert acts.iloc[0]["action"] == "failure_detected"
    assert {"verify_consistency", "recovered"} <= set(acts["action"])
    # The recovery is dated when the recovery run ended, before it was verified.
    rec = acts[acts["action"] == "recovered"].iloc[0]
    assert rec["at"].to_pydatetime() == done.recovered_at and rec["run_id"] == recovery.run_id
    verify = acts[acts["action"] == "verify_consistency"].iloc[0]
    assert (verify["detail"]["checks"], verify["detail"]["failed"]) == (1, [])
    assert healer.check_recoveries(instance) == []  # nothing left to verify

    frame = incidents_frame(healer.incidents())
    assert frame.loc[0, "ttd_s"] == pytest.approx(done.time_to_detect_s)
    assert frame.loc[0, "ttr_s"] == pytest.approx(done.time_to_recover_s)

    path = write_incident_report(instance, healer, inc.incident_id, tmp_path / "reports")
    assert path.exists() and path.with_suffix(".html").exists()
    assert healer.incident(inc.incident_id).report_path == str(path)
    text = path.read_text()
    assert "**recovered**" in text and f"`{TRANSIENT}`" in text
    assert "consistency after recovery | passed" in text
    timeline = text.split("## Timeline", 1)[1]
    assert "step failed: ConnectError" in timeline
    assert f"check {CHECK} passed" in timeline
    assert "run succeeded" in timeline
    assert "failure_detected" in timeline and "recovered (done)" in timeline
    assert timeline.index("step failed: ConnectError") < timeline.index("recovered (done)")
    assert f"run {run_id[:8]}" in timeline and f"run {recovery.run_id[:8]}" in timeline


def test_a_recovery_whose_asset_check_fails_is_escalated_not_recovered(
    instance, store, launcher
) -> None:
    run_id = failed_run(instance, "timeout", check_passes=False)
    events: list[dict] = []
    healer = Healer(store, policy=RemedyPolicy(backoff_base_s=0.0), notify=events.append)
    inc = healer.on_run_failure(instance, run_id)
    [recovery] = reexecution.run_due(healer, instance, launcher)
    assert instance.get_run_by_id(recovery).status == dg.DagsterRunStatus.SUCCESS

    healer.check_recoveries(instance)

    done = healer.incident(inc.incident_id)
    assert (done.status, done.consistency, done.severity) == ("escalated", "failed", "critical")
    assert done.recovered_at is None and done.time_to_recover_s is None
    acts = healer.actions(inc.incident_id)
    esc = acts[acts["action"] == ESCALATE].iloc[-1]
    assert f"healing_flaky:{CHECK}" in esc["detail"]["reason"]
    verify = acts[acts["action"] == "verify_consistency"].iloc[0]
    assert verify["detail"]["failed"] == [f"healing_flaky:{CHECK}"]
    assert [e["event"] for e in events] == ["incident_opened", "incident_escalated"]


def test_check_recoveries_verifies_the_latest_successful_recovery_of_a_reopened_incident(
    instance, store, launcher
) -> None:
    """An incident recovered once, then failing again in the same workflow, must be judged by
    its newest recovery run, not by the first one."""
    root = failed_run(instance, "connect")
    healer = Healer(store, policy=RemedyPolicy(backoff_base_s=0.0))
    inc = healer.on_run_failure(instance, root)
    [first_recovery] = reexecution.run_due(healer, instance, launcher)
    healer.check_recoveries(instance)
    assert healer.incident(inc.incident_id).status == "recovered"

    # The workflow fails again (a run naming the same root): the incident is reopened.
    again = execute(instance, run_config("connect", failing_attempts=99), tags={ROOT_TAG: root})
    assert not again.success
    reopened = healer.on_run_failure(instance, again.run_id)
    assert reopened.incident_id == inc.incident_id
    assert (reopened.status, reopened.attempts) == ("remediating", 2)
    # Its newest recovery succeeds, but its consistency check fails.
    latest = execute(
        instance,
        run_config("connect", failing_attempts=0, check_passes=False),
        tags={INCIDENT_TAG: inc.incident_id, ROOT_TAG: root},
    )
    assert latest.success
    assert check_outcomes(instance, latest.run_id)[1] == [f"healing_flaky:{CHECK}"]

    healer.check_recoveries(instance)

    done = healer.incident(inc.incident_id)
    acts = healer.actions(inc.incident_id)
    recovered_by = list(acts[acts["action"] == "recovered"]["run_id"])
    assert (done.status, done.consistency) == ("escalated", "failed"), (
        f"judged by run(s) {recovered_by}; first recovery {first_recovery}, latest {latest.run_id}"
    )
    verified = acts[acts["action"] == "verify_consistency"]
    assert list(verified["run_id"]) == [first_recovery, latest.run_id]


def test_poll_handles_every_failed_run_and_then_verifies_recoveries(
    tmp_path: Path, store, monkeypatch
) -> None:
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        monkeypatch.setitem(reexecution.JOB_FACTORIES, JOB, healing_job_def)
        first = failed_run(inst, "connect")
        second = failed_run(inst, "keyerror")
        ok = execute(inst, run_config("connect", failing_attempts=0))
        assert ok.success
        healer = Healer(store, policy=RemedyPolicy(backoff_base_s=0.0))

        handled = reexecution.poll(healer, inst)

        assert sorted(handled) == sorted([first, second])
        by_root = {i.root_run_id: i for i in healer.incidents()}
        assert by_root[first].status == "remediating"
        assert by_root[second].status == "escalated"
        reexecution.run_due(healer, inst, reexecution.in_process_launcher(inst))
        reexecution.poll(healer, inst)
        assert healer.incident("inc-" + first[:13]).status == "recovered"
        assert len(healer.incidents()) == 2


# ---------------------------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------------------------


def test_an_alert_opens_one_incident_per_subject_until_it_resolves(store) -> None:
    events: list[dict] = []
    healer = Healer(store, notify=events.append)
    at = datetime.now(UTC) - timedelta(seconds=30)
    kw = dict(subject_kind="source", subject="acme", severity="warning", message="m", rule="r")
    inc = healer.on_alert(at=at, **kw)
    assert inc is not None and (inc.source, inc.status) == ("alert", "open")
    assert healer.on_alert(at=at + timedelta(seconds=5), **kw) is None
    assert healer.on_alert_resolved(subject_kind="source", subject="other") == []
    [closed] = healer.on_alert_resolved(subject_kind="source", subject="acme")
    assert closed.status == "resolved" and closed.closed_at is not None
    assert closed.time_to_recover_s >= 30
    assert healer.on_alert(at=at + timedelta(seconds=60), **kw) is not None
    assert [e["event"] for e in events] == ["incident_opened", "incident_opened"]


# ---------------------------------------------------------------------------------------------
# Circuit breakers
# ---------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def breakers(store: CoordinationStore) -> CircuitBreakers:
    return CircuitBreakers(
        store,
        failure_threshold=3,
        window=timedelta(minutes=10),
        cooldown=timedelta(minutes=2),
    )


def test_breaker_opens_after_threshold_failures_within_the_window_only(store) -> None:
    cb = breakers(store)
    assert cb.state("source:a").state == "closed" and cb.allow("source:a", now=at(0))
    assert cb.record_failure("source:a", "refused", now=at(0)) == "closed"
    # 11 minutes later the first failure is outside the window.
    assert cb.record_failure("source:a", "refused", now=at(11)) == "closed"
    assert cb.record_failure("source:a", "refused", now=at(12)) == "closed"
    assert cb.state("source:a").failures == 2
    assert cb.allow("source:a", now=at(12))
    assert cb.record_failure("source:a", "refused again", now=at(13)) == "open"
    st = cb.state("source:a")
    assert (st.state, st.failures, st.opened_at, st.reason) == ("open", 3, at(13), "refused again")


def test_an_open_breaker_refuses_until_cooldown_then_lets_exactly_one_trial_through(
    store,
) -> None:
    cb = breakers(store)
    for m in (0, 1, 2):
        cb.record_failure("route:http:b", "503", now=at(m))
    assert not cb.allow("route:http:b", now=at(2))
    assert not cb.allow("route:http:b", now=at(3.9))
    assert cb.allow("route:http:b", now=at(4))  # cooldown over: the trial
    assert cb.state("route:http:b").state == "half_open"
    assert not cb.allow("route:http:b", now=at(4.01))  # only one trial at a time
    # Regression: a trial that never reports back must not leave the breaker half-open for
    # ever; after another cooldown a new trial is let through.
    assert not cb.allow("route:http:b", now=at(5.9))
    assert cb.allow("route:http:b", now=at(30))
    assert cb.record_success("route:http:b", now=at(4.1)) == "closed"
    st = cb.state("route:http:b")
    assert (st.state, st.failures, st.opened_at) == ("closed", 0, None)
    assert cb.allow("route:http:b", now=at(4.2))
    # Closed again with no memory of the old failures.
    assert cb.record_failure("route:http:b", "503", now=at(5)) == "closed"


def test_a_failed_trial_reopens_the_breaker_for_another_cooldown(store) -> None:
    cb = breakers(store)
    for m in (0, 1, 2):
        cb.record_failure("source:c", "refused", now=at(m))
    assert cb.allow("source:c", now=at(5))
    assert cb.record_failure("source:c", "still refused", now=at(5)) == "open"
    st = cb.state("source:c")
    assert st.state == "open" and st.opened_at == at(5)
    assert not cb.allow("source:c", now=at(6.5))
    assert cb.allow("source:c", now=at(7))


def test_success_on_a_closed_breaker_forgets_its_failures_but_does_not_close_an_open_one(
    store,
) -> None:
    cb = breakers(store)
    cb.record_failure("s", "x", now=at(0))
    cb.record_failure("s", "x", now=at(1))
    assert cb.record_success("s", now=at(2)) == "closed"
    assert cb.record_failure("s", "x", now=at(3)) == "closed"
    assert cb.state("s").failures == 1
    cb.record_failure("s", "x", now=at(4))
    cb.record_failure("s", "x", now=at(5))
    assert cb.state("s").state == "open"
    # A call that bypassed the open breaker does not close it.
    assert cb.record_success("s", now=at(5.5)) == "open"
    assert cb.state("s").state == "open"


def test_breakers_are_shared_through_the_store_and_tuned_by_settings(store) -> None:
    one, two = breakers(store), breakers(store)
    for m in (0, 1, 2):
        one.record_failure("source:shared", "refused", now=at(m))
    assert two.state("source:shared").state == "open"
    assert not two.allow("source:shared", now=at(3))
    assert two.allow("source:shared", now=at(4))  # the trial, taken by the second object
    assert not one.allow("source:shared", now=at(4))  # the first sees it under way
    two.record_success("source:shared", now=at(4.5))
    assert one.state("source:shared").state == "closed"
    frame = one.all()
    assert list(frame["name"]) == ["source:shared"] and frame.loc[0, "state"] == "closed"

    OpsSettings(store).set("breaker:failure_threshold", 1)
    OpsSettings(store).set("breaker:cooldown_s", 10)
    tuned = CircuitBreakers(store)
    assert tuned.failure_threshold == 1 and tuned.cooldown == timedelta(seconds=10)
    assert tuned.record_failure("source:tuned", "x", now=at(0)) == "open"
    assert not tuned.allow("source:tuned", now=at(0.1))
    assert tuned.allow("source:tuned", now=at(0.2))


def test_a_reexecution_counts_as_launched_only_once_dagster_has_its_run(instance, store) -> None:
    # Regression: the remedy sensor used to mark an action launched before the daemon created
    # the run; a tick that died in between left the incident "remediating" for ever.
    run_id = failed_run(instance, "connect")
    clock = Clock()
    healer = Healer(store, clock=clock)
    inc = healer.on_run_failure(instance, run_id)
    action_id = int(planned(healer, inc.incident_id).iloc[0]["action_id"])
    clock.advance(60)
    assert healer.link_launched_runs(instance) == 0  # no run yet: still planned and due
    assert [d["action_id"] for d in healer.due_reexecutions()] == [action_id]
    tags = {ACTION_TAG: str(action_id), INCIDENT_TAG: inc.incident_id}
    recovery = execute(instance, run_config("connect"), tags=tags).run_id
    assert healer.link_launched_runs(instance) == 1
    row = planned(healer, inc.incident_id).iloc[0]
    assert row["status"] == "launched" and row["detail"]["launched_run_id"] == recovery
    assert healer.due_reexecutions() == []


# ---------------------------------------------------------------------------------------------
# Failed checks of runs that succeeded: the data is suspect although nothing crashed
# ---------------------------------------------------------------------------------------------


def test_a_failed_check_of_a_successful_run_opens_an_upstream_data_incident_until_it_passes(
    tmp_path: Path, store
) -> None:
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "dagster")) as inst:
        events: list[dict] = []
        healer = Healer(store, notify=events.append)
        ok = execute(inst, run_config("connect", failing_attempts=0))
        assert ok.success
        assert healer.scan_checks(inst) == []  # a passing check with no incident: nothing
        assert healer.incidents() == []

        bad = execute(inst, run_config("connect", failing_attempts=0, check_passes=False))
        assert bad.success  # the check is not blocking: the run succeeds with suspect data
        failed_run(inst, "malformed", failing_attempts=1, check_passes=False)  # a failed run

        [opened] = healer.scan_checks(inst)

        assert opened.incident_id.startswith("chk-")
        assert (opened.source, opened.subject_kind, opened.subject) == (
            "asset_check",
            "asset",
            "healing_flaky",
        )
        assert (opened.failure_class, opened.error_class) == (UPSTREAM, CHECK)
        assert (opened.status, opened.job_name, opened.consistency) == (
            "escalated",
            JOB,
            "failed",
        )
        assert opened.recovered_at is None and opened.closed_at is None  # still wrong
        assert 0 <= opened.time_to_detect_s < 60
        acts = healer.actions(opened.incident_id)
        assert list(acts["action"]) == ["check_failed", ESCALATE]
        assert set(acts["run_id"]) == {bad.run_id}  # the failed run is not a check incident
        assert [e["event"] for e in events] == ["incident_escalated"]
        # Idempotent: scanning again, from the stored cursor or from the start, adds nothing.
        assert healer.scan_checks(inst) == []
        assert healer.scan_checks(inst, since=datetime(2000, 1, 1, tzinfo=UTC)) == []
        assert len(healer.actions(opened.incident_id)) == 2

        # A critical alert about the asset meanwhile is covered by this incident.
        alert = dict(severity="critical", message="m", rule="asset_failing")
        now = datetime.now(UTC)
        assert (
            healer.on_alert(subject_kind="asset", subject="healing_flaky", at=now, **alert) is None
        )
        # Still failing in a later run: recorded on the same incident, no second incident.
        again = execute(inst, run_config("connect", failing_attempts=0, check_passes=False))
        assert healer.scan_checks(inst) == []
        assert [i.incident_id for i in healer.incidents()] == [opened.incident_id]
        acts = healer.actions(opened.incident_id)
        assert list(acts["action"]) == ["check_failed", ESCALATE, "check_failed"]
        assert acts.iloc[-1]["run_id"] == again.run_id

        # The data is right again: recovered at the passing evaluation, time to recover known.
        fixed = execute(inst, run_config("connect", failing_attempts=0))
        [recovered] = healer.scan_checks(inst)
        assert recovered.incident_id == opened.incident_id
        assert (recovered.status, recovered.consistency) == ("recovered", "passed")
        assert recovered.closed_at is not None
        assert recovered.time_to_recover_s is not None and recovered.time_to_recover_s > 0
        acts = healer.actions(opened.incident_id)
        assert list(acts["action"])[-2:] == ["check_passed", "recovered"]
        assert set(acts["run_id"].iloc[-2:]) == {fixed.run_id}
        assert [e["event"] for e in events] == ["incident_escalated", "incident_recovered"]
        frame = incidents_frame(healer.incidents())
        assert frame.loc[0, "ttr_s"] == pytest.approx(recovered.time_to_recover_s)

        # A new failure after the recovery is a new incident.
        execute(inst, run_config("connect", failing_attempts=0, check_passes=False))
        [second] = healer.scan_checks(inst)
        assert second.incident_id != opened.incident_id
        assert [i.status for i in healer.incidents()] == ["recovered", "escalated"]
        # Its report is written once it is closed, with the run events and the actions.
        path = write_incident_report(inst, healer, opened.incident_id, tmp_path / "reports")
        text = path.read_text()
        assert "check healing_flaky_consistent FAILED" in text  # from the run's event log
        assert "check_failed" in text and "recovered" in text


def test_a_run_failed_from_outside_is_classified_by_its_engine_error(instance) -> None:
    # Regression: a run whose code would not load is marked failed "from outside the execution
    # context"; the incident said RunFailure with that generic message, and the ImportError the
    # run worker reported in an engine event was lost.
    from dagster._core.events import EngineEventData
    from dagster._utils.error import serializable_error_info_from_exc_info

    run = instance.create_run_for_job(healing_job_def(), run_config=run_config("connect"))
    try:
        raise ImportError("cannot import name 'partitioned_by' from 'resources.warehouse'")
    except ImportError:
        error = serializable_error_info_from_exc_info(sys.exc_info())
    instance.report_engine_event("could not load the job", run, EngineEventData(error=error))
    instance.report_run_failed(run)

    failure = read_run_failure(instance, run.run_id)

    assert failure.error_class == "ImportError"
    assert "partitioned_by" in failure.message
    assert failure.failure_class == CODE
