"""The production stack, for real: the market-research job on PostgreSQL with its steps on two
Celery workers, then the faults a production deployment meets — a worker SIGKILLed mid-step,
PostgreSQL restarted, Redis restarted, the code server restarted while a run goes — each followed
by the consistency checks (no duplicate rows or keys in the warehouse, the same rows as a clean
run), and no secret in any log or event.

The tests share one stack (``conftest.stack``) and run in file order: the first run is the clean
baseline the fault runs are compared with.
"""

import os
import signal
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.stack.conftest import (
    ROOT,
    SECRET_NAMES,
    STACK_DIR,
    Stack,
    stack_command,
    step_workers,
)

SCHEMA = "market_research"
# the natural keys of the warehouse tables the fault tests check for duplicates
KEYS = {
    "discovered_pages": ["url"],
    "page_snapshots": ["url"],
    "fetch_attempts": ["id"],
    "extracted_facts": ["fact_id"],
    "resolved_facts": ["site", "subject", "attribute"],
    "competitor_matrix": ["site", "product", "variant"],
    "agent_actions": ["action_id"],
}
RUN_TIMEOUT_S = 240
BASELINE: dict[str, Any] = {}


def table_counts(stack: Stack) -> dict[str, tuple[int, int]]:
    """Every table of the market-research schema: (rows, distinct rows)."""
    engine = stack.warehouse()
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": SCHEMA},
            ).scalars()
            counts = {}
            for table in sorted(tables):
                rows, distinct = conn.execute(
                    sa.text(
                        f'SELECT count(*), count(DISTINCT md5(t::text)) FROM {SCHEMA}."{table}" t'
                    )
                ).one()
                counts[table] = (rows, distinct)
            return counts
    finally:
        engine.dispose()


def duplicate_keys(stack: Stack) -> dict[str, int]:
    """For each keyed table, how many key values occur more than once."""
    engine = stack.warehouse()
    out = {}
    try:
        with engine.connect() as conn:
            for table, key in KEYS.items():
                cols = ", ".join(f'"{c}"' for c in key)
                out[table] = conn.execute(
                    sa.text(
                        f'SELECT count(*) FROM (SELECT {cols} FROM {SCHEMA}."{table}" '
                        f"GROUP BY {cols} HAVING count(*) > 1) d"
                    )
                ).scalar_one()
    finally:
        engine.dispose()
    return out


def assert_consistent(stack: Stack) -> None:
    """No duplicate rows in any market-research table, no duplicate keys, and the same row
    counts as the clean baseline run."""
    counts = table_counts(stack)
    duplicated_rows = {
        t: rows - distinct for t, (rows, distinct) in counts.items() if rows > distinct
    }
    assert not duplicated_rows, f"duplicate rows: {duplicated_rows}"
    assert duplicate_keys(stack) == dict.fromkeys(KEYS, 0)
    baseline = BASELINE["counts"]
    for table in ("page_snapshots", "competitor_matrix", "resolved_facts"):
        assert counts[table][0] == baseline[table][0], (table, counts[table], baseline[table])


def _root_cause(error: Any) -> str:
    while error.cause is not None:
        error = error.cause
    return error.message[:500]


def assert_succeeded(stack: Stack, run: dg.DagsterRun) -> None:
    """The run succeeded; else fail with each failed step's root cause."""
    failures = [
        (e.step_key, _root_cause(e.dagster_event.event_specific_data.error))
        for e in stack.events(run.run_id, dg.DagsterEventType.STEP_FAILURE)
    ]
    assert run.status == dg.DagsterRunStatus.SUCCESS, (run.status, failures)


def test_market_research_runs_on_postgres_with_steps_on_two_celery_workers(stack: Stack) -> None:
    run_id = stack.launch_market_research(case="baseline")
    run = stack.wait(run_id, timeout_s=RUN_TIMEOUT_S)
    assert_succeeded(stack, run)

    workers = step_workers(stack, run_id)
    # every step of the job ran on a Celery worker, and the steps spread over both workers
    planned = {e.step_key for e in stack.events(run_id, dg.DagsterEventType.STEP_START)}
    assert planned and planned <= set(workers), planned - set(workers)
    names = {w for ws in workers.values() for w in ws}
    assert {n.split("@")[0] for n in names} == {"worker1", "worker2"}, workers

    # the warehouse is PostgreSQL and holds the research of every site
    counts = table_counts(stack)
    assert counts["page_snapshots"][0] > 0 and counts["competitor_matrix"][0] > 0, counts
    engine = stack.warehouse()
    with engine.connect() as conn:
        sites = set(
            conn.execute(sa.text(f"SELECT DISTINCT site FROM {SCHEMA}.page_snapshots")).scalars()
        )
    engine.dispose()
    assert sites == set(stack.sites)
    assert duplicate_keys(stack) == dict.fromkeys(KEYS, 0)
    BASELINE["counts"] = counts
    BASELINE["run_id"] = run_id


