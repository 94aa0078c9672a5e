"""The audit log: one warehouse row per MCP request, written in the background.

Table ``operations.mcp_audit`` (beside the platform's other operational tables): ``at`` (UTC),
``transport``, ``method`` (``tools/call``, ``resources/read``, …), ``target`` (the tool, resource
URI or prompt), ``arguments`` (a truncated, secret-free summary: see
:func:`~orchestration_project.mcp_server.safety.summarise_arguments`), ``outcome`` (``ok``,
``error``, ``refused``), ``error`` (the message the client got), ``latency_ms`` and ``client``
(the client's name and version from ``initialize``; on HTTP also the token's client id and the
peer address).

Rows are queued by the request and appended by one writer thread every
``flush_interval_s``, so a call never waits for the warehouse file (DuckDB allows one writer per
file; a run writing it at the same moment only delays the audit). The writer flushes on
``close()`` (the server's shutdown and SIGTERM); a row still queued when the process is killed
with SIGKILL is lost. A failed append keeps its rows for the next flush and is reported on
stderr.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from orchestration_project.common.time import utcnow
from orchestration_project.common.warehouse import TableStore

AUDIT_SCHEMA = "operations"
AUDIT_TABLE = "mcp_audit"
AUDIT_COLUMNS = [
    "at",
    "transport",
    "method",
    "target",
    "arguments",
    "outcome",
    "error",
    "latency_ms",
    "client",
]


@dataclass(frozen=True)
class AuditRow:
    """One audited request."""

    at: datetime
    transport: str
    method: str
    target: str
    arguments: str
    outcome: str
    error: str
    latency_ms: float
    client: str


class AuditLog:
    """Queues audit rows and appends them to ``operations.mcp_audit`` from a writer thread.

    Args:
        warehouse: the warehouse (``write_table(..., mode="append")``).
        flush_interval_s: how often the writer appends what is queued.
        max_pending: rows kept when the warehouse cannot be written; older ones are dropped
            (and counted in ``dropped``).
    """

    def __init__(
        self, warehouse: TableStore, *, flush_interval_s: float = 0.25, max_pending: int = 50_000
    ) -> None:
        self.warehouse = warehouse
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.written = 0
        self.dropped = 0
        self._queue: queue.SimpleQueue[AuditRow] = queue.SimpleQueue()
        self._pending: list[AuditRow] = []
        self._lock = threading.Lock()  # one flush at a time
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mcp-audit", daemon=True)
        self._thread.start()

    def record(
        self,
        *,
        transport: str,
        method: str,
        target: str,
        arguments: str,
        outcome: str,
        error: str = "",
        latency_ms: float,
        client: str,
        at: datetime | None = None,
    ) -> None:
        """Queue one row (never blocks on the warehouse)."""
        self._queue.put(
            AuditRow(
                at=at or utcnow(),
                transport=transport,
                method=method,
                target=target[:300],
                arguments=arguments,
                outcome=outcome,
                error=error[:500],
                latency_ms=round(float(latency_ms), 3),
                client=client[:200],
            )
        )

    def flush(self) -> int:
        """Append every queued row now; return how many were written."""
        with self._lock:
            while True:
                try:
                    self._pending.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if not self._pending:
                return 0
            rows = self._pending
            df = pd.DataFrame([asdict(r) for r in rows], columns=AUDIT_COLUMNS)
            df["at"] = pd.to_datetime(df["at"], utc=True)
            try:
                self.warehouse.write_table(AUDIT_TABLE, df, schema=AUDIT_SCHEMA, mode="append")
            except Exception as exc:  # noqa: BLE001 - keep the rows, try again next time
                if len(rows) > self.max_pending:
                    self.dropped += len(rows) - self.max_pending
                    self._pending = rows[-self.max_pending :]
                print(f"mcp audit: append failed, will retry: {exc}", file=sys.stderr)
                return 0
            self._pending = []
            self.written += len(rows)
            return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush()

    def close(self, *, timeout_s: float = 10.0) -> None:
        """Stop the writer and flush what is left (retrying for up to ``timeout_s``)."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            self.flush()
            if not self._pending or time.monotonic() > deadline:
                break
            time.sleep(0.2)


def read_audit(warehouse: TableStore) -> pd.DataFrame:
    """Every audit row, oldest first (empty with the columns when there is none yet)."""
    if not warehouse.table_exists(AUDIT_TABLE, schema=AUDIT_SCHEMA):
        return pd.DataFrame(columns=AUDIT_COLUMNS)
    df = warehouse.read_table(AUDIT_TABLE, schema=AUDIT_SCHEMA)
    return df.sort_values("at", kind="stable").reset_index(drop=True)


def _client(params: Any) -> str:
    info = getattr(params, "client_info", None)
    if info is None:
        return "unknown"
    return f"{getattr(info, 'name', '?')}/{getattr(info, 'version', '?')}"


def describe_client(ctx: Any) -> str:
    """Who is calling: the client's name and version from ``initialize``, and on HTTP the
    authenticated token's client id and the peer address."""
    session = getattr(ctx, "session", None)
    who = _client(getattr(session, "client_params", None)) if session is not None else "unknown"
    request = getattr(ctx, "request", None)
    if request is not None:
        user = request.scope.get("user") if hasattr(request, "scope") else None
        token = getattr(user, "access_token", None)
        if token is not None:
            who += f" token:{token.client_id}"
        peer = getattr(request, "client", None)
        if peer is not None:
            who += f" from {peer.host}"
    return who


__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_SCHEMA",
    "AUDIT_TABLE",
    "AuditLog",
    "AuditRow",
    "describe_client",
    "read_audit",
]
