"""The production Dagster instance (``deploy/dagster.production.yaml``) on a real PostgreSQL.

Regression: ``dagster-postgres`` was unpinned and the lock resolved it to 0.11.13 (2021), which
does not import under Dagster 1.13, so the production profile could not start at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from tests.backends import pg_url

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def test_dagster_integrations_are_on_dagsters_release_line() -> None:
    import dagster_postgres
    import dagster_webserver

    major, minor = (int(x) for x in dg.__version__.split(".")[:2])
    assert dagster_webserver.__version__ == dg.__version__
    # Integration libraries version as 0.(minor + 16).patch alongside dagster 1.minor.patch.
    assert dagster_postgres.__version__ == f"0.{minor + 16}.{dg.__version__.split('.')[2]}"
    assert major == 1


@pytest.fixture
def database() -> Iterator[sa.URL]:
    """A fresh database on the test server, dropped afterwards."""
    url = sa.make_url(pg_url())
    name = "dagster_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dg.op
def hello() -> int:
    return 1


@dg.job
def tiny_job() -> None:
    hello()


def test_the_production_instance_config_runs_a_job_on_postgresql(
    database: sa.URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dagster.yaml").write_text((ROOT / "deploy/dagster.production.yaml").read_text())
    monkeypatch.setenv("DAGSTER_PG_USERNAME", database.username or "")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", database.password or "")
    monkeypatch.setenv("DAGSTER_PG_HOST", database.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_DB", database.database or "")

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        result = tiny_job.execute_in_process(instance=instance)
        assert result.success
        stored = instance.get_run_by_id(result.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
        assert instance.all_logs(result.run_id)  # the event log is in PostgreSQL too
