"""Versioned warehouse migrations, as the evolution domain presents them.

The runner itself lives in :mod:`orchestration_project.common.migrations`: the domains are
independent layers (``pyproject.toml``'s import contracts), so the operations domain, which
applies its own migrations before it writes, cannot import this package, and the runner sits in
the layer below both. Each domain owns its migration list
(``orchestration_project.operations.run_metadata.migrations.MIGRATIONS``,
``orchestration_project.operations.prediction_traces.LOCK_PROBE_MIGRATIONS``).
"""

from orchestration_project.common.migrations import (
    DUCKDB,
    MIGRATIONS_SCHEMA,
    MIGRATIONS_TABLE,
    POSTGRESQL,
    CompatibilityReport,
    Db,
    Migration,
    MigrationError,
    MigrationStatus,
    apply_migrations,
    compatibility_report,
    migration_status,
    pending_migrations,
    type_family,
)

__all__ = [
    "DUCKDB",
    "MIGRATIONS_SCHEMA",
    "MIGRATIONS_TABLE",
    "POSTGRESQL",
    "CompatibilityReport",
    "Db",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "apply_migrations",
    "compatibility_report",
    "migration_status",
    "pending_migrations",
    "type_family",
]
