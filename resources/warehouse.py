"""The analytical warehouse: where every asset's table lands.

Embedded default: one DuckDB file in the project data folder. DuckDB lets exactly one process
hold a database file open for writing (and no reader may hold it meanwhile), while Dagster runs
steps in parallel processes. The design that follows from it:

* connections are short-lived: open, run one statement batch, close — a process never holds
  the file between operations;
* opening the file retries with exponential backoff and jitter while another process holds the
  lock (``lock_timeout_s`` bounds the wait, then a clear ``WarehouseLockedError``);
* every asset that writes declares ``pool="warehouse"`` so that, on an instance with a pool
  limit (``dagster.yaml``), Dagster itself serialises the writers and the retries stay rare.

Production: PostgreSQL through SQLAlchemy, same interface (``PostgresWarehouse``).
"""

from __future__ import annotations

import json
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import tenacity
from pydantic import Field

from orchestration_project.common.warehouse import (
    WAREHOUSE_POOL,
    WarehouseError,
    WarehouseLockedError,
)
from orchestration_project.evolution.versions import group_logic_versions

__all__ = [
    "WAREHOUSE_POOL",
    "DuckDBWarehouse",
    "PostgresWarehouse",
    "Warehouse",
    "WarehouseError",
    "WarehouseIOManager",
    "WarehouseLockedError",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Locked(Exception):
    """Opening the DuckDB file failed on another process's lock (retried)."""


def _record_lock_wait(path: str, waited_s: float, *, timed_out: bool) -> None:
    """Record a lock wait (a leading indicator of predictive failure detection)."""
    from orchestration_project.operations.prediction import record_lock_wait

    record_lock_wait(path, waited_s, timed_out=timed_out)


@contextmanager
def _creation_lock(path: str) -> Iterator[None]:
    """Hold an exclusive lock (``flock``) on a file in the temporary folder named after the
    warehouse's absolute path (not beside it: the warehouse's folder stays as the user left
    it): a DuckDB file is created by one process at a time, and a process that found it
    half-written waits here until the creator is done."""
    import fcntl
    import hashlib
    import tempfile

    key = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]
    lock = Path(tempfile.gettempdir()) / f"orchestration-warehouse-{key}.create-lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise WarehouseError(f"invalid table or schema name {name!r}")
    return name


