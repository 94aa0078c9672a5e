"""The production stack for the tests of this folder: ``scripts/stack up`` once per session,
``scripts/stack down`` at the end, and helpers to launch runs through its webserver, watch them
in its PostgreSQL-backed instance, find the Celery workers that ran their steps and check the
warehouse's consistency.

Every test here that uses the stack is marked ``stack`` (registered in ``pyproject.toml``). The session stops the stack's schedules and sensors first, so that the only runs on the
stack are the tests' own (the canary's half-hourly schedule or incident re-executions would
otherwise share the two workers with them).
"""

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = ROOT / ".data" / "stack"
SECRET_NAMES = (
    "DAGSTER_PG_PASSWORD",
    "WAREHOUSE_PG_PASSWORD",
    "COORDINATION_PG_PASSWORD",
    "REDIS_PASSWORD",
)
RUN_TAG = "stack_test"
# a test-sized crawl (the default budget is 40 pages per site): every run of the tests uses it,
# so the fault runs are compared with a baseline of the same size
RESEARCH_CONFIG = {"ops": {"research_sources": {"config": {"max_pages_per_site": 12}}}}
SELECTOR = {"repositoryLocationName": "orchestration_project", "repositoryName": "__repository__"}
SELECTOR_QUERY = """query($s: RepositorySelector!) {
  schedulesOrError(repositorySelector: $s) {
    ... on Schedules { results { name scheduleState { id status } } } }
  sensorsOrError(repositorySelector: $s) {
    ... on Sensors { results { name sensorState { id status } } } } }"""
FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of this folder that use the stack ``stack`` and ``slow``."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and "stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)
            item.add_marker(pytest.mark.slow)


def read_env_file(path: Path) -> dict[str, str]:
    """The ``KEY=value`` lines of the stack's env file (single quotes stripped)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip("'")
    return env


def stack_command(*args: str, timeout: float = 300) -> str:
    """Run ``scripts/stack ARGS`` and return its output; raise with its output if it fails."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "stack"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/stack {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


