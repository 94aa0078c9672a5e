"""Every warehouse migration of every domain, applied to the configured warehouse.

The warehouse IO manager applies the pending ones once per process before its first write
(:func:`ensure_warehouse_migrated`), run-metadata ingestion applies its own before every write,
and ``python -m orchestration_project migrate [--status]`` applies or lists them by hand.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from orchestration_project.common.migrations import (
    Migration,
    MigrationStatus,
    apply_migrations,
    migration_status,
)
from orchestration_project.operations.run_metadata.migrations import (
    MIGRATIONS as OPERATIONS_MIGRATIONS,
)
from orchestration_project.research.migrations import MIGRATIONS as RESEARCH_MIGRATIONS
from resources.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse


def _all() -> list[Migration]:
    every = [*OPERATIONS_MIGRATIONS, *RESEARCH_MIGRATIONS]
    versions = [m.version for m in every]
    if len(set(versions)) != len(versions):
        raise ValueError(f"warehouse migration versions must be unique: {sorted(versions)}")
    return sorted(every, key=lambda m: m.version)


WAREHOUSE_MIGRATIONS: Sequence[Migration] = _all()
"""The warehouse's migrations, by version (versions are global across domains)."""

_DONE: set[str] = set()
_LOCK = threading.Lock()


def _run(warehouse: Warehouse, fn: Any) -> Any:
    if isinstance(warehouse, DuckDBWarehouse):
        with warehouse.connect() as conn:
            return fn(conn)
    if isinstance(warehouse, PostgresWarehouse):
        engine = warehouse._engine()
        try:
            return fn(engine)
        finally:
            engine.dispose()
    raise TypeError(f"no migrations for {type(warehouse).__name__}")


def _where(warehouse: Warehouse) -> str:
    return str(getattr(warehouse, "path", "") or getattr(warehouse, "url", "") or id(warehouse))


def migrate_warehouse(warehouse: Warehouse) -> list[MigrationStatus]:
    """Apply every pending warehouse migration; return those applied."""
    return _run(warehouse, lambda conn: apply_migrations(conn, WAREHOUSE_MIGRATIONS))


def warehouse_migration_status(warehouse: Warehouse) -> list[MigrationStatus]:
    """The state of every warehouse migration (applied, pending, changed, unknown)."""
    return _run(warehouse, lambda conn: migration_status(conn, WAREHOUSE_MIGRATIONS))


def ensure_warehouse_migrated(warehouse: Warehouse) -> None:
    """Apply pending migrations once per process and warehouse location."""
    where = _where(warehouse)
    if where in _DONE:
        return
    with _LOCK:
        if where not in _DONE:
            migrate_warehouse(warehouse)
            _DONE.add(where)
