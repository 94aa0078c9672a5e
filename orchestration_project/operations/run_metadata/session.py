"""Warehouse access for one phase of an ingestion: :class:`_Session` (the ``Warehouse`` API,
e.g. PostgreSQL) and :class:`_DuckSession` (one DuckDB connection, one transaction per write
phase), opened by :func:`_session`; driver errors become ``WarehouseError``s naming the
warehouse; catalog, migration and cursor helpers; SQL literal quoting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from orchestration_project.common.warehouse import FileTableStore, WarehouseError, location_of
from orchestration_project.common.warehouse import TableStore as Warehouse
from orchestration_project.operations.run_metadata.schema import (
    _DUCK_TYPES,
    _TABLE_TYPES,
    _TYPES,
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

    def write_cursor(self, value: float) -> None:
        self.warehouse.write_table(
            CURSOR_TABLE, pd.DataFrame({"updated_after": [float(value)]}), schema=SCHEMA
        )

    def add_columns(self, table: str, columns: list[str]) -> None:
        old = self.warehouse.read_table(table, schema=SCHEMA)
        for col in columns:
            if col not in old.columns:
                old[col] = None
        self.warehouse.write_table(
            table, _frame(table, old.to_dict("records"), columns), schema=SCHEMA
        )


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
            target = f'"{SCHEMA}".{_quote(table)}'
            self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {inc} LIMIT 0")
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
        self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"')
        self.conn.execute(
            f'CREATE OR REPLACE TABLE "{SCHEMA}"."{CURSOR_TABLE}" AS '
            "SELECT CAST(? AS DOUBLE) AS updated_after",
            [float(value)],
        )

    def add_columns(self, table: str, columns: list[str]) -> None:
        have = set(self.query(f'SELECT * FROM "{SCHEMA}".{_quote(table)} LIMIT 0').columns)
        types = {**_TYPES, **_TABLE_TYPES.get(table, {})}
        for col in columns:
            if col not in have:
                sql_type = _DUCK_TYPES[types.get(col, "string")]
                self.conn.execute(
                    f'ALTER TABLE "{SCHEMA}".{_quote(table)} ADD COLUMN {_quote(col)} {sql_type}'
                )


@contextmanager
def _session(warehouse: Warehouse, *, write: bool, doing: str) -> Iterator[_Session]:
    """A session for one phase; a write phase on DuckDB is a single transaction."""
    with _clear_errors(warehouse, doing):
        if not isinstance(warehouse, FileTableStore):
            yield _Session(warehouse)
            return
        with warehouse.connect(read_only=not write) as conn:
            if not write:
                yield _DuckSession(warehouse, conn)
                return
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
    """Add the missing columns (rows kept), so that inserts by name keep working."""
    for table, columns in outdated.items():
        session.add_columns(table, columns)
        catalog[(SCHEMA, table)] = list(dict.fromkeys([*catalog[(SCHEMA, table)], *columns]))


def _cursor(session: _Session, catalog: dict) -> float | None:
    if (SCHEMA, CURSOR_TABLE) not in catalog:
        return None
    df = session.query(f'SELECT updated_after FROM "{SCHEMA}"."{CURSOR_TABLE}"')
    return float(df["updated_after"].iloc[0]) if len(df) else None
