"""The migrations of the ``operations`` tables (run metadata, the ingest cursor, the
consolidated domain tables), applied by :func:`ensure_migrated` before every write.

The table definitions below are frozen copies, never imported from ``schema.py``: an applied
migration must keep doing exactly what it did (its checksum covers its SQL). A column that
``schema.py`` starts writing needs a new migration; ``tests/orchestration_project/evolution``
fails until there is one.

1. ``operations_baseline`` — the tables as release 0.1.0 wrote them (same column types), created
   when missing; tables written before 0.1.0 get the columns they lack (rows kept). Replaces the
   ad-hoc ``CREATE TABLE IF NOT EXISTS ... AS SELECT ... LIMIT 0`` and ``ADD COLUMN`` paths.
2. ``operations_cursor_advanced_at`` — ``advanced_at`` on the ingest cursor: when ingestion
   last advanced it, written with every cursor (a stalled ingestion shows as an old
   ``advanced_at``, which ``updated_after`` — the runs' own update time — cannot tell). A cursor
   written before it keeps NULL. Backward compatible: 0.1.0 reads ``updated_after`` by name.
   (0.1.0 *writing* the cursor again would recreate the table without the column: harmless to
   it, and today's code then fails clearly asking for the migration to be re-applied.)
"""

from __future__ import annotations

from typing import Any

from orchestration_project.common.migrations import (
    DUCKDB,
    Migration,
    apply_migrations,
    compatibility_report,
    migration_status,
)

_SQL_TYPES = {
    DUCKDB: {
        "ts": "TIMESTAMPTZ",
        "float": "DOUBLE",
        "int": "BIGINT",
        "bool": "BOOLEAN",
        "str": "VARCHAR",
    },
    "postgresql": {
        "ts": "TIMESTAMP WITH TIME ZONE",
        "float": "DOUBLE PRECISION",
        "int": "BIGINT",
        "bool": "BOOLEAN",
        "str": "TEXT",
    },
}

# The operations tables of release 0.1.0 (frozen: see the module docstring).
_V1_TABLES: dict[str, list[tuple[str, str]]] = {
    "runs": [
        ("run_id", "str"),
        ("job_name", "str"),
        ("status", "str"),
        ("created_at", "ts"),
        ("started_at", "ts"),
        ("ended_at", "ts"),
        ("duration_s", "float"),
        ("root_run_id", "str"),
        ("parent_run_id", "str"),
        ("tags", "str"),
        ("updated_at", "ts"),
        ("clock_skew", "bool"),
    ],
    "steps": [
        ("run_id", "str"),
        ("step_key", "str"),
        ("status", "str"),
        ("started_at", "ts"),
        ("ended_at", "ts"),
        ("duration_s", "float"),
        ("attempts", "int"),
        ("clock_skew", "bool"),
    ],
    "materializations": [
        ("run_id", "str"),
        ("step_key", "str"),
        ("asset_key", "str"),
        ("at", "ts"),
        ("row_count", "int"),
    ],
    "check_results": [
        ("run_id", "str"),
        ("asset_key", "str"),
        ("check_name", "str"),
        ("passed", "bool"),
        ("severity", "str"),
        ("at", "ts"),
    ],
    "failures": [
        ("run_id", "str"),
        ("step_key", "str"),
        ("error_class", "str"),
        ("message", "str"),
        ("failure_class", "str"),
        ("retryable", "bool"),
        ("at", "ts"),
    ],
    "ingest_cursor": [("updated_after", "float")],
    "agent_actions": [
        ("domain", "str"),
        ("action_id", "str"),
        ("run_id", "str"),
        ("agent", "str"),
        ("role", "str"),
        ("kind", "str"),
        ("name", "str"),
        ("inputs", "str"),
        ("output", "str"),
        ("started_at", "ts"),
        ("duration_s", "float"),
        ("cost_usd", "float"),
        ("outcome", "str"),
        ("error", "str"),
        ("route", "str"),
        ("task_id", "str"),
    ],
    "fetch_attempts": [
        ("domain", "str"),
        ("id", "int"),
        ("crawl_id", "str"),
        ("url", "str"),
        ("site", "str"),
        ("route", "str"),
        ("outcome", "str"),
        ("status", "int"),
        ("size_bytes", "int"),
        ("latency_s", "float"),
        ("needs_javascript", "bool"),
        ("reason", "str"),
        ("error", "str"),
        ("attempted_at", "ts"),
    ],
}


def _baseline(dialect: str) -> list[str]:
    types = _SQL_TYPES.get(dialect, _SQL_TYPES["postgresql"])
    out = ['CREATE SCHEMA IF NOT EXISTS "operations"']
    for table, cols in _V1_TABLES.items():
        body = ", ".join(f'"{c}" {types[t]}' for c, t in cols)
        out.append(f'CREATE TABLE IF NOT EXISTS "operations"."{table}" ({body})')
        # A table written before 0.1.0 exists with fewer columns: add the missing ones.
        out += [
            f'ALTER TABLE "operations"."{table}" ADD COLUMN IF NOT EXISTS "{c}" {types[t]}'
            for c, t in cols
        ]
    return out


def _cursor_advanced_at(dialect: str) -> list[str]:
    ts = _SQL_TYPES.get(dialect, _SQL_TYPES["postgresql"])["ts"]
    return [f'ALTER TABLE "operations"."ingest_cursor" ADD COLUMN IF NOT EXISTS advanced_at {ts}']


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "operations_baseline",
        sql=_baseline,
        description="the operations tables of 0.1.0, created or completed (rows kept)",
    ),
    Migration(
        2,
        "operations_cursor_advanced_at",
        sql=_cursor_advanced_at,
        description="advanced_at on the ingest cursor: when ingestion last advanced it",
    ),
]
"""The operations tables' migrations, in order (append only: never edit an applied one)."""

MIGRATED_COLUMNS: dict[str, list[str]] = {
    t: [c for c, _ in cols] + (["advanced_at"] if t == "ingest_cursor" else [])
    for t, cols in _V1_TABLES.items()
}
"""Every column of every operations table once all :data:`MIGRATIONS` are applied."""


def ensure_migrated(conn: Any) -> list[Any]:
    """Apply the pending operations migrations on ``conn`` (DuckDB connection outside a
    transaction, SQLAlchemy Connection or Engine); return those applied."""
    return apply_migrations(conn, MIGRATIONS)


__all__ = [
    "MIGRATED_COLUMNS",
    "MIGRATIONS",
    "compatibility_report",
    "ensure_migrated",
    "migration_status",
]
