"""What domain code needs of the analytical warehouse: an interface and its errors.

The implementations (DuckDB file, PostgreSQL) and their Dagster resource live in
:mod:`resources.warehouse`; domain code (run-metadata ingestion, the alert store) is written
against these protocols only, so it never imports ``resources``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

WAREHOUSE_POOL = "warehouse"
"""The Dagster pool every warehouse writer declares (one slot in ``dagster.yaml``)."""


class WarehouseError(RuntimeError):
    """A warehouse operation failed for a reason the caller should see."""


class WarehouseLockedError(WarehouseError):
    """Another process held the warehouse file for longer than the lock timeout."""


@runtime_checkable
class TableStore(Protocol):
    """Tables for assets and run metadata: write a DataFrame, read one back, run SQL."""

    def write_table(
        self, table: str, df: pd.DataFrame, *, schema: str = "main", mode: str = "replace"
    ) -> int: ...

    def upsert_rows(
        self, table: str, df: pd.DataFrame, *, key: str, keys: list[Any], schema: str = "main"
    ) -> int: ...

    def read_table(self, table: str, *, schema: str = "main") -> pd.DataFrame: ...

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame: ...

    def table_exists(self, table: str, *, schema: str = "main") -> bool: ...


@runtime_checkable
class FileTableStore(TableStore, Protocol):
    """A warehouse in one local file that can hand out a connection for a whole transaction
    (DuckDB): bulk work then opens the file once instead of once per statement."""

    path: str

    def connect(self, *, read_only: bool = False) -> AbstractContextManager[Any]: ...


def location_of(store: TableStore) -> str:
    """How to name ``store`` in an error message."""
    path = getattr(store, "path", None)
    return f"warehouse file {Path(path)}" if path else f"warehouse {type(store).__name__}"


__all__ = [
    "WAREHOUSE_POOL",
    "FileTableStore",
    "TableStore",
    "WarehouseError",
    "WarehouseLockedError",
    "location_of",
]
