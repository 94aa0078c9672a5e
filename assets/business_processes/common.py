"""What the business-process assets and sensors share: the engine over the coordination
store, the inbox and purchase-order locations, and escalations turned into alert
notifications for the alerting sinks."""

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from orchestration_project.business_processes.definition import bundled_processes
from orchestration_project.business_processes.engine import EscalationNotice, ProcessEngine
from orchestration_project.business_processes.events import EventStore
from resources.coordination import CoordinationResource
from resources.environment import data_dir

GROUP = "business_processes"
INVOICE_PROCESS = "invoice_approval"
ONBOARDING_PROCESS = "onboarding_exception"
SUFFIXES = {".pdf", ".csv", ".json"}


def process_engine(
    coordination: CoordinationResource, *, clock: Callable[[], datetime] | None = None
) -> ProcessEngine:
    """The engine over the coordination store, with the bundled process definitions (the
    folder ``PROCESS_DEFINITIONS_DIR`` instead, when set)."""
    definitions = bundled_processes(os.environ.get("PROCESS_DEFINITIONS_DIR") or None)
    events = EventStore(coordination.store())
    return (
        ProcessEngine(events, definitions, clock=clock)
        if clock
        else ProcessEngine(events, definitions)
    )


def invoice_inbox() -> Path:
    """The watched invoice folder: ``INVOICE_INBOX``, default ``<data>/inbox/invoices``."""
    folder = Path(os.environ.get("INVOICE_INBOX") or data_dir() / "inbox" / "invoices")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def purchase_orders_file() -> Path:
    """The purchase orders: ``PURCHASE_ORDERS``, default
    ``<data>/business_processes/purchase_orders.csv``."""
    return Path(
        os.environ.get("PURCHASE_ORDERS")
        or data_dir() / "business_processes" / "purchase_orders.csv"
    )


def inbox_files(folder: Path) -> list[Path]:
    """The invoice files waiting in ``folder`` (PDF, CSV, JSON; hidden files skipped)."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )


def escalation_notifications(notices: Sequence[EscalationNotice]) -> list:
    """One alert notification (``operations.alerting.Notification``) per escalation (subject:
    the instance and step), for ``AlertingResource.deliver``."""
    # imported here: the alerting package pulls in the anomaly models (scipy), which the
    # assets of this group never need
    from orchestration_project.operations.alerting import Alert, Notification

    out = []
    for n in notices:
        who = ", ".join(n.notify) or "nobody"
        alert = Alert(
            rule="process_sla",
            kind="threshold",
            severity=n.severity,  # type: ignore[arg-type]
            subject_kind="process_task",
            subject=f"{n.instance_id}/{n.step}",
            value=n.overdue_minutes,
            threshold=0.0,
            message=f"{n.message}; notify {who}",
            at=datetime.fromisoformat(n.at),
        )
        out.append(
            Notification(
                subject_kind="process_task",
                subject=alert.subject,
                severity=alert.severity,
                alerts=(alert,),
                alert_ids=(f"{n.task_id}:L{n.level}",),
                at=alert.at,
            )
        )
    return out
