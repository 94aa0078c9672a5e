"""Where alert state lives: the :class:`AlertStore` interface, :class:`InMemoryAlertStore` for
tests and benchmarks, and :class:`WarehouseAlertStore` for tables ``operations.alerts`` and
``operations.alert_evaluations`` (with the conversions between records and frames).
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from orchestration_project.operations.alerting.model import (
    _TIME_FIELDS,
    ALERT_COLUMNS,
    ALERTS_TABLE,
    EVALUATIONS_TABLE,
    SCHEMA,
    AlertRecord,
    ProcessSummary,
    _py_utc,
)

if TYPE_CHECKING:
    from orchestration_project.common.warehouse import TableStore as Warehouse

__all__ = ["AlertStore", "InMemoryAlertStore", "WarehouseAlertStore"]


def _records_frame(records: Sequence[AlertRecord]) -> pd.DataFrame:
    """Records as a frame with explicit column types (so the first write fixes good types)."""
    rows = [asdict(r) for r in records]
    df = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    for col, dtype in ALERT_COLUMNS.items():
        if dtype.startswith("datetime"):
            df[col] = pd.to_datetime(df[col], utc=True)
        else:
            df[col] = df[col].astype(dtype)
    return df


def _none(v: Any) -> Any:
    """``None`` for pandas' missing markers, else ``v``."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _records_from_frame(df: pd.DataFrame) -> list[AlertRecord]:
    """The inverse of :func:`_records_frame` (tolerates missing optional columns)."""
    out = []
    for row in df.to_dict("records"):
        kw = {k: _none(row.get(k)) for k in ALERT_COLUMNS}
        for k in _TIME_FIELDS:
            if kw[k] is not None:
                kw[k] = _py_utc(kw[k])
        for k in ("value", "threshold"):
            kw[k] = float(kw[k]) if kw[k] is not None else None
        kw["count"] = int(kw["count"] or 0)
        kw["suppressed"] = int(kw["suppressed"] or 0)
        kw["verdict"] = bool(kw["verdict"]) if kw["verdict"] is not None else None
        for k in ("alert_id", "fingerprint", "rule", "kind", "severity", "subject_kind"):
            kw[k] = str(kw[k])
        kw["subject"] = str(kw["subject"])
        kw["message"] = str(kw["message"] or "")
        out.append(AlertRecord(**kw))
    return out


class AlertStore(ABC):
    """Where the :class:`AlertManager` keeps alert episodes and its evaluation log."""

    @abstractmethod
    def records(self) -> list[AlertRecord]:
        """Every stored alert episode (copies: changing them changes nothing until saved)."""

    @abstractmethod
    def save(self, records: Sequence[AlertRecord]) -> None:
        """Insert or replace these records (by ``alert_id``)."""

    @abstractmethod
    def record_evaluation(self, summary: ProcessSummary) -> None:
        """Append one evaluation to the log."""

    @abstractmethod
    def last_evaluated_at(self) -> datetime | None:
        """The time of the latest logged evaluation, if any."""


class InMemoryAlertStore(AlertStore):
    """Alert state in a dictionary: for tests, benchmarks and one-off evaluations."""

    def __init__(self) -> None:
        """An empty store."""
        self._records: dict[str, AlertRecord] = {}
        self.evaluations: list[ProcessSummary] = []

    def records(self) -> list[AlertRecord]:
        """Copies of every stored record."""
        return [copy.copy(r) for r in self._records.values()]

    def save(self, records: Sequence[AlertRecord]) -> None:
        """Insert or replace records by id."""
        for r in records:
            self._records[r.alert_id] = copy.copy(r)

    def record_evaluation(self, summary: ProcessSummary) -> None:
        """Append to :attr:`evaluations`."""
        self.evaluations.append(summary)

    def last_evaluated_at(self) -> datetime | None:
        """The latest evaluation time."""
        return max((e.evaluated_at for e in self.evaluations), default=None)


class WarehouseAlertStore(AlertStore):
    """Alert state in warehouse tables ``operations.alerts`` (one row per episode, replaced by
    ``alert_id``) and ``operations.alert_evaluations`` (one row per evaluation, appended).

    Reads the whole alerts table on each call: it holds one row per alert episode, which stays
    small, and plain table reads work the same on DuckDB and PostgreSQL. Concurrent managers on
    one warehouse would race (read, decide, write): run the alerting asset in the warehouse pool
    so that Dagster serialises it.

    Args:
        warehouse: Any :class:`~orchestration_project.common.warehouse.TableStore`.
        schema: Schema of the two tables.
    """

    def __init__(self, warehouse: Warehouse, *, schema: str = SCHEMA) -> None:
        """Bind to a warehouse."""
        self.warehouse = warehouse
        self.schema = schema

    def records(self) -> list[AlertRecord]:
        """Every row of ``operations.alerts``."""
        if not self.warehouse.table_exists(ALERTS_TABLE, schema=self.schema):
            return []
        return _records_from_frame(self.warehouse.read_table(ALERTS_TABLE, schema=self.schema))

    def save(self, records: Sequence[AlertRecord]) -> None:
        """Replace the rows of these alert ids in one transaction."""
        if not records:
            return
        self.warehouse.upsert_rows(
            ALERTS_TABLE,
            _records_frame(records),
            key="alert_id",
            keys=[r.alert_id for r in records],
            schema=self.schema,
        )

    def record_evaluation(self, summary: ProcessSummary) -> None:
        """Append a row to ``operations.alert_evaluations``."""
        row = asdict(summary)
        df = pd.DataFrame([row])
        df["evaluated_at"] = pd.to_datetime(df["evaluated_at"], utc=True)
        self.warehouse.write_table(EVALUATIONS_TABLE, df, schema=self.schema, mode="append")

    def last_evaluated_at(self) -> datetime | None:
        """The latest ``evaluated_at`` in the evaluation log."""
        if not self.warehouse.table_exists(EVALUATIONS_TABLE, schema=self.schema):
            return None
        df = self.warehouse.read_table(EVALUATIONS_TABLE, schema=self.schema)
        if df.empty:
            return None
        return _py_utc(pd.to_datetime(df["evaluated_at"], utc=True).max())
