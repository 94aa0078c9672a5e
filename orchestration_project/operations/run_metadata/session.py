"""Warehouse access for one phase of an ingestion: :class:`_Session` (the ``Warehouse`` API,
e.g. PostgreSQL) and :class:`_DuckSession` (one DuckDB connection, one transaction per write
phase), opened by :func:`_session`; driver errors become ``WarehouseError``s naming the
warehouse; catalog, migration and cursor helpers; SQL literal quoting.

The tables are created and altered only by the versioned migrations of
:mod:`orchestration_project.operations.run_metadata.migrations`, applied at the start of every
write phase (a phase that writes nothing never opens the warehouse for writing)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from orchestration_project.common.time import utcnow
from orchestration_project.common.warehouse import FileTableStore, WarehouseError, location_of
from orchestration_project.common.warehouse import TableStore as Warehouse
from orchestration_project.operations.run_metadata.migrations import ensure_migrated
from orchestration_project.operations.run_metadata.schema import (
    CONSOLIDATED,
    CURSOR_TABLE,
    SCHEMA,
    TABLE_COLUMNS,
    _frame,
)


def _where(warehouse: Warehouse) -> str:
    return location_of(warehouse)


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        import duckdb

        errors.append(duckdb.Error)
    except ImportError:  # pragma: no cover - duckdb is a dependency
        pass
    try:
        import sqlalchemy.exc

        errors.append(sqlalchemy.exc.SQLAlchemyError)
    except ImportError:  # pragma: no cover
        pass
    try:
        import psycopg2

        errors.append(psycopg2.Error)
    except ImportError:  # pragma: no cover - psycopg2 comes with dagster-postgres
        pass
    return tuple(errors)


@contextmanager
def _clear_errors(warehouse: Warehouse, doing: str) -> Iterator[None]:
    """Turn a driver's error (e.g. DuckDB's 'Corrupt database file') into a WarehouseError
    that names the warehouse and says what was being done."""
    try:
        yield
    except WarehouseError:
        raise
    except _driver_errors() as exc:
        raise WarehouseError(
            f"{_where(warehouse)}: {doing} failed ({type(exc).__name__}: {exc}); nothing after "
            "this point was written and the ingest cursor was not advanced. If the file is "
            "corrupt, move it aside: the next ingestion rebuilds the operations tables from "
            "the Dagster instance."
        ) from exc


def _lit(value: str) -> str:
    """A SQL string literal (the warehouses' ``query`` takes no parameters on PostgreSQL)."""
    return "'" + str(value).replace("'", "''") + "'"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Session:
    """Warehouse operations for one phase of an ingestion, through the ``Warehouse`` API (each
    operation its own connection and transaction: PostgreSQL or any other warehouse)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def query(self, sql: str) -> pd.DataFrame:
        return self.warehouse.query(sql)

    def upsert(self, table: str, df: pd.DataFrame, key: str, keys: list[str]) -> int:
        return self.warehouse.upsert_rows(table, df, key=key, keys=keys, schema=SCHEMA)

    def upsert_rows(self, table: str, rows: list[dict[str, Any]], key: str, keys: list[str]) -> int:
        """Replace the rows of ``keys`` in ``operations.<table>`` by ``rows`` (dicts with the
        table's ``TABLE_COLUMNS``), typed as :func:`_frame` types them."""
        return self.upsert(table, _frame(table, rows), key, keys)

    def write_cursor(self, value: float) -> None:
        old = self.query(f'SELECT updated_after FROM "{SCHEMA}"."{CURSOR_TABLE}"')
        self.warehouse.upsert_rows(
            CURSOR_TABLE,
            pd.DataFrame(
                {"updated_after": [float(value)], "advanced_at": [pd.Timestamp(utcnow())]}
            ),
            key="updated_after",
            keys=[float(v) for v in old["updated_after"]],
            schema=SCHEMA,
        )

    def migrate(self) -> None:
        """Apply the pending migrations (the warehouse names a SQLAlchemy URL)."""
        url = getattr(self.warehouse, "url", None)
        if not url:
            raise WarehouseError(
                f"{_where(self.warehouse)}: cannot apply the operations migrations (neither a "
                "DuckDB file nor a SQLAlchemy URL)"
            )
        import sqlalchemy as sa

        engine = sa.create_engine(str(url))
        try:
            ensure_migrated(engine)
        finally:
            engine.dispose()

    def columns(self, table: str) -> list[str]:
        """The columns of ``operations.<table>`` now."""
        df = self.query(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = {_lit(SCHEMA)} AND table_name = {_lit(table)} "
            "ORDER BY ordinal_position"
        )
        return [str(c) for c in df["column_name"]]


class _DuckSession(_Session):
    """The same operations on one DuckDB connection: one open of the file per phase instead
    of one per operation (opening dominates the cost of small writes), and a write phase that
    is one transaction — a page's tables and the cursor are committed together or not at all."""

    def __init__(self, warehouse: Warehouse, conn: Any) -> None:
        super().__init__(warehouse)
        self.conn = conn
        self._n = 0

    def query(self, sql: str) -> pd.DataFrame:
        return self.conn.execute(sql).df()

    def upsert(self, table: str, df: pd.DataFrame, key: str, keys: list[str]) -> int:
        self._n += 1
        inc, ks = f"_incoming_{self._n}", f"_keys_{self._n}"
        self.conn.register(inc, df)
        self.conn.register(ks, pd.DataFrame({"k": pd.Series(list(keys), dtype="string")}))
        try:
            target = f'"{SCHEMA}".{_quote(table)}'  # created by the migrations
            if keys:
                self.conn.execute(
                    f"DELETE FROM {target} WHERE {_quote(key)} IN (SELECT k FROM {ks})"
                )
            self.conn.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {inc}")
        finally:
            self.conn.unregister(inc)
            self.conn.unregister(ks)
        return len(df)

    def write_cursor(self, value: float) -> None:
        self.conn.execute(f'DELETE FROM "{SCHEMA}"."{CURSOR_TABLE}"')
        self.conn.execute(
            f'INSERT INTO "{SCHEMA}"."{CURSOR_TABLE}" (updated_after, advanced_at) VALUES (?, ?)',
            [float(value), utcnow()],
        )

    def migrate(self) -> None:
        """Nothing to do: :func:`_session` applied the migrations when it opened the file."""


_NULL = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_cell(value: Any) -> str:
    """One value in PostgreSQL's COPY text format (``\\N`` is NULL)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return _NULL
    if isinstance(value, str):
        return value.translate(_ESCAPES) if _SPECIAL.search(value) else value
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    if isinstance(value, float):
        return _NULL if value != value else repr(value)
    if isinstance(value, datetime):  # pandas Timestamps too; naive ones are read as UTC
        return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"
    return str(value).translate(_ESCAPES)


def _copy_text(df: pd.DataFrame) -> str:
    """``df`` as the body of a ``COPY ... FROM STDIN`` in text format."""
    columns = [[_copy_cell(v) for v in df[c].tolist()] for c in df.columns]
    return "".join("\t".join(row) + "\n" for row in zip(*columns, strict=True))


class _PgSession(_Session):
    """The same operations on one PostgreSQL connection (psycopg2): the phase's queries share
    it, rows are bulk-loaded with ``COPY ... FROM STDIN`` (not row-by-row inserts), and a write
    phase is one transaction — a page's tables and the cursor are committed together or not at
    all, as on DuckDB."""

    def __init__(self, warehouse: Warehouse, conn: Any) -> None:
        super().__init__(warehouse)
        self.conn = conn

    def query(self, sql: str) -> pd.DataFrame:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names)

    def upsert(self, table: str, df: pd.DataFrame, key: str, keys: list[str]) -> int:
        self._replace(table, [str(c) for c in df.columns], _copy_text(df), key, keys)
        return len(df)

    def upsert_rows(self, table: str, rows: list[dict[str, Any]], key: str, keys: list[str]) -> int:
        """COPY the row dicts straight into the table, without building a frame: their values
        are already of the column's type (str, int, float, bool, UTC datetime or None), and
        :func:`_copy_cell` writes each as PostgreSQL reads it into that type."""
        cols = TABLE_COLUMNS[table]
        body = "".join("\t".join([_copy_cell(r.get(c)) for c in cols]) + "\n" for r in rows)
        self._replace(table, cols, body, key, keys)
        return len(rows)

    def _replace(self, table: str, cols: list[str], body: str, key: str, keys: list[str]) -> None:
        target = f'"{SCHEMA}".{_quote(table)}'  # created by the migrations
        with self.conn.cursor() as cur:
            if keys:
                cur.execute(
                    f"DELETE FROM {target} WHERE {_quote(key)} = ANY(%s)",
                    ([str(k) for k in keys],),
                )
            if body:
                names = ", ".join(_quote(str(c)) for c in cols)
                cur.copy_expert(f"COPY {target} ({names}) FROM STDIN", io.StringIO(body))

    def write_cursor(self, value: float) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f'DELETE FROM "{SCHEMA}"."{CURSOR_TABLE}"')
            cur.execute(
                f'INSERT INTO "{SCHEMA}"."{CURSOR_TABLE}" (updated_after, advanced_at) '
                "VALUES (%s, %s)",
                (float(value), utcnow()),
            )

    def migrate(self) -> None:
        """Nothing to do: :func:`_session` applied the migrations before opening the phase."""


def _postgres_url(warehouse: Warehouse) -> str | None:
    """The warehouse's SQLAlchemy URL when it is PostgreSQL through psycopg2."""
    url = getattr(warehouse, "url", None)
    if not url:
        return None
    import sqlalchemy as sa

    try:
        parsed = sa.make_url(str(url))
    except sa.exc.ArgumentError:
        return None
    return str(url) if parsed.get_backend_name() == "postgresql" else None


@contextmanager
def _pg_session(
    url: str, warehouse: Warehouse, *, write: bool, migrate: bool = True
) -> Iterator[_Session]:
    """One psycopg2 connection for the phase; a write phase is one transaction."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        if write and migrate:
            ensure_migrated(engine)  # each pending migration in its own transaction
        raw = engine.raw_connection()
        try:
            yield _PgSession(warehouse, raw)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
    finally:
        engine.dispose()


@contextmanager
def _session(
    warehouse: Warehouse, *, write: bool, doing: str, migrate: bool = True
) -> Iterator[_Session]:
    """A session for one phase; a write phase on DuckDB or PostgreSQL is a single
    transaction. A write phase applies the pending migrations first; ``migrate=False`` skips
    that on PostgreSQL when an earlier phase of the same ingestion already did it (each check
    costs a connection and a few queries)."""
    with _clear_errors(warehouse, doing):
        pg = None if isinstance(warehouse, FileTableStore) else _postgres_url(warehouse)
        if pg is not None:
            with _pg_session(pg, warehouse, write=write, migrate=migrate) as session:
                yield session
            return
        if not isinstance(warehouse, FileTableStore):
            session = _Session(warehouse)
            if write:
                session.migrate()
            yield session
            return
        with warehouse.connect(read_only=not write) as conn:
            if not write:
                yield _DuckSession(warehouse, conn)
                return
            ensure_migrated(conn)  # each pending migration in its own transaction
            conn.execute("BEGIN")
            yield _DuckSession(warehouse, conn)
            conn.execute("COMMIT")  # an exception leaves the transaction to roll back on close


def _catalog(session: _Session) -> dict[tuple[str, str], list[str]]:
    """Columns of the tables ingestion cares about: ``{(schema, table): [columns]}``."""
    names = [*TABLE_COLUMNS, CURSOR_TABLE, *CONSOLIDATED]
    df = session.query(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        f"WHERE table_name IN ({', '.join(_lit(n) for n in names)}) "
        "ORDER BY table_schema, table_name, ordinal_position"
    )
    out: dict[tuple[str, str], list[str]] = {}
    for s, t, c in df[["table_schema", "table_name", "column_name"]].itertuples(index=False):
        out.setdefault((str(s), str(t)), []).append(str(c))
    return out


def _outdated(
    catalog: dict[tuple[str, str], list[str]], tables: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Tables written by an older version of this module that lack columns now written."""
    return {
        t: cols
        for t, cols in tables.items()
        if (SCHEMA, t) in catalog and not set(cols) <= set(catalog[(SCHEMA, t)])
    }


def _migrate(session: _Session, catalog: dict, outdated: dict[str, list[str]]) -> None:
    """Check that the migrations (applied when the write session opened) gave the outdated
    tables the columns now written, and update ``catalog``; rows are kept.

    Raises:
        WarehouseError: a column written today is added by no migration (a missing migration
            in ``run_metadata/migrations.py``).
    """
    for table, columns in outdated.items():
        have = session.columns(table)
        missing = [c for c in columns if c not in have]
        if missing:
            raise WarehouseError(
                f"{_where(session.warehouse)}: {SCHEMA}.{table} lacks {missing} after the "
                "migrations: add a migration for them (run_metadata/migrations.py)"
            )
        catalog[(SCHEMA, table)] = have


def _cursor(session: _Session, catalog: dict) -> float | None:
    if (SCHEMA, CURSOR_TABLE) not in catalog:
        return None
    df = session.query(f'SELECT updated_after FROM "{SCHEMA}"."{CURSOR_TABLE}"')
    return float(df["updated_after"].iloc[0]) if len(df) else None
