"""Business-process automation: long-running processes described in YAML (steps, conditions,
assignees, SLAs, escalations), run by an engine whose state is event-sourced in the
coordination store (append-only events; the current state is a projection rebuilt from them).

Modules: :mod:`.definition` (the YAML model), :mod:`.projection` (events folded into state),
:mod:`.events` (the event store and its append-only triggers), :mod:`.engine` (commands and
SLA escalation), :mod:`.invoices` (invoice intake and PO checks), :mod:`.samples` (demo
invoices), :mod:`.inbox` (the web inbox for people), :mod:`.metrics` (scorecard figures),
:mod:`.timeline` (audit timelines). Pure Python: nothing here knows Dagster or ``resources/``.
"""

from orchestration_project.business_processes.definition import (
    ProcessDefinition,
    ProcessDefinitionError,
    bundled_processes,
    load_process,
    parse_process,
)
from orchestration_project.business_processes.engine import (
    EscalationNotice,
    InstanceExists,
    NotAllowed,
    ProcessEngine,
    ProcessError,
    TaskClosed,
    UnknownInstance,
)
from orchestration_project.business_processes.events import ConcurrencyError, EventStore
from orchestration_project.business_processes.metrics import (
    ProcessFigures,
    process_figures,
    scorecard_rows,
)

__all__ = [
    "ConcurrencyError",
    "EscalationNotice",
    "EventStore",
    "InstanceExists",
    "NotAllowed",
    "ProcessDefinition",
    "ProcessDefinitionError",
    "ProcessEngine",
    "ProcessError",
    "ProcessFigures",
    "TaskClosed",
    "UnknownInstance",
    "bundled_processes",
    "load_process",
    "parse_process",
    "process_figures",
    "scorecard_rows",
]
