"""The migration runner on DuckDB and PostgreSQL: order, idempotency, checksums, rollback,
compatibility notes and concurrent runners; the operations migrations cover what
``schema.py`` writes."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from orchestration_project.common.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    compatibility_report,
    migration_status,
    pending_migrations,
)
from orchestration_project.operations.run_metadata.migrations import MIGRATED_COLUMNS, MIGRATIONS
from orchestration_project.operations.run_metadata.schema import (
    CONSOLIDATED,
    CURSOR_TABLE,
    TABLE_COLUMNS,
)
from tests.backends import pg_url
from tests.conftest import run_at_once


def _create(dialect: str) -> list[str]:
    return [
        'CREATE SCHEMA IF NOT EXISTS "shop"',
        'CREATE TABLE "shop"."items" (id BIGINT, name VARCHAR)',
    ]


def _add_price(dialect: str) -> list[str]:
    return ['ALTER TABLE "shop"."items" ADD COLUMN price DOUBLE PRECISION']


def _rename(dialect: str) -> list[str]:
    return ['ALTER TABLE "shop"."items" RENAME COLUMN name TO title']


V1 = Migration(1, "items", sql=_create)
V2 = Migration(2, "items_price", sql=_add_price)
RENAME = Migration(
    3,
    "items_title",
    sql=_rename,
    backward_compatible=False,
    why_not="0.1.0 reads items.name, which is now items.title",
)
OLD_SCHEMA = {"shop.items": {"id": "BIGINT", "name": "VARCHAR"}}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A connection to an empty database: a DuckDB file, or a new PostgreSQL database."""
    if request.param == "duckdb":
        c = duckdb.connect(str(tmp_path / "w.duckdb"))
        yield c
        c.close()
        return
    base = make_url(pg_url())
    name = "mig_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = sa.create_engine(base.set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _rows(conn: Any, sql: str) -> list[tuple]:
    if isinstance(conn, sa.engine.Engine):
        with conn.connect() as c:
            return [tuple(r) for r in c.exec_driver_sql(sql).fetchall()]
    return conn.execute(sql).fetchall()


def test_pending_migrations_apply_in_order_once(conn: Any) -> None:
    assert [m.version for m in pending_migrations(conn, [V2, V1])] == [1, 2]
    assert [s.version for s in apply_migrations(conn, [V2, V1])] == [1, 2]
    assert apply_migrations(conn, [V1, V2]) == []  # idempotent
    status = migration_status(conn, [V1, V2])
    assert [(s.version, s.state) for s in status] == [(1, "applied"), (2, "applied")]
    assert all(s.backward_compatible and s.applied_at is not None for s in status)
    rows = _rows(conn, "SELECT version, name, checksum FROM evolution.schema_migrations")
    assert sorted(rows) == [(1, "items", V1.checksum), (2, "items_price", V2.checksum)]
    assert compatibility_report(conn, OLD_SCHEMA).compatible


def test_a_changed_applied_migration_is_refused(conn: Any) -> None:
    apply_migrations(conn, [V1])
    edited = Migration(1, "items", sql=lambda d: [*_create(d), "SELECT 1"])
    assert edited.checksum != V1.checksum
    assert migration_status(conn, [edited])[0].state == "changed"
    with pytest.raises(MigrationError, match="Never edit an applied migration"):
        apply_migrations(conn, [edited, V2])
    assert migration_status(conn, [V1, V2])[1].state == "pending"  # V2 not applied


def test_a_failing_migration_is_rolled_back_and_not_recorded(conn: Any) -> None:
    def broken(dialect: str) -> list[str]:
        return [
            'ALTER TABLE "shop"."items" ADD COLUMN half_done BIGINT',
            'ALTER TABLE "shop"."nowhere" ADD COLUMN x BIGINT',
        ]

    with pytest.raises(MigrationError, match="rolled back"):
        apply_migrations(conn, [V1, Migration(2, "broken", sql=broken)])
    assert [s.state for s in migration_status(conn, [V1, V2])] == ["applied", "pending"]
    cols = _rows(
        conn,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'",
    )
    assert "half_done" not in {c for (c,) in cols}


def test_an_incompatible_migration_records_why_not(conn: Any) -> None:
    apply_migrations(conn, [V1, V2, RENAME])
    status = migration_status(conn, [V1, V2, RENAME])[2]
    assert status.backward_compatible is False
    assert "items.name, which is now items.title" in status.note
    report = compatibility_report(conn, OLD_SCHEMA)
    assert not report.compatible and report.problems == ["shop.items.name is gone"]


def test_a_false_compatibility_claim_is_rolled_back(conn: Any) -> None:
    apply_migrations(conn, [V1])
    lying = Migration(2, "items_title", sql=_rename)  # claims compatibility
    with pytest.raises(MigrationError, match="claims backward compatibility"):
        apply_migrations(conn, [V1, lying], previous_schema=OLD_SCHEMA)
    assert compatibility_report(conn, OLD_SCHEMA).compatible
    assert migration_status(conn, [V1, lying])[1].state == "pending"


def test_an_incompatible_migration_must_say_why() -> None:
    with pytest.raises(ValueError, match="why_not"):
        Migration(9, "x", sql=_rename, backward_compatible=False)


def test_concurrent_runners_apply_each_migration_once(conn: Any, tmp_path: Path) -> None:
    def run() -> None:
        if isinstance(conn, sa.engine.Engine):
            engine = sa.create_engine(conn.url)
            apply_migrations(engine, [V1, V2])
            engine.dispose()
        else:
            apply_migrations(conn.cursor(), [V1, V2])

    assert run_at_once(run, 4) == []
    rows = _rows(conn, "SELECT version FROM evolution.schema_migrations ORDER BY version")
    assert rows == [(1,), (2,)]


def test_operations_migrations_cover_every_column_written_today(conn: Any) -> None:
    apply_migrations(conn, MIGRATIONS)
    written = {
        **TABLE_COLUMNS,
        CURSOR_TABLE: ["updated_after", "advanced_at"],
        **{t: spec.columns for t, spec in CONSOLIDATED.items()},
    }
    for table, columns in written.items():
        have = {
            c
            for (c,) in _rows(
                conn,
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = 'operations' AND table_name = '{table}'",
            )
        }
        assert set(columns) <= have == set(MIGRATED_COLUMNS[table]), table
