"""The incident and remedy sensors, invoked directly on real runs of a real Dagster instance.

``sensor_test_job`` (``sensor_upstream`` → ``sensor_flaky``) fails in ``sensor_flaky`` with the
configured error unless the run is a recovery launched by the remedy sensor (it carries the
``orchestration/root_run_id`` tag), so the RunRequest the sensor yields can be executed for real.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest

from orchestration_project.operations.failures import CODE, TRANSIENT
from orchestration_project.operations.healing import (
    ACTION_TAG,
    INCIDENT_TAG,
    REEXECUTE,
    ROOT_TAG,
    Healer,
)
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from sensors.operations import incident_sensor, remedy_sensor

JOB = "sensor_test_job"
CHECK = "sensor_flaky_consistent"
ERRORS = {
    "connect": lambda: httpx.ConnectError("[Errno 111] Connection refused"),
    "keyerror": lambda: KeyError("price"),
}


class SensorFlakyConfig(dg.Config):
    error: str = "connect"
    fail_recoveries: bool = False
    check_passes: bool = True


@dg.asset
def sensor_upstream() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec(CHECK, asset="sensor_flaky")])
def sensor_flaky(
    context: dg.AssetExecutionContext, config: SensorFlakyConfig, sensor_upstream: int
):
    if config.fail_recoveries or not context.run.tags.get(ROOT_TAG):
        raise ERRORS[config.error]()
    yield dg.Output(sensor_upstream + 1)
    yield dg.AssetCheckResult(check_name=CHECK, passed=config.check_passes)


def sensor_job_def() -> dg.JobDefinition:
    job = dg.define_asset_job(JOB, executor_def=dg.in_process_executor)
    return dg.Definitions(assets=[sensor_upstream, sensor_flaky], jobs=[job]).resolve_job_def(JOB)


def execute(
    instance: dg.DagsterInstance,
    error: str = "connect",
    fail_recoveries: bool = False,
    check_passes: bool = True,
    **kw,
) -> dg.JobExecutionResult:
    cfg = {"error": error, "fail_recoveries": fail_recoveries, "check_passes": check_passes}
    return dg.execute_job(
        dg.reconstructable(sensor_job_def),
        instance,
        run_config={"ops": {"sensor_flaky": {"config": cfg}}},
        raise_on_error=False,
        **kw,
    )


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster"))) as inst:
        yield inst


@pytest.fixture
def resources(tmp_path: Path) -> dict:
    return {
        "coordination": CoordinationResource(url=f"sqlite:///{tmp_path / 'c.db'}"),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }


def failure_context(instance: dg.DagsterInstance, run_id: str, resources: dict):
    run = instance.get_run_by_id(run_id)
    [rec] = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return dg.build_run_status_sensor_context(
        sensor_name="incident_sensor",
        dagster_event=rec.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"coordination": resources["coordination"]},
    ).for_run_failure()


def tick(instance: dg.DagsterInstance, resources: dict) -> list[dg.RunRequest]:
    ctx = dg.build_sensor_context(
        instance=instance, resources=resources, cursor=CURSORS.get(id(instance))
    )
    out = remedy_sensor(ctx)
    assert isinstance(out, dg.SensorResult)
    CURSORS[id(instance)] = out.cursor
    return list(out.run_requests or [])


CURSORS: dict[int, str | None] = {}


def test_incident_sensor_opens_an_incident_for_a_real_failed_run(instance, resources) -> None:
    failed = execute(instance, "connect")
    assert not failed.success

    incident_sensor(failure_context(instance, failed.run_id, resources))

    healer = Healer(resources["coordination"].store())
    [inc] = healer.incidents()
    assert inc.incident_id == "inc-" + failed.run_id[:13] and inc.root_run_id == failed.run_id
    assert (inc.failure_class, inc.error_class, inc.step_key) == (
        TRANSIENT,
        "ConnectError",
        "sensor_flaky",
    )
    assert (inc.status, inc.attempts, inc.job_name) == ("remediating", 1, JOB)
    acts = healer.actions(inc.incident_id)
    assert list(acts["action"]) == ["failure_detected", REEXECUTE]
    assert acts.iloc[-1]["status"] == "planned"

    # The sensor may see the same failure twice (a retried tick): nothing changes.
    incident_sensor(failure_context(instance, failed.run_id, resources))
    assert len(healer.actions(inc.incident_id)) == 2 and len(healer.incidents()) == 1

    # Its backoff has not passed: the remedy sensor launches nothing yet and writes no report.
    assert tick(instance, resources) == []
    assert healer.incident(inc.incident_id).status == "remediating"
    assert not list(Path(resources["reports_dir"].path).rglob("*.md"))


def test_incident_sensor_escalates_a_code_error_and_the_remedy_sensor_reports_it(
    instance, resources
) -> None:
    failed = execute(instance, "keyerror")
    incident_sensor(failure_context(instance, failed.run_id, resources))
    healer = Healer(resources["coordination"].store())
    [inc] = healer.incidents()
    assert (inc.failure_class, inc.status) == (CODE, "escalated")

    assert tick(instance, resources) == []

    report = Path(resources["reports_dir"].path) / "incidents" / f"{inc.incident_id}.md"
    assert report.exists() and "**escalated**" in report.read_text()
    assert healer.incident(inc.incident_id).report_path == str(report)


def test_remedy_sensor_requests_the_unfinished_assets_and_closes_the_incident_on_success(
    instance, resources
) -> None:
    failed = execute(instance, "connect")
    store = resources["coordination"].store()
    # The failure was handled two minutes ago, so its backoff (~20 s) has passed.
    past = datetime.now(UTC) - timedelta(minutes=2)
    inc = Healer(store, clock=lambda: past).on_run_failure(instance, failed.run_id)
    healer = Healer(store)
    [due] = healer.due_reexecutions()

    [req] = tick(instance, resources)

    assert req.run_key == f"remedy-{due['action_id']}"
    assert req.job_name == JOB
    assert list(req.asset_selection) == [dg.AssetKey("sensor_flaky")]
    assert req.tags[INCIDENT_TAG] == inc.incident_id
    assert req.tags[ACTION_TAG] == str(due["action_id"])
    assert req.tags[ROOT_TAG] == failed.run_id
    assert req.tags["orchestration/parent_run_id"] == failed.run_id
    # Dagster's own run-group tags: the recovery shows beside the failed run in the UI.
    assert req.tags["dagster/parent_run_id"] == failed.run_id
    assert req.tags["dagster/root_run_id"] == failed.run_id
    # Regression: the action used to be marked launched before Dagster had the run, so a tick
    # that died in between lost the launch. Until the run exists it stays planned and every
    # tick requests it again under the same run key (which Dagster launches at most once).
    acts = healer.actions(inc.incident_id)
    assert acts[acts["action"] == REEXECUTE].iloc[0]["status"] == "planned"
    [again] = tick(instance, resources)
    assert again.run_key == req.run_key
    assert healer.incident(inc.incident_id).status == "remediating"  # no successful run yet

    # What the daemon launches for that request.
    recovery = execute(instance, "connect", tags=req.tags, asset_selection=req.asset_selection)
    assert recovery.success
    group_root, group = instance.get_run_group(failed.run_id)
    assert group_root == failed.run_id
    assert recovery.run_id in {r.run_id for r in group}
    assert tick(instance, resources) == []
    acts = healer.actions(inc.incident_id)
    launched = acts[acts["action"] == REEXECUTE].iloc[0]
    assert launched["status"] == "launched"
    assert launched["detail"]["launched_run_id"] == recovery.run_id

    done = healer.incident(inc.incident_id)
    assert (done.status, done.consistency) == ("recovered", "passed")
    assert done.time_to_recover_s is not None and done.time_to_recover_s >= 0
    report = Path(resources["reports_dir"].path) / "incidents" / f"{inc.incident_id}.md"
    assert done.report_path == str(report) and report.exists()
    text = report.read_text()
    assert "**recovered**" in text and f"run {recovery.run_id[:8]}" in text


def test_a_failed_sensor_launched_recovery_joins_its_roots_incident(instance, resources) -> None:
    failed = execute(instance, "connect", fail_recoveries=True)
    store = resources["coordination"].store()
    past = datetime.now(UTC) - timedelta(minutes=2)
    inc = Healer(store, clock=lambda: past).on_run_failure(instance, failed.run_id)
    [req] = tick(instance, resources)

    recovery = execute(
        instance,
        "connect",
        fail_recoveries=True,
        tags=req.tags,
        asset_selection=req.asset_selection,
    )
    assert not recovery.success
    # Dagster 1.13 creates a sensor's runs with root_run_id=None (dagster/_daemon/sensor.py),
    # so the recovery is a new run; its run-group tags file it under the failed run's group.
    assert recovery.dagster_run.get_root_run_id() == failed.run_id
    assert recovery.dagster_run.get_parent_run_id() == failed.run_id
    assert recovery.run_id in {r.run_id for r in instance.get_run_group(failed.run_id)[1]}
    incident_sensor(failure_context(instance, recovery.run_id, resources))

    healer = Healer(store)
    [joined] = healer.incidents()
    assert joined.incident_id == inc.incident_id and joined.root_run_id == failed.run_id
    assert (joined.status, joined.attempts) == ("remediating", 2)
    acts = healer.actions(inc.incident_id)
    detected = acts[acts["action"] == "failure_detected"]
    assert list(detected["run_id"]) == [failed.run_id, recovery.run_id]
    plans = acts[acts["action"] == REEXECUTE]
    assert list(plans["status"]) == ["launched", "planned"]
    assert [d["attempt"] for d in plans["detail"]] == [1, 2]


def test_the_remedy_sensor_turns_a_failed_check_of_a_successful_run_into_an_incident(
    instance, resources
) -> None:
    succeeds = {ROOT_TAG: "not-a-recovery"}  # the tag that makes sensor_flaky succeed
    suspect = execute(instance, check_passes=False, tags=succeeds)
    assert suspect.success

    assert tick(instance, resources) == []

    healer = Healer(resources["coordination"].store())
    [inc] = healer.incidents()
    assert (inc.source, inc.subject, inc.error_class) == ("asset_check", "sensor_flaky", CHECK)
    assert (inc.failure_class, inc.status) == ("upstream_data", "escalated")
    reports = Path(resources["reports_dir"].path) / "incidents"
    assert not (reports / f"{inc.incident_id}.md").exists()  # still open: no report yet

    assert execute(instance, tags=succeeds).success  # the data is right again
    assert tick(instance, resources) == []

    done = healer.incident(inc.incident_id)
    assert done.status == "recovered" and done.time_to_recover_s > 0
    assert "**recovered**" in (reports / f"{inc.incident_id}.md").read_text()


def test_a_recovery_covers_the_same_site_partitions_as_the_failed_run() -> None:
    from sensors.operations import _partition_tags

    ranged = dg.DagsterRun(
        job_name="market_research_job",
        run_id="r1",
        tags={
            "dagster/asset_partition_range_start": "http://a",
            "dagster/asset_partition_range_end": "http://e",
            "domain": "market_research",
        },
    )
    assert _partition_tags(ranged) == {
        "dagster/asset_partition_range_start": "http://a",
        "dagster/asset_partition_range_end": "http://e",
    }
    single = dg.DagsterRun(job_name="j", run_id="r2", tags={"dagster/partition": "http://b"})
    assert _partition_tags(single) == {"dagster/partition": "http://b"}
