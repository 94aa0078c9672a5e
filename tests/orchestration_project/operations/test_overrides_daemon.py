"""Lowered concurrency comes back under a real ``dagster-daemon``: production sensors, run queue
and launcher, the real canary job against the demo world.

The fault is real: this test holds the DuckDB warehouse file open (another writer), so the
canary's first write fails with ``WarehouseLockedError`` (resource exhaustion). Two canary
runs submitted while it holds the file fail as two overlapping incidents; the daemon's
``incident_sensor`` halves ``max_parallel:canary_job`` for each (4 -> 2 -> 1). The test then
lets go of the file. ``remedy_sensor`` launches both re-executions; their successes are two
quiet runs (``overrides:quiet_runs`` = 2 here), so a later tick of the same sensor doubles the
setting (1 -> 2); two more submitted runs earn the next step (2 -> 4, the baseline), and a last
run fetches with the whole fan-out again. Runs are submitted through the webserver's GraphQL
API, as the UI does. The test only submits runs and watches: every change of the setting is
made by the daemon's sensors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import pytest
import yaml

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.healing import (
    LOWER_CONCURRENCY,
    QUIET_RUNS_KEY,
    RESTORE_CONCURRENCY,
    Healer,
    OpsSettings,
)
from tests.conftest import ROOT_DIR, running_webserver

JOB = "canary_job"
KEY = f"max_parallel:{JOB}"
LOCATION = "orchestration_project"
STOP_SCHEDULES = ("canary_every_30_minutes", "market_research_daily", "operations_every_5_minutes")
SCHEDULES_QUERY = """
query($sel: RepositorySelector!) { schedulesOrError(repositorySelector: $sel) {
  ... on Schedules { results { name id scheduleState { status } } } } }
"""
# rollout_sensor starts the declared rollouts with a rollout_job run as soon as the daemon
# ticks: a run this test's held warehouse file would fail, as a third incident.
STOP_SENSORS = ("rollout_sensor",)
SENSORS_QUERY = """
query($sel: RepositorySelector!) { sensorsOrError(repositorySelector: $sel) {
  ... on Sensors { results { name id sensorState { status } } } } }
"""
STOP_SENSOR = """
mutation($id: String) { stopSensor(id: $id) {
  ... on StopSensorMutationResult { instigationState { status } } } }
"""
STOP_SCHEDULE = """
mutation($id: String) { stopRunningSchedule(id: $id) {
  ... on ScheduleStateResult { scheduleState { status } } } }
"""


def _graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    out = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    body = out.json()
    assert not body.get("errors"), body
    return body["data"]


def stop_schedules(url: str) -> None:
    """Stop the project's schedules (and the sensors that launch runs of their own) in this
    instance: only submitted runs and recoveries run."""
    sel = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__"}
    schedules = _graphql(url, SCHEDULES_QUERY, {"sel": sel})["schedulesOrError"]["results"]
    for sch in schedules:
        if sch["name"] in STOP_SCHEDULES:
            out = _graphql(url, STOP_SCHEDULE, {"id": sch["id"]})["stopRunningSchedule"]
            assert out["scheduleState"]["status"] == "STOPPED"
    sensors = _graphql(url, SENSORS_QUERY, {"sel": sel})["sensorsOrError"]["results"]
    assert {s["name"] for s in sensors} >= set(STOP_SENSORS)
    for sensor in sensors:
        if sensor["name"] in STOP_SENSORS:
            out = _graphql(url, STOP_SENSOR, {"id": sensor["id"]})["stopSensor"]
            assert out["instigationState"]["status"] == "STOPPED"


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> list[tuple[int, str | None]]:
    """(pid, start time) of every descendant of ``pid``: a later signal goes to the same
    processes only, not to whatever reused a pid."""
    out, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            out += [(k, _start_time(k)) for k in kids]
            todo += kids
    return out


@contextmanager
def running_daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """``dagster-daemon run`` over the repository's workspace; stopped by its own PID, then any
    process it left behind (code server, run workers) by theirs."""
    daemon = Path(sys.executable).parent / "dagster-daemon"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(daemon), "run", "-w", str(ROOT_DIR / "workspace.yaml")],
            cwd=ROOT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            left = _descendants(proc.pid)
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            for pid, started in left:
                if started is not None and _start_time(pid) == started:
                    with suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)


def wait_for(what: str, ok: Callable[[], Any], daemon: subprocess.Popen, log: Path, timeout_s=300):
    """Poll ``ok`` until it returns something true; fail with the daemon's log otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-3000:]}"
        value = ok()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"{what}: not after {timeout_s} s\n{log.read_text()[-3000:]}")


def healing_sensors_ticked(instance: dg.DagsterInstance) -> bool:
    """Whether the daemon has ticked both healing sensors (a run-failure sensor only sees
    failures after its first tick)."""
    from dagster._core.definitions.run_request import InstigatorType

    ticked = {
        state.instigator_name
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
    }
    return {"incident_sensor", "remedy_sensor"} <= ticked


