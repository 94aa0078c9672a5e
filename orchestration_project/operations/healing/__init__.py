"""Incident response and self-healing: incidents, remedies, circuit breakers, settings.

A failed run opens an incident (or joins the open incident of its root run, when it was itself
a recovery attempt). Its failure is classified from the error events of its event log
(``orchestration_project.operations.failures``) and a remedy is chosen by class:

| class | remedy |
|---|---|
| transient_network, timeout | re-execute from failure after an exponential backoff |
| resource_exhaustion | lower the job's concurrency, then re-execute from failure with backoff |
| bad_input, upstream_data, code_error | escalate to a human (no retry can fix them) |

After ``max_attempts`` re-executions an incident is escalated too. A non-blocking asset check
that fails in a run that succeeded opens an ``asset_check`` incident (``upstream_data``,
escalated), recovered when a later evaluation of the check passes. A re-execution that
succeeds is verified: every asset check it ran must have passed (counts against upstream, no
duplicate keys, references intact), and only then is the incident *recovered*. Every step of
this is an action row with a time, so a post-incident report can show the timeline, the time to
detect and the time to recover.

Circuit breakers guard sources and routes: steps record failures and successes; after
``failure_threshold`` failures within ``window`` a breaker opens, callers skip the source or
switch to another route, and after ``cooldown`` one trial call is let through (half-open); its
success closes the breaker.

The state lives in the coordination store (SQLite locally, PostgreSQL in production), not in the
warehouse, so a locked or corrupt warehouse cannot stop incident response.

The package's modules: :mod:`.schema` (tables, remedy names, run tags, ``ensure_ops_tables``,
``OpsSettings``), :mod:`.breakers` (circuit breakers), :mod:`.eventlog` (reading failures and
check outcomes from the Dagster instance), :mod:`.opevents` (silent remedies recorded as
low-severity operational events), :mod:`.overrides` (settings a remedy changed, with the
rule and expiry that undo them), :mod:`.incidents` (incident records, the retry
policy, ``incidents_frame``) and :mod:`.healer` (the :class:`Healer`). Import from the package;
every public name is re-exported here.
"""

from orchestration_project.operations.healing.breakers import (
    BreakerState,
    CircuitBreakers,
    breaker_subject,
)
from orchestration_project.operations.healing.eventlog import (
    RunFailure,
    check_outcomes,
    logical_root_run_id,
    read_run_failure,
    unfinished_assets,
)
from orchestration_project.operations.healing.healer import Healer
from orchestration_project.operations.healing.incidents import (
    Incident,
    Notify,
    RemedyPolicy,
    incidents_frame,
)
from orchestration_project.operations.healing.opevents import (
    BREAKER_TRIP,
    OP_EVENT_COLUMNS,
    PREDICTED_FAILURE_ACTION,
    QUARANTINE_SPIKE,
    ROUTE_SWITCH,
    SILENT_REMEDIES,
    SOURCE_SKIPPED,
    STEP_RETRY,
    op_events,
    record_op_event,
)
from orchestration_project.operations.healing.overrides import (
    MAX_LIFETIME_KEY,
    QUIET_RUNS_KEY,
    RESTORE_CONCURRENCY,
    ConcurrencyChange,
    Overrides,
    newest_run_id,
    overrides_markdown,
)
from orchestration_project.operations.healing.schema import (
    ACTION_TAG,
    CHECK_SCAN_FIRST_LOOKBACK,
    ESCALATE,
    INCIDENT_TAG,
    LOWER_CONCURRENCY,
    OPEN_STATUSES,
    REEXECUTE,
    REMEDY_BY_CLASS,
    ROOT_TAG,
    OpsSettings,
    actions_table,
    breakers_table,
    ensure_ops_tables,
    incidents_table,
    op_events_table,
    ops_metadata,
    overrides_table,
    review_table,
    settings_table,
)

__all__ = [
    "MAX_LIFETIME_KEY",
    "QUIET_RUNS_KEY",
    "RESTORE_CONCURRENCY",
    "ConcurrencyChange",
    "Overrides",
    "newest_run_id",
    "overrides_markdown",
    "ACTION_TAG",
    "BREAKER_TRIP",
    "OP_EVENT_COLUMNS",
    "PREDICTED_FAILURE_ACTION",
    "QUARANTINE_SPIKE",
    "ROUTE_SWITCH",
    "SILENT_REMEDIES",
    "SOURCE_SKIPPED",
    "STEP_RETRY",
    "breaker_subject",
    "op_events",
    "op_events_table",
    "overrides_table",
    "record_op_event",
    "review_table",
    "CHECK_SCAN_FIRST_LOOKBACK",
    "ESCALATE",
    "INCIDENT_TAG",
    "LOWER_CONCURRENCY",
    "OPEN_STATUSES",
    "REEXECUTE",
    "REMEDY_BY_CLASS",
    "ROOT_TAG",
    "BreakerState",
    "CircuitBreakers",
    "Healer",
    "Incident",
    "Notify",
    "OpsSettings",
    "RemedyPolicy",
    "RunFailure",
    "actions_table",
    "breakers_table",
    "check_outcomes",
    "ensure_ops_tables",
    "incidents_frame",
    "incidents_table",
    "logical_root_run_id",
    "ops_metadata",
    "read_run_failure",
    "settings_table",
    "unfinished_assets",
]
