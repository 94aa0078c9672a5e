"""Versioned warehouse migrations: a small runner with a migrations table (no Alembic).

A :class:`Migration` is an ordered, versioned object (``version``, ``name``, its DDL as
``sql(dialect)`` statements or an ``up(db, dialect)`` callable) that declares whether the
previous release's code can still read the tables afterwards (``backward_compatible``) and,
when it cannot, why (``why_not``). :func:`apply_migrations` applies the pending ones in order,
each in its own transaction, and records each in ``evolution.schema_migrations`` (version, name,
checksum, applied_at, backward_compatible, note). It is idempotent, refuses to run when an
applied migration's checksum no longer matches the code (an applied migration must never be
edited: add a new one), and is safe with concurrent runners (on PostgreSQL every transaction
takes ``pg_advisory_xact_lock`` and re-reads what is applied; a DuckDB file has one writing
process, and runners in one process are serialised by a lock).

:func:`compatibility_report` checks that every column the previous release read still exists
with a compatible type; given the previous release's schema, :func:`apply_migrations` verifies
each migration that claims to be backward compatible and rolls it back when it is not.

Works on a DuckDB connection, a SQLAlchemy ``Connection`` or ``Engine`` (PostgreSQL; any
SQLAlchemy dialect with ``information_schema`` and ``IF [NOT] EXISTS`` DDL). This module is
generic and free of Dagster; the domains own their migration lists (e.g.
``orchestration_project.operations.run_metadata.migrations``).
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import logging
import re
import textwrap
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

MIGRATIONS_SCHEMA = "evolution"
MIGRATIONS_TABLE = "schema_migrations"
DUCKDB = "duckdb"
POSTGRESQL = "postgresql"
# Any constant: every runner of every migration list takes the same advisory lock.
_PG_LOCK_KEY = 0x0E701_2013
_PROCESS_LOCK = threading.RLock()


class MigrationError(RuntimeError):
    """A migration cannot be applied (changed checksum, failed DDL, broken compatibility)."""


class Db:
    """One database connection seen the same way on DuckDB and SQLAlchemy.

    Statements use ``:name`` parameters on both.
    """

    def __init__(self, conn: Any) -> None:
        self.raw = conn
        self._sa = _is_sqlalchemy(conn)
        self.dialect = str(conn.dialect.name) if self._sa else DUCKDB

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        """Run one statement; return its rows (empty for statements without rows)."""
        if self._sa:
            import sqlalchemy as sa

            result = self.raw.execute(sa.text(sql), dict(params or {}))
            return [tuple(r) for r in result.fetchall()] if result.returns_rows else []
        duck_sql = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"$\1", sql)
        cur = self.raw.execute(duck_sql, dict(params) if params else None)
        return [tuple(r) for r in cur.fetchall()] if cur.description else []

    def columns(self, schema: str, table: str) -> dict[str, str]:
        """``{column: data type}`` of ``schema.table`` ({} when it does not exist)."""
        rows = self.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position",
            {"s": schema, "t": table},
        )
        return {str(c): str(t) for c, t in rows}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, rolled back on error; on PostgreSQL it holds the runner's lock."""
        if self._sa:
            if self.raw.in_transaction():
                raise MigrationError(
                    "migrations run their own transactions: pass a connection outside one "
                    "(commit or roll back first) or an Engine"
                )
            with self.raw.begin():
                if self.dialect == POSTGRESQL:
                    self.execute("SELECT pg_advisory_xact_lock(:k)", {"k": _PG_LOCK_KEY})
                yield
            return
        self.raw.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")


def _is_sqlalchemy(conn: Any) -> bool:
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - a dependency
        return False
    return isinstance(conn, sa.engine.Connection)


