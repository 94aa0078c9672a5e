"""The executor is chosen by configuration: in-process by default, Celery when
``DAGSTER_EXECUTOR=celery`` (with late acknowledgement, so a killed worker's step is
redelivered)."""

import dagster as dg
import pytest

from resources.executor import celery_executor_config, celery_worker_settings, job_executor


def test_the_default_executor_is_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAGSTER_EXECUTOR", raising=False)
    assert job_executor() is dg.in_process_executor
    monkeypatch.setenv("DAGSTER_EXECUTOR", "in_process")
    assert job_executor() is dg.in_process_executor


def test_the_environment_selects_celery_with_late_acks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_EXECUTOR", "celery")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:s3cret@127.0.0.1:6390/0")
    monkeypatch.setenv("CELERY_BACKEND_URL", "redis://:s3cret@127.0.0.1:6390/1")
    executor = job_executor()
    assert executor.name == "celery"
    config = celery_executor_config()
    # the broker URLs stay environment references: no password in the definition
    assert config["broker"] == {"env": "CELERY_BROKER_URL"}
    assert config["backend"] == {"env": "CELERY_BACKEND_URL"}
    assert "s3cret" not in repr(config)
    source = config["config_source"]
    assert source["task_acks_late"] is True
    assert source["task_reject_on_worker_lost"] is True
    assert source["worker_prefetch_multiplier"] == 1
    assert source == celery_worker_settings()


def test_a_job_built_with_the_celery_executor_creates_a_celery_executor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster_celery.executor import CeleryExecutor

    monkeypatch.setenv("DAGSTER_EXECUTOR", "celery")
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6390/0")
    monkeypatch.delenv("CELERY_BACKEND_URL", raising=False)

    @dg.op
    def one() -> int:
        return 1

    @dg.job(executor_def=job_executor())
    def celery_job() -> None:
        one()

    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.executor.init import InitExecutorContext
    from dagster._core.system_config.objects import ResolvedRunConfig

    # the environment references are resolved when a run's config is (in the run worker)
    resolved = ResolvedRunConfig.build(celery_job, {}).execution.execution_engine_config
    executor = celery_job.executor_def.executor_creation_fn(
        InitExecutorContext(
            job=InMemoryJob(celery_job),
            executor_def=celery_job.executor_def,
            executor_config=resolved,
            instance=dg.DagsterInstance.ephemeral(),
        )
    )
    assert isinstance(executor, CeleryExecutor)
    assert executor.broker == "redis://127.0.0.1:6390/0"
    assert executor.backend == "redis://127.0.0.1:6390/0"  # the broker doubles as the backend
    assert executor.config_source.task_acks_late is True


def test_an_unknown_executor_or_a_missing_broker_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGSTER_EXECUTOR", "multiprocess-please")
    with pytest.raises(ValueError, match="not one of"):
        job_executor()
    monkeypatch.setenv("DAGSTER_EXECUTOR", "celery")
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    with pytest.raises(ValueError, match="CELERY_BROKER_URL"):
        job_executor()
