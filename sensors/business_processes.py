"""Business-process sensors: the invoice inbox (a run per new batch of invoice files), the SLA
watch (overdue tasks escalated, people notified through the alerting sinks), and payments
ready (a payment-export run when approved invoices wait for it), and the onboarding review
queue (its customers become process tasks as soon as it changes). All running by default."""

import hashlib
import json

import dagster as dg

from assets.business_processes.assets import ONBOARDING_REVIEW_QUEUE
from assets.business_processes.common import (
    INVOICE_PROCESS,
    escalation_notifications,
    inbox_files,
    invoice_inbox,
    process_engine,
)
from assets.business_processes.jobs import (
    business_processes_job,
    onboarding_exceptions_job,
    payment_export_job,
)
from orchestration_project.common.inbox import cursor, scan
from resources.alerting import AlertingResource
from resources.coordination import CoordinationResource

CURSOR_FILES = 2000  # remembered (name, size, mtime) -> key entries, newest kept
MAX_FILES_PER_RUN = 500


@dg.sensor(
    name="invoice_inbox_sensor",
    job=business_processes_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts one business_processes_job run per batch of new invoice files (PDF, "
    "CSV, JSON) in the inbox (INVOICE_INBOX, default .data/inbox/invoices); the run moves them "
    "to processed/ or rejected/.",
)
def invoice_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One run request for the files that are new since the last tick, keyed by their names
    and content hashes (so the same files never start two runs). The cursor, kept by Dagster,
    remembers each file's key by name, size and modification time, so an unchanged file is
    neither hashed again nor requested again."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current, new = scan(inbox_files(invoice_inbox()), seen, limit=MAX_FILES_PER_RUN)
    requests = []
    if new:
        batch_key = hashlib.sha256("\n".join(k for _, k in new).encode()).hexdigest()[:20]
        requests.append(
            dg.RunRequest(
                run_key=f"invoices:{batch_key}",
                run_config={
                    "ops": {"invoice_intake": {"config": {"files": [str(p) for p, _ in new]}}}
                },
                tags={"invoice_files": str(len(new))},
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=cursor(seen, current, keep=CURSOR_FILES))


@dg.sensor(
    name="process_sla_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Escalates process tasks past their SLA one level per the process YAML "
    "(reassignment, new due time) and notifies people through the alerting sinks.",
)
def process_sla_sensor(
    context: dg.SensorEvaluationContext,
    coordination: CoordinationResource,
    alerting: AlertingResource,
) -> dg.SkipReason:
    """Escalate every overdue open task by one level (events in the store: who was notified,
    who holds it now) and deliver one notification per escalation to every alerting sink.
    Escalating is idempotent per level, so a tick that runs twice escalates once."""
    engine = process_engine(coordination)
    notices = engine.escalate_overdue()
    if not notices:
        return dg.SkipReason("no task is overdue")
    results = alerting.deliver(escalation_notifications(notices), logger=context.log)
    failed = sum(not r.ok for r in results)
    return dg.SkipReason(
        f"escalated {len(notices)} overdue task(s); {len(results) - failed} deliveries ok, "
        f"{failed} failed"
    )


@dg.sensor(
    name="payment_ready_sensor",
    job=payment_export_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests a payment_export_job run when approved invoices wait at the payment "
    "step (keyed by which ones, so the same set is exported once).",
)
def payment_ready_sensor(
    context: dg.SensorEvaluationContext, coordination: CoordinationResource
) -> dg.SensorResult | dg.SkipReason:
    """A payment-export run for the invoices waiting at the payment step, keyed by their ids."""
    engine = process_engine(coordination)
    ids = sorted(
        s["instance_id"]
        for s in engine.events.instances(process=INVOICE_PROCESS, step="payment")
        if s["waiting"] == "system"
    )
    if not ids:
        return dg.SkipReason("no approved invoice waits for payment")
    key = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:20]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"payments:{key}", tags={"invoices": str(len(ids))})]
    )


@dg.asset_sensor(
    name="onboarding_review_sensor",
    asset_key=ONBOARDING_REVIEW_QUEUE,
    job=onboarding_exceptions_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts onboarding_exceptions_job after each new materialization of "
    "customer_onboarding's onboarding_review_queue, so customers who need a person become "
    "process tasks without waiting for the next invoice batch.",
)
def onboarding_review_sensor(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> dg.RunRequest:
    """One run per new review-queue materialization (keyed by the run that wrote it; the
    asset sensor's cursor, kept by Dagster, remembers the last one seen)."""
    return dg.RunRequest(run_key=f"onboarding-review:{asset_event.run_id}")


defs = dg.Definitions(
    sensors=[
        invoice_inbox_sensor,
        process_sla_sensor,
        payment_ready_sensor,
        onboarding_review_sensor,
    ]
)

__all__ = [
    "defs",
    "invoice_inbox_sensor",
    "onboarding_review_sensor",
    "payment_ready_sensor",
    "process_sla_sensor",
]