@dataclass(frozen=True)
class Migration:
    """One schema change.

    Attributes:
        version: its place in the order (unique, increasing).
        name: a short name (``snake_case``).
        sql: ``dialect -> statements`` (the preferred form: its checksum covers the SQL).
        up: ``(db, dialect) -> None``, for changes that need logic; its checksum covers its
            source (comments and formatting aside), so keep it self-contained.
        backward_compatible: whether the previous release's code can still read the tables.
        why_not: why it cannot (required when not backward compatible).
        description: what it does and why.
    """

    version: int
    name: str
    sql: Callable[[str], Sequence[str]] | None = None
    up: Callable[[Db, str], None] | None = None
    backward_compatible: bool = True
    why_not: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if (self.sql is None) == (self.up is None):
            raise ValueError(f"migration {self.version}: give exactly one of sql and up")
        if not self.backward_compatible and not self.why_not:
            raise ValueError(
                f"migration {self.version} {self.name}: not backward compatible, say why_not"
            )

    @property
    def checksum(self) -> str:
        """SHA-256 of what the migration does (its SQL on every dialect, or its code)."""
        h = hashlib.sha256(f"{self.version}:{self.name}\n".encode())
        if self.sql is not None:
            for dialect in (DUCKDB, POSTGRESQL):
                h.update(f"-- {dialect}\n".encode())
                for stmt in self.sql(dialect):
                    h.update(" ".join(stmt.split()).encode() + b";\n")
        else:
            h.update(_code_fingerprint(self.up).encode())
        return h.hexdigest()

    def apply(self, db: Db) -> None:
        """Run the change on ``db`` (inside the runner's transaction)."""
        if self.sql is not None:
            for stmt in self.sql(db.dialect):
                db.execute(stmt)
        else:
            assert self.up is not None
            self.up(db, db.dialect)


def _code_fingerprint(fn: Any) -> str:
    """The function's code without docstring, comments or formatting."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return getattr(fn, "__qualname__", repr(fn))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)


@dataclass(frozen=True)
class MigrationStatus:
    """Where one migration stands on a database.

    ``state`` is ``applied``, ``pending``, ``changed`` (applied, but the code's checksum
    differs) or ``unknown`` (applied by newer code than this).
    """

    version: int
    name: str
    state: str
    checksum: str
    applied_at: datetime | None = None
    backward_compatible: bool | None = None
    note: str = ""


@dataclass
class CompatibilityReport:
    """Whether the previous release's code can still read the tables."""

    compatible: bool
    problems: list[str] = field(default_factory=list)
    tables_checked: int = 0
    columns_checked: int = 0

    def __str__(self) -> str:
        if self.compatible:
            return (
                f"compatible: {self.columns_checked} columns of {self.tables_checked} tables "
                "the previous release read are still there with compatible types"
            )
        return "not compatible: " + "; ".join(self.problems)


def _check(migrations: Sequence[Migration]) -> list[Migration]:
    ordered = sorted(migrations, key=lambda m: m.version)
    versions = [m.version for m in ordered]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {versions}")
    return ordered


def _bootstrap(db: Db) -> None:
    db.execute(f'CREATE SCHEMA IF NOT EXISTS "{MIGRATIONS_SCHEMA}"')
    db.execute(
        f'CREATE TABLE IF NOT EXISTS "{MIGRATIONS_SCHEMA}"."{MIGRATIONS_TABLE}" ('
        "version BIGINT PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL, "
        "applied_at TIMESTAMPTZ NOT NULL, backward_compatible BOOLEAN NOT NULL, note VARCHAR)"
    )


def _applied(db: Db) -> dict[int, dict[str, Any]]:
    if not db.columns(MIGRATIONS_SCHEMA, MIGRATIONS_TABLE):
        return {}
    rows = db.execute(
        "SELECT version, name, checksum, applied_at, backward_compatible, note "
        f'FROM "{MIGRATIONS_SCHEMA}"."{MIGRATIONS_TABLE}" ORDER BY version'
    )
    keys = ("version", "name", "checksum", "applied_at", "backward_compatible", "note")
    return {int(r[0]): dict(zip(keys, r, strict=True)) for r in rows}