def _pool_children(pid: int) -> list[int]:
    """The child processes of ``pid`` (a Celery worker's prefork pool)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in children.read_text().split()] if children.exists() else []


def test_a_worker_sigkilled_mid_step_is_redelivered_and_the_run_completes(stack: Stack) -> None:
    assert BASELINE, "the baseline run must come first"
    run_id = stack.launch_market_research(case="worker_sigkill")
    worker = stack.wait_for_step(run_id, "discovered_pages")
    name = worker.split("@")[0]  # worker1 or worker2: the stack's process names
    main_pid = int((STACK_DIR / "pids" / f"{name}.pid").read_text())
    children = _pool_children(main_pid)
    assert len(children) == 1, children  # -c 1: one pool process, executing the step now
    os.kill(children[0], signal.SIGKILL)

    run = stack.wait(run_id, timeout_s=RUN_TIMEOUT_S)
    assert_succeeded(stack, run)
    # the step's task went back to the queue (late ack) and ran again to completion
    executions = step_workers(stack, run_id)["discovered_pages"]
    assert len(executions) >= 2, executions
    worker_log = (STACK_DIR / "logs" / f"{name}.log").read_text()
    assert "SIGKILL" in worker_log or "WorkerLostError" in worker_log
    assert_consistent(stack)


def test_a_run_worker_killed_mid_run_is_resumed_by_run_monitoring(stack: Stack) -> None:
    """The run worker (a Celery task of ``resources.run_launcher.CeleryRunLauncher``) is
    SIGKILLed while the run's steps execute; the daemon's run monitoring sees its task FAILURE
    and resumes the run on a new run worker, which completes it without duplicating a row."""
    from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG

    run_id = stack.launch_market_research(case="run_worker_sigkill")
    stack.wait_for_step(run_id, "discovered_pages")
    task_id, pid = stack.run_worker_pid(run_id)
    runworker_pid = int((STACK_DIR / "pids" / "runworker.pid").read_text())
    assert pid in _pool_children(runworker_pid), (pid, _pool_children(runworker_pid))
    os.kill(pid, signal.SIGKILL)

    run = stack.wait(run_id, timeout_s=2 * RUN_TIMEOUT_S)
    assert_succeeded(stack, run)
    messages = [e.message for e in stack.events(run_id, dg.DagsterEventType.ENGINE_EVENT)]
    resumed = [m for m in messages if "Resuming run" in m]
    assert len(resumed) == 1, resumed  # one resumption by the monitor, and it sufficed
    assert "FAILED" in resumed[0], resumed[0]
    # no two attempts of a step ran at once: the step the dead run worker had sent was
    # stopped before the new run worker started, or it had finished before the resumption
    if not any("step task(s) of the dead run worker" in m for m in messages):
        engine = stack.events(run_id, dg.DagsterEventType.ENGINE_EVENT)
        resumed_at = min(e.timestamp for e in engine if "Resuming run" in e.message)
        done = stack.events(run_id, dg.DagsterEventType.STEP_SUCCESS)
        first = min(e.timestamp for e in done if e.step_key == "discovered_pages")
        assert first < resumed_at, (first, resumed_at)
    assert run.tags[DAGSTER_CELERY_TASK_ID_TAG] != task_id  # a new run worker finished it
    assert_consistent(stack)


def test_postgresql_restarted_mid_run_the_run_completes(stack: Stack) -> None:
    run_id = stack.launch_market_research(case="postgres_restart")
    stack.wait_for_step(run_id, "discovered_pages")
    stack_command("restart", "postgres")
    # the webserver holds pooled connections (no pre-ping): each dead one fails one request,
    # then it reconnects; the daemon, code server and workers open connections per use
    failed_requests = stack.webserver_reconnects()
    run = stack.wait(run_id, timeout_s=RUN_TIMEOUT_S)
    assert_succeeded(stack, run)
    assert_consistent(stack)
    assert failed_requests <= 6


def test_redis_restarted_mid_run_the_run_completes(stack: Stack) -> None:
    run_id = stack.launch_market_research(case="redis_restart")
    stack.wait_for_step(run_id, "discovered_pages")
    stack_command("restart", "redis")
    run = stack.wait(run_id, timeout_s=RUN_TIMEOUT_S)
    assert_succeeded(stack, run)
    assert_consistent(stack)


def test_code_server_restarted_while_a_run_goes(stack: Stack) -> None:
    run_id = stack.launch_market_research(case="codeserver_restart")
    stack.wait_for_step(run_id, "discovered_pages")
    stack_command("restart", "codeserver")
    run = stack.wait(run_id, timeout_s=RUN_TIMEOUT_S)
    assert_succeeded(stack, run)
    assert_consistent(stack)
    # and the restarted code server takes new runs once the webserver reloaded the location
    stack.reload_code_location()
    after = stack.launch("canary_job", {"case": "after_codeserver_restart"})
    assert stack.wait(after, timeout_s=RUN_TIMEOUT_S).status in {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,  # launched and executed: the canary's own outcome
    }


def test_the_incident_sensor_and_the_operations_job_run_on_the_stack(stack: Stack) -> None:
    """The daemon evaluates the incident sensor against the PostgreSQL instance: a canary run
    that fails (its one source answers 503) gets an incident in the coordination database.
    Then the operations job runs with its steps on the Celery workers and ingests the test
    runs — the failed canary among them — from the instance into the PostgreSQL warehouse."""
    from orchestration_project.operations.healing.healer import Healer
    from resources.coordination import CoordinationResource

    world = stack.env["DEMO_WORLD_BASE_PORT"]
    stack.set_sensor("incident_sensor", running=True)
    try:
        failing = stack.launch(
            "canary_job",
            {"case": "incident"},
            {
                "resources": {
                    "market_sources": {
                        "config": {
                            "market_topic": stack.env["RESEARCH_TOPIC"],
                            "seeds": [f"http://127.0.0.1:{world}/__fault/status/503"],
                        }
                    }
                }
            },
        )
        assert stack.wait(failing, timeout_s=RUN_TIMEOUT_S).status == dg.DagsterRunStatus.FAILURE
        healer = Healer(CoordinationResource(url=stack.env["COORDINATION_DB_URL"]).store())
        deadline = time.time() + 90
        while not (found := [i for i in healer.incidents() if i.root_run_id == failing]):
            assert time.time() < deadline, "the daemon's incident sensor opened no incident"
            time.sleep(2)
        assert found[0].job_name == "canary_job" and found[0].step_key == "canary__pages", found[0]
    finally:
        stack.set_sensor("incident_sensor", running=False)

    ops = stack.launch("operations_job", {"case": "operations"})
    run = stack.wait(ops, timeout_s=RUN_TIMEOUT_S)
    assert_succeeded(stack, run)
    started = {e.step_key for e in stack.events(ops, dg.DagsterEventType.STEP_START)}
    assert started and started <= set(step_workers(stack, ops)), started
    engine = stack.warehouse()
    try:
        with engine.connect() as conn:
            ingested = dict(
                conn.execute(sa.text("SELECT run_id, status FROM operations.runs")).all()
            )
    finally:
        engine.dispose()
    assert ingested.get(failing) == "FAILURE", ingested.get(failing)
    assert ingested.get(BASELINE["run_id"]) == "SUCCESS"


def test_no_secret_in_logs_metadata_or_events(stack: Stack) -> None:
    secrets = {name: stack.env[name] for name in SECRET_NAMES}
    assert all(len(v) >= 12 for v in secrets.values())
    # the stack's process logs and the steps' captured stdout/stderr
    files = [p for p in (STACK_DIR / "logs").glob("*.log")]
    files += [p for p in (STACK_DIR / "dagster_home").rglob("*") if p.is_file()]
    assert files
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{leaked} in {path.relative_to(ROOT)}"
    # every event of every test run, its tags and config, and every asset materialisation
    assert stack.run_ids
    for run_id in stack.run_ids:
        run = stack.run(run_id)
        blob = repr(run.run_config) + repr(run.tags)
        for entry in stack.events(run_id):
            blob += entry.message + repr(entry.dagster_event)
        leaked = [name for name, value in secrets.items() if value in blob]
        assert not leaked, f"{leaked} in the events of run {run_id}"


@pytest.fixture(autouse=True)
def _stack_is_whole_after_each_test(stack: Stack) -> Any:
    """Every service is running again after each test (a fault test restarts its service)."""
    yield
    deadline = time.time() + 60
    while True:
        try:
            stack_command("status", timeout=60)
            return
        except RuntimeError:
            if time.time() > deadline:
                raise
            time.sleep(2)