class Warehouse(dg.ConfigurableResource, ABC):
    """Tables for assets and run metadata: write a DataFrame, read one back, run SQL."""

    @abstractmethod
    def write_table(
        self, table: str, df: pd.DataFrame, *, schema: str = "main", mode: str = "replace"
    ) -> int:
        """Write ``df`` to ``schema.table`` (mode ``replace`` or ``append``); return row count."""

    @abstractmethod
    def upsert_rows(
        self, table: str, df: pd.DataFrame, *, key: str, keys: list[Any], schema: str = "main"
    ) -> int:
        """In one transaction, delete the rows whose ``key`` column is in ``keys`` and insert
        ``df`` (an idempotent replace of those keys' rows); return the rows inserted."""

    @abstractmethod
    def read_table(self, table: str, *, schema: str = "main") -> pd.DataFrame:
        """Read ``schema.table`` into a DataFrame."""

    @abstractmethod
    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a read query and return its result."""

    @abstractmethod
    def table_exists(self, table: str, *, schema: str = "main") -> bool:
        """Whether ``schema.table`` exists."""

    def row_count(self, table: str, *, schema: str = "main") -> int:
        """Rows in ``schema.table`` (0 when it does not exist yet)."""
        if not self.table_exists(table, schema=schema):
            return 0
        sql = f'SELECT COUNT(*) AS n FROM "{_ident(schema)}"."{_ident(table)}"'
        return int(self.query(sql)["n"].iloc[0])


class DuckDBWarehouse(Warehouse):
    """The embedded warehouse: a DuckDB file, safe for parallel steps in several processes.

    Each operation opens the file, does its work in one transaction and closes it again; while
    another process holds the file, opening is retried with backoff until ``lock_timeout_s``.
    """

    path: str = Field(description="Path of the DuckDB database file.")
    lock_timeout_s: float = Field(
        default=60.0, description="How long to wait for another process's write lock."
    )

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[Any]:
        """Open the database file (retrying while it is locked) and close it afterwards."""
        import duckdb

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)

        def open_file() -> Any:
            try:
                if Path(self.path).exists():
                    return duckdb.connect(self.path, read_only=read_only)
                # The first opening creates the file (read-only opening would fail on a file
                # that does not exist yet): one process at a time, so that no other opens it
                # half-written (below).
                with _creation_lock(self.path):
                    return duckdb.connect(self.path)
            except duckdb.IOException as exc:  # "Could not set lock on file ..."
                if "not a valid DuckDB database" in str(exc):
                    # another process may be creating it: wait for its creation, then once more
                    with _creation_lock(self.path):
                        try:
                            return duckdb.connect(self.path, read_only=read_only)
                        except duckdb.Error:
                            pass
                if "lock" not in str(exc).lower():
                    raise WarehouseError(f"cannot open warehouse {self.path}: {exc}") from exc
                raise _Locked(str(exc)) from exc
            except duckdb.Error as exc:
                raise WarehouseError(
                    f"warehouse file {self.path} cannot be opened ({exc}); if it is corrupt, "
                    "move it aside and re-materialise"
                ) from exc

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Locked),
            wait=tenacity.wait_random_exponential(multiplier=0.02, max=1.0),
            stop=tenacity.stop_after_delay(self.lock_timeout_s),
            reraise=True,
        )
        started = time.monotonic()
        try:
            conn = retrying(open_file)
        except _Locked as exc:
            _record_lock_wait(self.path, time.monotonic() - started, timed_out=True)
            raise WarehouseLockedError(
                f"warehouse {self.path} stayed locked by another process for "
                f"{self.lock_timeout_s:.0f} s: {exc}"
            ) from exc
        if retrying.statistics.get("attempt_number", 1) > 1:  # waited for another's lock
            _record_lock_wait(self.path, time.monotonic() - started, timed_out=False)
        try:
            yield conn
        finally:
            conn.close()

    def write_table(
        self, table: str, df: pd.DataFrame, *, schema: str = "main", mode: str = "replace"
    ) -> int:
        """Write ``df`` to ``schema.table`` in one transaction; return the rows written."""
        t, s = _ident(table), _ident(schema)
        if mode not in ("replace", "append"):
            raise WarehouseError(f"unknown write mode {mode!r}")
        with self.connect() as conn:
            conn.register("_incoming", df)
            conn.execute("BEGIN")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s}"')
            if mode == "replace":
                conn.execute(f'CREATE OR REPLACE TABLE "{s}"."{t}" AS SELECT * FROM _incoming')
            else:
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{s}"."{t}" AS SELECT * FROM _incoming LIMIT 0'
                )
                conn.execute(f'INSERT INTO "{s}"."{t}" BY NAME SELECT * FROM _incoming')
            conn.execute("COMMIT")
            conn.unregister("_incoming")
        return len(df)

    def upsert_rows(
        self, table: str, df: pd.DataFrame, *, key: str, keys: list[Any], schema: str = "main"
    ) -> int:
        """Replace the rows of ``keys`` by ``df`` in one transaction."""
        t, s, k = _ident(table), _ident(schema), _ident(key)
        if df.empty and not self.table_exists(table, schema=schema):
            return 0  # nothing to replace, and an empty frame carries no column types
        with self.connect() as conn:
            conn.register("_incoming", df)
            conn.register("_keys", pd.DataFrame({"k": list(keys)}))
            conn.execute("BEGIN")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s}"')
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{s}"."{t}" AS SELECT * FROM _incoming LIMIT 0'
            )
            if keys:
                conn.execute(f'DELETE FROM "{s}"."{t}" WHERE "{k}" IN (SELECT k FROM _keys)')
            conn.execute(f'INSERT INTO "{s}"."{t}" BY NAME SELECT * FROM _incoming')
            conn.execute("COMMIT")
        return len(df)

    def read_table(self, table: str, *, schema: str = "main") -> pd.DataFrame:
        """Read ``schema.table`` into a DataFrame."""
        t, s = _ident(table), _ident(schema)
        with self.connect(read_only=True) as conn:
            return conn.execute(f'SELECT * FROM "{s}"."{t}"').df()

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query and return its result as a DataFrame."""
        with self.connect(read_only=True) as conn:
            return conn.execute(sql, params or []).df()

    def execute(self, sql: str, params: list[Any] | None = None) -> None:
        """Run a write statement in its own transaction."""
        with self.connect() as conn:
            conn.execute(sql, params or [])

    def table_exists(self, table: str, *, schema: str = "main") -> bool:
        """Whether ``schema.table`` exists."""
        if not Path(self.path).exists():
            return False
        df = self.query(
            "SELECT count(*) AS n FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        )
        return bool(df["n"].iloc[0])


def _lock_table(conn: Any, schema: str, table: str) -> None:
    """Serialise the writers of one table until this transaction ends (a transaction-level
    advisory lock): two writers of the same rows — a step redelivered or re-executed while its
    first attempt still writes — would otherwise both delete before either inserts, and both
    insert."""
    import sqlalchemy as sa

    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"{schema}.{table}"}
    )


