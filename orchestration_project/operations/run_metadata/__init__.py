"""Run metadata: incremental ingestion from the Dagster instance into warehouse tables.

Tables (schema ``operations``). The run tables are keyed by ``run_id``: a run's rows are
replaced as a whole whenever the run changes, so an ingestion is idempotent.

| table | one row per | columns |
|---|---|---|
| ``runs`` | run | run_id, job_name, status, created_at, started_at, ended_at, duration_s, root_run_id, parent_run_id, tags (JSON), updated_at, clock_skew |
| ``steps`` | step of a run | run_id, step_key, status, started_at, ended_at, duration_s, attempts, clock_skew |
| ``materializations`` | asset materialisation | run_id, step_key, asset_key, at, row_count |
| ``check_results`` | asset check evaluation | run_id, asset_key, check_name, passed, severity, at |
| ``failures`` | step or run failure | run_id, step_key, error_class, message, failure_class, retryable, at |
| ``agent_actions`` | agent action (tool call, message, decision) of any domain | domain, action_id, run_id, agent, role, kind, name, inputs, output, started_at, duration_s, cost_usd, outcome, error, route, task_id |
| ``fetch_attempts`` | fetch attempt (HTTP or browser route) of any domain | domain, id, crawl_id, url, site, route, outcome, status, size_bytes, latency_s, needs_javascript, reason, error, attempted_at |
| ``ingest_cursor`` | (one row) | updated_after: the largest run ``update_timestamp`` ingested (epoch seconds) |

Reading. Only the event types the tables need are read (``EVENT_TYPES``: step
start/restart/success/failure/skip/retry, asset materialisations, asset check evaluations and
run failures), not the whole log. When the event log is one SQL table (PostgreSQL, MySQL,
consolidated SQLite) the events of a whole page of runs are read by storage id across runs, in
one keyset-paged query (:mod:`.events`), and step events are read from the event log's columns
without deserialising their JSON; a run-sharded log (Dagster's default SQLite storage) is read
run by run. Both paths build the same rows (``tests/.../test_ingest_postgres.py`` compares
them).

Cursor. Runs updated after ``cursor - lookback_s`` are listed (``lookback_s`` absorbs clock
skew between the processes that write run updates); a listed run is re-ingested only if its
``update_timestamp`` differs from the ``updated_at`` already stored, so a re-ingestion with
nothing new reads no events and writes nothing. The cursor is written after a page's tables:
an ingestion that fails midway (a locked or broken warehouse) leaves the cursor behind and the
next ingestion replaces those runs again — nothing is lost and nothing is duplicated.

Bad metadata. A run that never started has NULL ``started_at``/``duration_s``. Events of a
step type without a step key, and events whose payload cannot be read, are skipped and counted
(``IngestResult.malformed_events``); a materialisation without a step key keeps a NULL
``step_key``; a failure without an error object gets ``error_class = 'unknown'`` and the
event's message. Clock skew: when an end precedes its start (run or step), the row is flagged
``clock_skew = true`` and its ``duration_s`` is NULL — durations are never negative — and the
rows are counted (``IngestResult.clock_skew``). Step times are the earliest start and the latest
end event, and the step's status follows the storage order of the events, whatever their clocks.

Agent actions and fetch attempts. Every domain that records agent actions writes them to its
own ``<schema>.agent_actions`` table (e.g. ``market_research``, see
``orchestration_project.agents.runtime.AgentAction``), and its fetch attempts to
``<schema>.fetch_attempts``. Ingestion consolidates all of them into ``operations`` with a
``domain`` column (the source schema), incrementally: per source key (``run_id`` for actions,
``crawl_id`` for attempts; NULL keys become ``''``) it compares a row count and the latest
timestamp with what is consolidated and copies only the keys that changed. Source columns not
listed above are dropped; missing ones are NULL. Sources are found through
``information_schema.columns``, which DuckDB and PostgreSQL both provide.

Warehouse access. On DuckDB an ingestion opens the file once to read its state (catalog,
cursor, stored update times, domain fingerprints: a re-ingestion with nothing new opens it only
this once, read-only) and once per page of runs to write, in one transaction: the page's tables
and the cursor are committed together or not at all. Opening the file costs more than the small
writes themselves, so this is where most of the time went. On PostgreSQL (a warehouse whose
``url`` names PostgreSQL) it is the same with one psycopg2 connection per phase: the read phase
shares it, a page is one transaction, and rows are bulk-loaded with ``COPY ... FROM STDIN``
instead of row-by-row inserts. Other warehouses go through the ``Warehouse`` API, one
transaction per table write, with the cursor written last — a failed page is redone by the next
ingestion. The SQL used (``information_schema.columns``, ``CAST(... AS VARCHAR)``,
``TIMESTAMPTZ`` literals, no bound parameters) runs on both DuckDB and PostgreSQL; both are
exercised by the tests.

Errors. A warehouse that cannot be opened or read (a corrupt file) raises ``WarehouseError``
naming it, before anything is written; a warehouse held by another writer for longer than its
lock timeout raises ``WarehouseLockedError``. Either way the cursor is not advanced and a later
ingestion catches up. Ingestion only reads the Dagster instance. Runs deleted from the instance
keep their rows.

The package's modules: :mod:`.schema` (table names, columns, types, value conversions),
:mod:`.session` (warehouse sessions, error wrapping, catalog and cursor helpers, COPY),
:mod:`.events` (event logs of many runs read by storage id), :mod:`.rows` (event-log entries
to rows), :mod:`.consolidate` (the domains' agent actions and fetch attempts)
and :mod:`.ingest` (:func:`ingest`, :func:`ingest_agent_actions`, :func:`read_cursor`,
:class:`IngestResult`). Import from the package; every public name is re-exported here.
"""

from orchestration_project.operations.run_metadata.ingest import (
    IngestResult,
    ingest,
    ingest_agent_actions,
    read_cursor,
)
from orchestration_project.operations.run_metadata.rows import ET, EVENT_TYPES, run_rows
from orchestration_project.operations.run_metadata.schema import (
    ACTION_COLUMNS,
    CONSOLIDATED,
    CURSOR_TABLE,
    FETCH_ATTEMPT_COLUMNS,
    SCHEMA,
    TABLE_COLUMNS,
)

__all__ = [
    "ACTION_COLUMNS",
    "CONSOLIDATED",
    "CURSOR_TABLE",
    "ET",
    "EVENT_TYPES",
    "FETCH_ATTEMPT_COLUMNS",
    "SCHEMA",
    "TABLE_COLUMNS",
    "IngestResult",
    "ingest",
    "ingest_agent_actions",
    "read_cursor",
    "run_rows",
]
