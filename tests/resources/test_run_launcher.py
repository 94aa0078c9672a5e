"""The stack's run launcher reads a run worker's health from its Celery task's state in a real
Redis result backend (a ``redis-server`` this test starts; ``scripts/install`` installs it), and
run workers are acknowledged on receipt while steps are acknowledged late."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from celery import Celery
from dagster._core.launcher import WorkerStatus
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from resources.executor import celery_worker_settings
from resources.run_launcher import RUN_QUEUE, CeleryRunLauncher


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis on a free loopback port, for this module."""
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: ./scripts/install installs it"
    port = _free_port()
    data = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, "redis-server did not start"
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/1"
    proc.terminate()
    proc.wait(10)


def _run(task_id: str | None) -> dg.DagsterRun:
    tags = {DAGSTER_CELERY_TASK_ID_TAG: task_id} if task_id else {}
    return dg.DagsterRun(job_name="a_job", run_id=f"run-{task_id}", tags=tags)


def test_the_task_state_is_the_run_worker_health(redis_url: str) -> None:
    launcher = CeleryRunLauncher(broker=redis_url, backend=redis_url)
    assert launcher.default_queue == RUN_QUEUE
    assert launcher.supports_resume_run and launcher.supports_check_run_worker_health
    backend = launcher.celery.backend

    backend.store_result("t-started", {"pid": 123, "hostname": "runworker@h"}, "STARTED")
    assert launcher.check_run_worker_health(_run("t-started")).status == WorkerStatus.RUNNING
    # a resumption's task waiting in the queue has no state yet: not a reason to resume again
    assert launcher.check_run_worker_health(_run("t-queued")).status == WorkerStatus.RUNNING
    backend.store_result("t-done", 0, "SUCCESS")
    assert launcher.check_run_worker_health(_run("t-done")).status == WorkerStatus.SUCCESS
    # what Celery stores when the pool process executing the task is killed
    from billiard.exceptions import WorkerLostError

    backend.mark_as_failure("t-lost", WorkerLostError("Worker exited prematurely: signal 9"))
    lost = launcher.check_run_worker_health(_run("t-lost"))
    assert lost.status == WorkerStatus.FAILED and "FAILURE" in lost.msg
    backend.mark_as_revoked("t-revoked")
    assert launcher.check_run_worker_health(_run("t-revoked")).status == WorkerStatus.FAILED
    assert launcher.check_run_worker_health(_run(None)).status == WorkerStatus.UNKNOWN


def test_run_workers_are_acknowledged_on_receipt_and_steps_late() -> None:
    """A killed step's task goes back to the queue (redelivered); a killed run worker's task
    ends FAILURE, so run monitoring resumes the run instead of a duplicate run worker
    starting."""
    app = Celery(broker="memory://", backend="cache+memory://")
    app.conf.update(celery_worker_settings())
    create_task(app)
    create_execute_job_task(app)
    create_resume_job_task(app)
    app.finalize()
    step = app.tasks["execute_plan"]
    assert step.acks_late is True and step.reject_on_worker_lost is True
    for name in ("execute_job", "resume_job"):
        run_task = app.tasks[name]
        assert run_task.acks_late is False and run_task.reject_on_worker_lost is False, name
        assert run_task.track_started is True


def test_the_stack_instance_uses_the_launcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    """``deploy/dagster.stack.yaml`` loads this launcher, with resumption enabled."""
    import yaml

    root = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((root / "deploy" / "dagster.stack.yaml").read_text())
    config.pop("storage")  # the instance's PostgreSQL is the stack's; the launcher is the point
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", redis_url)
    monkeypatch.setenv("CELERY_BACKEND_URL", redis_url)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_launcher, CeleryRunLauncher)
        assert instance.run_launcher.default_queue == RUN_QUEUE
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_max_resume_run_attempts == 2