class PostgresWarehouse(Warehouse):
    """The production warehouse: PostgreSQL through SQLAlchemy (many concurrent writers)."""

    url: str = Field(
        description="SQLAlchemy URL, e.g. postgresql+psycopg2://user:pw@host/db (use an EnvVar)."
    )

    def _engine(self) -> Any:
        import sqlalchemy as sa

        return sa.create_engine(self.url, pool_pre_ping=True)

    def write_table(
        self, table: str, df: pd.DataFrame, *, schema: str = "public", mode: str = "replace"
    ) -> int:
        """Write ``df`` to ``schema.table`` in one transaction; return the rows written."""
        import sqlalchemy as sa

        t, s = _ident(table), _ident(schema if schema != "main" else "public")
        engine = self._engine()
        try:
            with engine.begin() as conn:
                _lock_table(conn, s, t)
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{s}"'))
                df.to_sql(
                    t,
                    conn,
                    schema=s,
                    if_exists="replace" if mode == "replace" else "append",
                    index=False,
                )
        finally:
            engine.dispose()
        return len(df)

    def upsert_rows(
        self, table: str, df: pd.DataFrame, *, key: str, keys: list[Any], schema: str = "public"
    ) -> int:
        """Replace the rows of ``keys`` by ``df`` in one transaction."""
        import sqlalchemy as sa

        t, k = _ident(table), _ident(key)
        s = _ident(schema if schema != "main" else "public")
        engine = self._engine()
        try:
            with engine.begin() as conn:
                _lock_table(conn, s, t)
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{s}"'))
                if keys and sa.inspect(conn).has_table(t, schema=s):
                    conn.execute(
                        sa.text(f'DELETE FROM "{s}"."{t}" WHERE "{k}" = ANY(:keys)'),
                        {"keys": list(keys)},
                    )
                if not df.empty:
                    df.to_sql(t, conn, schema=s, if_exists="append", index=False)
        finally:
            engine.dispose()
        return len(df)

    def read_table(self, table: str, *, schema: str = "public") -> pd.DataFrame:
        """Read ``schema.table`` into a DataFrame."""
        s = "public" if schema == "main" else schema
        return self.query(f'SELECT * FROM "{_ident(s)}"."{_ident(table)}"')

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query (``?`` placeholders are not supported: pass none) and return a frame."""
        engine = self._engine()
        try:
            with engine.connect() as conn:
                return pd.read_sql_query(sql, conn, params=tuple(params) if params else None)
        finally:
            engine.dispose()

    def table_exists(self, table: str, *, schema: str = "public") -> bool:
        """Whether ``schema.table`` exists."""
        import sqlalchemy as sa

        engine = self._engine()
        try:
            return sa.inspect(engine).has_table(
                table, schema="public" if schema == "main" else schema
            )
        finally:
            engine.dispose()


def _storable(df: pd.DataFrame) -> pd.DataFrame:
    """Columns holding lists or dicts are stored as JSON text (portable across warehouses)."""
    import json

    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, list | dict)).any():
            out[col] = out[col].map(
                lambda v: json.dumps(v, default=str) if isinstance(v, list | dict) else v
            )
    return out


SCHEMA_METADATA_KEY = "warehouse_schema"
"""Definition metadata naming an asset's warehouse schema (its group): ``{SCHEMA_METADATA_KEY:
"market_research"}``. Without it, a prefixed key (``canary/pages``) names the schema by its
prefix, and anything else lands in ``main``."""


def in_schema(schema: str) -> dict[str, str]:
    """The definition metadata that puts an asset's table in ``schema``."""
    return {SCHEMA_METADATA_KEY: schema}