def _as_db(conn: Any) -> tuple[Db, Any]:
    """A :class:`Db` over ``conn``; an Engine is connected (returned to be closed)."""
    try:
        import sqlalchemy as sa

        if isinstance(conn, sa.engine.Engine):
            opened = conn.connect()
            return Db(opened), opened
    except ImportError:  # pragma: no cover
        pass
    if isinstance(conn, Db):
        return conn, None
    return Db(conn), None


def migration_status(conn: Any, migrations: Sequence[Migration]) -> list[MigrationStatus]:
    """The state of every migration (and of applied ones this code does not know), by version."""
    db, opened = _as_db(conn)
    try:
        with _PROCESS_LOCK:
            if db._sa:
                with db.raw.begin():
                    applied = _applied(db)
            else:
                applied = _applied(db)
    finally:
        if opened is not None:
            opened.close()
    out = []
    for m in _check(migrations):
        row = applied.pop(m.version, None)
        if row is None:
            out.append(MigrationStatus(m.version, m.name, "pending", m.checksum))
            continue
        state = "applied" if row["checksum"] == m.checksum else "changed"
        out.append(
            MigrationStatus(
                m.version,
                m.name,
                state,
                row["checksum"],
                row["applied_at"],
                bool(row["backward_compatible"]),
                row["note"] or "",
            )
        )
    for version, row in applied.items():
        out.append(
            MigrationStatus(
                version,
                str(row["name"]),
                "unknown",
                str(row["checksum"]),
                row["applied_at"],
                bool(row["backward_compatible"]),
                row["note"] or "",
            )
        )
    return sorted(out, key=lambda s: s.version)


def pending_migrations(conn: Any, migrations: Sequence[Migration]) -> list[Migration]:
    """The migrations not applied yet (raises when an applied one was changed)."""
    status = {s.version: s for s in migration_status(conn, migrations)}
    _refuse_changed(status.values())
    return [m for m in _check(migrations) if status[m.version].state == "pending"]


def _refuse_changed(statuses: Any) -> None:
    changed = [s for s in statuses if s.state == "changed"]
    if changed:
        raise MigrationError(
            "applied migrations were changed since: "
            + ", ".join(f"{s.version} {s.name}" for s in changed)
            + " (their checksums differ from the code's). Never edit an applied migration: "
            "revert the edit and add a new migration instead."
        )


def apply_migrations(
    conn: Any,
    migrations: Sequence[Migration],
    *,
    previous_schema: Mapping[str, Mapping[str, str]] | None = None,
) -> list[MigrationStatus]:
    """Apply the pending migrations in order, each in its own transaction; idempotent.

    Args:
        conn: a DuckDB connection (not in a transaction), a SQLAlchemy Connection (not in a
            transaction) or Engine.
        migrations: the migrations (any order; applied by version).
        previous_schema: ``{"schema.table": {column: type}}`` that the previous release reads;
            when given, a migration that claims to be backward compatible is checked with
            :func:`compatibility_report` before it commits, and rolled back if it is not.

    Returns:
        The migrations applied by this call.

    Raises:
        MigrationError: an applied migration's checksum changed, a migration failed (it was
            rolled back, later ones were not tried), or a compatibility claim was false.
    """
    ordered = _check(migrations)
    db, opened = _as_db(conn)
    done: list[MigrationStatus] = []
    try:
        with _PROCESS_LOCK:
            with db.transaction():
                _bootstrap(db)
                applied = _applied(db)
            _refuse_changed(_states(ordered, applied))
            for m in ordered:
                if m.version in applied:
                    continue
                with db.transaction():
                    applied = _applied(db)  # another runner may have applied it meanwhile
                    if m.version in applied:
                        _refuse_changed(_states([m], applied))
                        continue
                    note = _apply_one(db, m, previous_schema)
                    now = datetime.now(UTC)
                    db.execute(
                        f'INSERT INTO "{MIGRATIONS_SCHEMA}"."{MIGRATIONS_TABLE}" '
                        "(version, name, checksum, applied_at, backward_compatible, note) "
                        "VALUES (:v, :n, :c, :a, :b, :note)",
                        {
                            "v": m.version,
                            "n": m.name,
                            "c": m.checksum,
                            "a": now,
                            "b": m.backward_compatible,
                            "note": note,
                        },
                    )
                done.append(
                    MigrationStatus(
                        m.version, m.name, "applied", m.checksum, now, m.backward_compatible, note
                    )
                )
                log.info("applied migration %s %s (%s)", m.version, m.name, note)
    finally:
        if opened is not None:
            opened.close()
    return done