def pages_parallel(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The fan-out the canary's pages step used in ``run_id`` (its materialization metadata)."""
    for rec in instance.all_logs(run_id, of_type={dg.DagsterEventType.ASSET_MATERIALIZATION}):
        mat = rec.dagster_event.event_specific_data.materialization
        if mat.asset_key == dg.AssetKey(["canary", "pages"]):
            return int(mat.metadata["max_parallel"].value)
    return None


def test_the_daemon_lowers_concurrency_under_faults_and_restores_it_after_quiet_runs(
    demo_world, tmp_path: Path
) -> None:
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    config = yaml.safe_load((ROOT_DIR / "dagster.yaml").read_text())
    config["run_monitoring"] = {"enabled": False}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    base = int(demo_world.allowed_hosts[0].split(":")[1])
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ORCHESTRATION_DATA_DIR": str(data),
        "DEMO_WORLD_BASE_PORT": str(base),
        "WAREHOUSE_LOCK_TIMEOUT_S": "1",
        "FAULT_STEP_RATE": "0",
        "DAGSTER_DISABLE_TELEMETRY": "yes",
    }
    env.pop("ORCHESTRATION_ENV", None)
    store = CoordinationStore(f"sqlite:///{data / 'coordination.db'}")
    settings = OpsSettings(store)
    settings.set(QUIET_RUNS_KEY, 2, reason="test: two quiet runs per restore step")
    healer = Healer(store)
    log = tmp_path / "daemon.log"

    from dagster_graphql import DagsterGraphQLClient

    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        running_webserver(env) as url,
    ):
        stop_schedules(url)
        client = DagsterGraphQLClient("127.0.0.1", port_number=int(url.rsplit(":", 1)[1]))

        def submit() -> str:
            return client.submit_job_execution(
                JOB, repository_location_name=LOCATION, repository_name="__repository__"
            )

        def finished(run_id: str) -> dg.DagsterRunStatus | None:
            run = instance.get_run_by_id(run_id)
            return run.status if run is not None and run.is_finished else None

        with running_daemon(env, log) as daemon:
            wait_for(
                "the healing sensors tick", lambda: healing_sensors_ticked(instance), daemon, log
            )
            # The fault: another process (this one) holds the warehouse file.
            holder = duckdb.connect(str(data / "warehouse.duckdb"))
            try:
                faulted = [submit(), submit()]
                for run_id in faulted:
                    status = wait_for(
                        f"run {run_id} ends", lambda r=run_id: finished(r), daemon, log
                    )
                    assert status == dg.DagsterRunStatus.FAILURE
                wait_for(
                    "both incidents lower the fan-out",
                    lambda: settings.get(KEY) == 1,
                    daemon,
                    log,
                    timeout_s=120,
                )
            finally:
                holder.close()

            incidents = healer.incidents()
            assert len(incidents) == 2
            assert {i.failure_class for i in incidents} == {"resource_exhaustion"}
            acts = healer.actions()
            lowered = acts[acts["action"] == LOWER_CONCURRENCY]["detail"].tolist()
            assert sorted((d["before"], d["after"]) for d in lowered) == [(2, 1), (4, 2)]

            # Recovery: the remedy sensor re-executes both; their successes are the quiet runs.
            wait_for(
                "both incidents recover",
                lambda: {i.status for i in healer.incidents()} == {"recovered"},
                daemon,
                log,
                timeout_s=420,
            )
            wait_for("one restore step", lambda: settings.get(KEY) == 2, daemon, log, timeout_s=90)
            recoveries = [
                r.dagster_run.run_id
                for r in instance.get_run_records(dg.RunsFilter(job_name=JOB))
                if r.dagster_run.run_id not in faulted
            ]
            assert sorted(pages_parallel(instance, r) for r in recoveries) == [1, 1]

            quiet = [submit(), submit()]
            for run_id in quiet:
                status = wait_for(f"run {run_id} ends", lambda r=run_id: finished(r), daemon, log)
                assert status == dg.DagsterRunStatus.SUCCESS
                assert pages_parallel(instance, run_id) == 2
            wait_for(
                "back at the baseline", lambda: settings.get(KEY) == 4, daemon, log, timeout_s=90
            )

            last = submit()
            assert wait_for("the last run", lambda: finished(last), daemon, log) == (
                dg.DagsterRunStatus.SUCCESS
            )
            assert pages_parallel(instance, last) == 4

    history = healer.overrides.all()
    assert list(history["status"]) == ["replaced", "restored", "restored"]
    assert list(history["value"]) == [2, 1, 2]
    assert set(history["baseline"]) == {4}
    acts = healer.actions()
    restored = acts[acts["action"] == RESTORE_CONCURRENCY]["detail"].tolist()
    assert [(d["before"], d["value"]) for d in restored] == [(1, 2), (2, 4)]
    assert all("successful run(s) of canary_job" in d["reason"] for d in restored)