PARTITION_COLUMN_KEY = "warehouse_partition_column"
"""Definition metadata of a partitioned asset: the column that holds its partition key. A run
of some partitions replaces just those partitions' rows; a downstream asset reads the rows of
the partitions it depends on."""


def partitioned_by(column: str) -> dict[str, str]:
    """The definition metadata that stores a partitioned asset's partitions in ``column``."""
    return {PARTITION_COLUMN_KEY: column}


_DAGSTER_TYPES = {"i": "integer", "u": "integer", "f": "float", "b": "boolean", "M": "timestamp"}


def table_metadata(df: pd.DataFrame, *, schema: str, table: str) -> dict[str, Any]:
    """What the Dagster UI shows for a warehouse table: its name, row count and column schema
    (taken from the DataFrame's dtypes)."""
    columns = [
        dg.TableColumn(str(c), _DAGSTER_TYPES.get(df[c].dtype.kind, "string")) for c in df.columns
    ]
    return {
        "dagster/table_name": f"{schema}.{table}",
        "dagster/row_count": len(df),
        "dagster/column_schema": dg.TableSchema(columns=columns),
    }


def report_side_table(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    key: dg.AssetKey | str,
    rows: pd.DataFrame,
    *,
    schema: str,
    **extra: Any,
) -> None:
    """Report a table a step wrote beside its own output (appended or upserted ``rows``) as a
    materialization of the asset ``key``, with the table's row count and column schema."""
    key = dg.AssetKey.from_coercible(key)
    table = key.path[-1]
    meta: dict[str, Any] = table_metadata(rows, schema=schema, table=table)
    meta["dagster/row_count"] = warehouse.row_count(table, schema=schema)
    meta["rows_written"] = len(rows)
    context.log_event(dg.AssetMaterialization(asset_key=key, metadata={**meta, **extra}))


def _empty_like_latest(context: dg.InputContext) -> pd.DataFrame:
    """An empty frame with the columns of the upstream asset's latest materialisation (its
    ``dagster/column_schema``), so a downstream step sees the columns it expects."""
    columns: list[str] = []
    try:
        event = context.instance.get_latest_materialization_event(context.asset_key)
        mat = event.asset_materialization if event is not None else None
        schema = mat.metadata.get("dagster/column_schema") if mat is not None else None
        if schema is not None:
            columns = [c.name for c in schema.value.columns]
    except Exception:  # noqa: BLE001 - no instance or no metadata: no columns
        columns = []
    return pd.DataFrame(columns=columns)


PROVENANCE_SCHEMA = "evolution"
PROVENANCE_TABLE = "produced_by"


def _asset_node(context: dg.OutputContext) -> Any:
    try:
        return context.step_context.job_def.asset_layer.get(context.asset_key)
    except Exception:  # noqa: BLE001 - an output outside a job (direct IO manager use)
        return None