def _states(ordered: Sequence[Migration], applied: Mapping[int, Mapping[str, Any]]) -> list:
    return [
        MigrationStatus(
            m.version,
            m.name,
            "applied" if applied[m.version]["checksum"] == m.checksum else "changed",
            str(applied[m.version]["checksum"]),
        )
        for m in ordered
        if m.version in applied
    ]


def _apply_one(
    db: Db, m: Migration, previous_schema: Mapping[str, Mapping[str, str]] | None
) -> str:
    """Apply ``m`` in the open transaction; return the note recorded with it."""
    try:
        m.apply(db)
    except Exception as exc:
        raise MigrationError(
            f"migration {m.version} {m.name} failed and was rolled back: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if not m.backward_compatible:
        log.warning("migration %s %s is not backward compatible: %s", m.version, m.name, m.why_not)
        return f"not backward compatible: {m.why_not}"
    if previous_schema is not None:
        report = compatibility_report(db, previous_schema)
        if not report.compatible:
            raise MigrationError(
                f"migration {m.version} {m.name} claims backward compatibility but breaks "
                f"the previous release ({report}); rolled back"
            )
        return f"backward compatible (checked: {report.columns_checked} columns)"
    return "backward compatible (declared)"


# --- compatibility ------------------------------------------------------------------------
_FAMILIES = (
    ("timestamptz", ("timestamp with time zone", "timestamptz")),
    ("timestamp", ("timestamp", "datetime")),
    ("date", ("date",)),
    ("integer", ("bigint", "integer", "int", "smallint", "tinyint", "hugeint", "ubigint")),
    ("float", ("double", "real", "float", "numeric", "decimal")),
    ("boolean", ("boolean", "bool")),
    ("text", ("character varying", "varchar", "text", "string", "char", "character")),
    ("json", ("json", "jsonb")),
)
# A column the previous release read as ``key`` may now be any of these (it reads it the same).
_WIDENS_TO = {"integer": {"integer"}, "float": {"float", "integer"}, "text": {"text"}}


def type_family(sql_type: str) -> str:
    """The family of a SQL type name (``BIGINT`` and ``integer`` are both ``integer``)."""
    t = sql_type.strip().lower()
    for family, prefixes in _FAMILIES:
        if any(t == p or t.startswith(p + "(") or t.startswith(p + " ") for p in prefixes):
            return family
    return t


def compatibility_report(
    conn: Any, previous_schema: Mapping[str, Mapping[str, str]]
) -> CompatibilityReport:
    """Check that every column the previous release read still exists with a compatible type.

    Args:
        conn: a DuckDB connection, a SQLAlchemy Connection or Engine, or a :class:`Db`.
        previous_schema: ``{"schema.table": {column: SQL type}}`` as the previous release
            wrote (and so read) them.
    """
    db, opened = _as_db(conn)
    report = CompatibilityReport(compatible=True)
    try:
        for qualified, columns in previous_schema.items():
            schema, _, table = qualified.rpartition(".")
            now = db.columns(schema or "main", table)
            report.tables_checked += 1
            if not now:
                report.problems.append(f"table {qualified} is gone")
                continue
            for col, old_type in columns.items():
                report.columns_checked += 1
                if col not in now:
                    report.problems.append(f"{qualified}.{col} is gone")
                    continue
                old, new = type_family(old_type), type_family(now[col])
                if new != old and new not in _WIDENS_TO.get(old, set()):
                    report.problems.append(
                        f"{qualified}.{col} was {old_type} and is now {now[col]}"
                    )
    finally:
        if opened is not None:
            opened.close()
    report.compatible = not report.problems
    return report


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