@dataclass
class Stack:
    """The running stack: its settings, its Dagster instance and its webserver."""

    env: dict[str, str]
    instance: dg.DagsterInstance
    web_url: str
    run_ids: list[str] = field(default_factory=list)

    @property
    def sites(self) -> list[str]:
        """The research seeds (the demo world's competitor sites on loopback)."""
        return self.env["RESEARCH_SEED_URLS"].split(",")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL request to the stack's webserver."""
        r = httpx.post(
            f"{self.web_url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60,
        )
        r.raise_for_status()
        body = r.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def webserver_reconnects(self, *, attempts: int = 10) -> int:
        """Query the webserver's run, event-log and schedule storage until every query answers
        (after a PostgreSQL restart its pooled connections are dead: each fails one request,
        then SQLAlchemy replaces them); return how many requests failed on the way."""
        queries = [
            "{ runsOrError(limit: 1) { __typename ... on Runs { results { runId "
            "eventConnection { events { __typename } } } } } }",
            SELECTOR_QUERY,
        ]
        failures = 0
        for query in queries:
            for _ in range(attempts):
                try:
                    variables = {"s": SELECTOR} if query is SELECTOR_QUERY else None
                    data = self.graphql(query, variables)
                    if "PythonError" in repr(data):
                        raise RuntimeError(repr(data))
                    break
                except (RuntimeError, httpx.HTTPError):
                    failures += 1
                    time.sleep(0.5)
            else:
                raise AssertionError(f"the webserver did not reconnect: {query}")
        return failures

    def reload_code_location(self, *, timeout_s: float = 120) -> None:
        """Reload the code location in the webserver (the UI's *Reload*, what an operator does
        after restarting a code server) and wait until it is loaded."""
        deadline = time.time() + timeout_s
        while True:
            data = self.graphql(
                """mutation { reloadRepositoryLocation(repositoryLocationName:
                     "orchestration_project") { __typename
                     ... on WorkspaceLocationEntry { loadStatus
                       locationOrLoadError { __typename } } } }"""
            )["reloadRepositoryLocation"]
            loaded = data.get("loadStatus") == "LOADED"
            if loaded and data["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                return
            if time.time() > deadline:
                raise TimeoutError(f"the code location did not load again: {data}")
            time.sleep(1)

    def set_sensor(self, name: str, *, running: bool) -> None:
        """Start or stop a sensor of the code location on the stack's daemon (the UI's
        toggle)."""
        selector = {**SELECTOR, "sensorName": name}
        if running:
            data = self.graphql(
                """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
                     __typename ... on Sensor { sensorState { status } } } }""",
                {"s": selector},
            )["startSensor"]
            assert data.get("sensorState", {}).get("status") == "RUNNING", data
        else:
            state = self.graphql(
                """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                     ... on Sensor { sensorState { id status } } } }""",
                {"s": selector},
            )["sensorOrError"]["sensorState"]
            if state["status"] == "RUNNING":
                self.graphql(
                    "mutation($id: String) { stopSensor(id: $id) { __typename } }",
                    {"id": state["id"]},
                )

    def launch(
        self, job: str, tags: dict[str, str], run_config: dict[str, Any] | None = None
    ) -> str:
        """Submit a run of ``job`` to the run queue (as the UI does) and return its id."""
        from dagster_graphql import DagsterGraphQLClient

        host, port = self.web_url.removeprefix("http://").split(":")
        client = DagsterGraphQLClient(host, port_number=int(port), timeout=60)
        run_id = client.submit_job_execution(
            job,
            repository_location_name="orchestration_project",
            repository_name="__repository__",
            tags={RUN_TAG: "yes", **tags},
            run_config=run_config or {},
        )
        self.run_ids.append(run_id)
        return run_id

    def launch_market_research(self, **tags: str) -> str:
        """A run of the market-research job over every site partition, with the test-sized
        crawl budget :data:`RESEARCH_CONFIG`."""
        from assets.market_research.jobs import all_sites_tags, register_sites

        sites = register_sites(self.instance, self.sites)
        return self.launch(
            "market_research_job", {**all_sites_tags(sites), **tags}, RESEARCH_CONFIG
        )

    def run(self, run_id: str) -> dg.DagsterRun:
        """The run as the instance stores it now."""
        run = self.instance.get_run_by_id(run_id)
        assert run is not None, f"run {run_id} not found"
        return run

    def wait(self, run_id: str, *, timeout_s: float = 240) -> dg.DagsterRun:
        """Wait for ``run_id`` to finish and return it."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                run = self.run(run_id)
            except Exception:  # noqa: BLE001 - PostgreSQL may be restarting under a fault test
                time.sleep(1)
                continue
            if run.status in FINISHED:
                return run
            time.sleep(1)
        raise TimeoutError(f"run {run_id} still {self.run(run_id).status} after {timeout_s} s")

    def wait_for_step(self, run_id: str, step_key: str, *, timeout_s: float = 180) -> str:
        """Wait until ``step_key`` of ``run_id`` started on a Celery worker; return the
        worker's name."""
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            started = {e.step_key for e in self.events(run_id, dg.DagsterEventType.STEP_START)}
            if step_key in started:
                return step_workers(self, run_id)[step_key][-1]
            if self.run(run_id).status in FINISHED:
                raise AssertionError(f"run {run_id} finished before {step_key} started")
            time.sleep(0.3)
        raise TimeoutError(f"{step_key} of {run_id} did not start in {timeout_s} s")

    def events(self, run_id: str, of_type: dg.DagsterEventType | None = None) -> list[Any]:
        """The run's event log entries (of one type)."""
        return list(self.instance.all_logs(run_id, of_type=of_type))

    def run_worker_pid(self, run_id: str, *, timeout_s: float = 60) -> tuple[str, int]:
        """The Celery task of the run's current run worker and the PID of the process executing
        it, from the task's STARTED state in the result backend (Celery's ``track_started``)."""
        from celery import Celery
        from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

        app = Celery(broker=self.env["CELERY_BROKER_URL"], backend=self.env["CELERY_BACKEND_URL"])
        deadline = time.time() + timeout_s
        try:
            while True:
                task_id = self.run(run_id).tags.get(DAGSTER_CELERY_TASK_ID_TAG)
                result = app.AsyncResult(task_id) if task_id else None
                if result is not None and result.state == "STARTED":
                    return task_id, int(result.info["pid"])
                if time.time() > deadline:
                    state = result.state if result is not None else "no task"
                    raise TimeoutError(f"the run worker of {run_id} is not running: {state}")
                time.sleep(0.3)
        finally:
            app.close()

    def warehouse(self) -> sa.Engine:
        """An engine on the stack's warehouse database."""
        return sa.create_engine(self.env["WAREHOUSE_URL"], pool_pre_ping=True)


def step_workers(stack: Stack, run_id: str) -> dict[str, list[str]]:
    """For each step of the run, the Celery workers (hostnames) that executed it, in order —
    from the ``Executing steps ... in celery worker`` engine events the tasks report."""
    workers: dict[str, list[str]] = {}
    for entry in stack.events(run_id, dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.event_specific_data
        metadata = getattr(data, "metadata", None) or {}
        worker = metadata.get("Celery worker")
        if worker is not None and entry.step_key:
            workers.setdefault(entry.step_key, []).append(str(getattr(worker, "value", worker)))
    return workers


def stop_schedules_and_sensors(stack: Stack) -> None:
    """Stop every running schedule and sensor of the code location (test isolation)."""
    selector = {
        "repositoryLocationName": "orchestration_project",
        "repositoryName": "__repository__",
    }
    data = stack.graphql(
        """query($s: RepositorySelector!) {
             schedulesOrError(repositorySelector: $s) {
               ... on Schedules { results { name scheduleState { id status } } } }
             sensorsOrError(repositorySelector: $s) {
               ... on Sensors { results { name sensorState { id status } } } } }""",
        {"s": selector},
    )
    for schedule in data["schedulesOrError"]["results"]:
        if schedule["scheduleState"]["status"] == "RUNNING":
            stack.graphql(
                "mutation($id: String) { stopRunningSchedule(id: $id) { __typename } }",
                {"id": schedule["scheduleState"]["id"]},
            )
    for sensor in data["sensorsOrError"]["results"]:
        if sensor["sensorState"]["status"] == "RUNNING":
            stack.graphql(
                "mutation($id: String) { stopSensor(id: $id) { __typename } }",
                {"id": sensor["sensorState"]["id"]},
            )


IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def settle_runs(stack: Stack, *, started_at: float, timeout_s: float = 180) -> None:
    """Leave no other run on the stack: runs left in progress by an earlier session (their
    processes ended with ``scripts/stack down``) are marked failed, and runs launched since
    ``started_at`` (before the schedules were stopped) are waited for."""
    deadline = time.time() + timeout_s
    while True:
        records = stack.instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS))
        fresh = [r for r in records if r.create_timestamp.timestamp() >= started_at]
        for record in records:
            if record.create_timestamp.timestamp() < started_at:
                stack.instance.report_run_failed(
                    record.dagster_run, "abandoned: the stack stopped while it was in progress"
                )
        if not fresh:
            return
        if time.time() > deadline:
            raise TimeoutError(f"runs still in progress: {[r.dagster_run.run_id for r in fresh]}")
        time.sleep(2)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """``scripts/stack up`` (PostgreSQL, Redis, demo world, code server, webserver, daemon,
    two Celery workers), and ``scripts/stack down`` after the session."""
    started_at = time.time()
    stack_command("up")
    env = read_env_file(STACK_DIR / "env")
    saved = dict(os.environ)
    os.environ.update(env)  # this process reads the same instance and warehouse
    instance = dg.DagsterInstance.get()
    web = f"http://127.0.0.1:{env['STACK_WEB_PORT']}"
    the_stack = Stack(env=env, instance=instance, web_url=web)
    try:
        stop_schedules_and_sensors(the_stack)
        settle_runs(the_stack, started_at=started_at)
        yield the_stack
    finally:
        instance.dispose()
        os.environ.clear()
        os.environ.update(saved)
        stack_command("down")