def record_provenance(
    warehouse: Warehouse, context: dg.OutputContext, *, target: str, partitions: list[str]
) -> dict[str, Any]:
    """Record which code and logic versions wrote ``target`` (one row per partition written,
    or one for the whole table) in ``evolution.produced_by``, keyed by ``table#partition``,
    and return them as materialization metadata.

    Rows of a table were written by the latest write of their partition, so one join answers
    "which version of what produced this row" (see the README's *Versions* section)."""
    node = _asset_node(context)
    code_version = getattr(node, "code_version", None) or ""
    group = getattr(node, "group_name", None) or ""
    logic = group_logic_versions(group) if group else {}
    try:
        run_id = context.run_id
    except Exception:  # noqa: BLE001 - no run (direct IO manager use)
        run_id = ""
    written_at = pd.Timestamp.now(tz="UTC").tz_localize(None)
    parts = partitions or [""]
    rows = pd.DataFrame(
        {
            "target": [f"{target}#{p}" if p else target for p in parts],
            "table_name": target,
            "partition_key": parts,
            "asset_key": context.asset_key.to_user_string(),
            "asset_group": group,
            "code_version": code_version,
            "logic_versions": json.dumps(logic, sort_keys=True),
            "run_id": run_id,
            "written_at": written_at,
        }
    )
    warehouse.upsert_rows(
        PROVENANCE_TABLE,
        rows,
        key="target",
        keys=list(rows["target"]),
        schema=PROVENANCE_SCHEMA,
    )
    meta: dict[str, Any] = {"code_version": code_version or "unversioned"}
    if logic:
        meta["logic_versions"] = dg.MetadataValue.json(logic)
    return meta


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores each DataFrame asset as a warehouse table named after the asset, in the schema of
    its group (definition metadata ``warehouse_schema``, else the key's prefix), and loads it
    back for downstream assets. Every stored table reports its row count and column schema."""

    warehouse: Warehouse

    @staticmethod
    def _location(key: dg.AssetKey, metadata: Mapping[str, Any] | None) -> tuple[str, str]:
        schema = (metadata or {}).get(SCHEMA_METADATA_KEY)
        if not schema:
            schema = key.path[0] if len(key.path) > 1 else "main"
        return _ident(str(schema)), _ident(key.path[-1])

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        """Write the asset's DataFrame to its table."""
        if obj is None:
            return
        if not isinstance(obj, pd.DataFrame):
            raise WarehouseError(
                f"WarehouseIOManager stores DataFrames only, got {type(obj).__name__}"
            )
        from resources.migrations import ensure_warehouse_migrated  # imports this module

        ensure_warehouse_migrated(self.warehouse)  # once per process: tables older code wrote
        schema, table = self._location(context.asset_key, context.definition_metadata)
        stored = _storable(obj)
        column = (context.definition_metadata or {}).get(PARTITION_COLUMN_KEY)
        if context.has_asset_partitions and column:
            keys = list(context.asset_partition_keys)
            if stored.empty:
                stray: set[Any] = set()
            elif column in stored.columns:
                stray = set(stored[column]) - set(keys)
            else:
                stray = {f"(no column {column})"}
            if stray:
                raise WarehouseError(
                    f"{context.asset_key.to_user_string()}: rows outside the run's partitions "
                    f"in column {column!r}: {sorted(map(str, stray))[:5]}"
                )
            self.warehouse.upsert_rows(table, stored, key=column, keys=keys, schema=schema)
        else:
            self.warehouse.write_table(table, stored, schema=schema)
        provenance = record_provenance(
            self.warehouse,
            context,
            target=f"{schema}.{table}",
            partitions=list(context.asset_partition_keys)
            if context.has_asset_partitions and column
            else [],
        )
        context.add_output_metadata(
            {
                "warehouse_table": f"{schema}.{table}",
                **table_metadata(stored, schema=schema, table=table),
                **provenance,
            }
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """Read the upstream asset's table."""
        upstream = context.upstream_output
        meta = upstream.definition_metadata if upstream is not None else None
        schema, table = self._location(context.asset_key, meta)
        if not self.warehouse.table_exists(table, schema=schema):
            # Every upstream run stored zero rows (a site with no facts: an empty frame has no
            # column types, so no table was created). Downstream gets an empty frame, not an
            # error: one empty site must not end the whole run.
            context.log.info(f"{schema}.{table} holds no rows yet: an empty input")
            return _empty_like_latest(context)
        df = self.warehouse.read_table(table, schema=schema)
        column = (meta or {}).get(PARTITION_COLUMN_KEY)
        if column and context.has_asset_partitions and column in df.columns:
            # Only the partitions this step depends on (every current one for an
            # unpartitioned downstream asset; a removed site's old rows are left out).
            df = df[df[column].isin(list(context.asset_partition_keys))].reset_index(drop=True)
        return df
