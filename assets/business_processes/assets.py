"""The business_processes group: invoice files → extracted, checked invoices (the bad ones
quarantined with reasons) → validated invoices (blocking Great Expectations check) → process
instances in the event-sourced engine (with the onboarding exceptions beside them) → open
tasks for people → payment export → audit timelines → scorecard figures.

The engine's state lives in the coordination store (``coordination`` resource); these assets
read and drive it and write tables of what they see. Assets after ``process_instances`` read
the store directly (people decide between runs), so they depend on it for order only.
"""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.business_processes.common import (
    GROUP,
    INVOICE_PROCESS,
    ONBOARDING_PROCESS,
    inbox_files,
    invoice_inbox,
    process_engine,
    purchase_orders_file,
)
from orchestration_project.business_processes.engine import ProcessError
from orchestration_project.business_processes.invoices import (
    QUARANTINE_COLUMNS,
    check_invoices,
    read_invoice_file,
    read_purchase_orders,
)
from orchestration_project.business_processes.metrics import (
    MANUAL_MINUTES,
    process_figures,
    scorecard_rows,
)
from orchestration_project.business_processes.projection import iso
from orchestration_project.business_processes.timeline import (
    plot_timelines,
    timeline_markdown,
    timeline_rows,
)
from orchestration_project.common.inbox import file_away, locate
from orchestration_project.common.quality import expectation, validate
from orchestration_project.evolution.compat import RenamedFields
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema

RECORDS = "invoice_records"
QUARANTINE = "invoice_quarantine"
VALIDATION = "invoice_validation"
VALIDATION_CHECK = "invoices_match_purchase_orders"
ONBOARDING = "onboarding_exceptions"
INSTANCES = "process_instances"
TASKS = "process_tasks"
PAYMENTS = "payment_export"
TIMELINE = "process_timeline"
SCORECARD = "process_scorecard"
ONBOARDING_REVIEW_QUEUE = dg.AssetKey("onboarding_review_queue")  # customer_onboarding's
TABLE = in_schema(GROUP)
AFTER_APPROVAL = {"business_processes/after_approval": "true"}  # what payment_export_job runs
ONBOARDING_PATH = {"business_processes/onboarding": "true"}  # what onboarding_exceptions_job adds


def _plain(value: object) -> object:
    """A JSON-ready scalar: numpy numbers as Python ones, NaN/NaT/None as None."""
    if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _md(df: pd.DataFrame, rows: int = 20) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False) if len(df) else "none")


class InvoiceIntakeConfig(RenamedFields, dg.Config):
    """The invoice files of this run (the inbox sensor fills ``files`` in)."""

    files: list[str] = Field(
        default_factory=list, description="invoice files; empty: every file in the inbox"
    )
    inbox: str = Field(default="", description="the inbox folder; empty: INVOICE_INBOX")
    purchase_orders: str = Field(
        default="", description="purchase-order CSV; empty: PURCHASE_ORDERS"
    )
    amount_tolerance: float = Field(default=0.01, description="largest difference to the PO")


@dg.multi_asset(
    group_name=GROUP,
    outs={
        RECORDS: dg.AssetOut(
            description="Invoices read from the inbox (PDF, CSV, JSON) that passed every "
            "check: amount, currency, vendor, invoice and PO number, with their PO's figures.",
            metadata=TABLE,
            kinds={"python", "pdf", "duckdb"},
        ),
        QUARANTINE: dg.AssetOut(
            description="Invoices that cannot go on, with every reason code and reason "
            "(unreadable_pdf, missing_po, amount_mismatch, vendor_mismatch, duplicate_invoice, "
            "missing_fields); records in = accepted + quarantined.",
            metadata=TABLE,
            kinds={"python", "duckdb"},
        ),
    },
    pool=WAREHOUSE_POOL,
)
def invoice_intake(
    context: dg.AssetExecutionContext,
    config: InvoiceIntakeConfig,
    coordination: CoordinationResource,
):
    """Read every invoice file of the run, extract its fields (``pypdf`` for PDFs), check it
    against the purchase orders and against invoices received before (the process instances
    in the store), quarantine the bad ones with reasons, and move each file to ``processed/``
    (or to ``rejected/`` with a ``.reason.txt`` when it could not be read at all)."""
    folder = Path(config.inbox) if config.inbox else invoice_inbox()
    wanted = [Path(f) for f in config.files] if config.files else inbox_files(folder)
    found = {f: locate(f) for f in wanted}
    files = [p for p in found.values() if p is not None]
    missing = [str(f) for f, p in found.items() if p is None]
    if missing:
        context.log.warning(f"not found (moved or deleted): {missing}")
    records = [r for f in files for r in read_invoice_file(f)]
    pos = read_purchase_orders(
        Path(config.purchase_orders) if config.purchase_orders else purchase_orders_file()
    )
    engine = process_engine(coordination)
    known = engine.events.instance_ids(prefix="invoice:")
    result = check_invoices(records, pos, known_instances=known, tolerance=config.amount_tolerance)
    assert result.records_in == len(records), "an invoice was lost"
    for f in files:
        errors = [r["error"] for r in records if r["source_file"] == f.name and r.get("error")]
        rows = [r for r in records if r["source_file"] == f.name]
        if errors and len(errors) == len(rows):
            file_away(f, "rejected", "; ".join(errors))
        else:
            file_away(f, "processed")
    accepted, quarantined = result.accepted, result.quarantined
    yield dg.Output(
        accepted,
        output_name=RECORDS,
        metadata={
            "row_count": len(accepted),
            "records_in": len(records),
            "files": len(files),
            "purchase_orders": len(pos),
            "preview": _md(accepted.drop(columns=["instance_id"])),
        },
    )
    codes = (
        quarantined["reason_codes"].str.split(",").explode().value_counts().to_dict()
        if len(quarantined)
        else {}
    )
    yield dg.Output(
        quarantined[QUARANTINE_COLUMNS],
        output_name=QUARANTINE,
        metadata={
            "row_count": len(quarantined),
            "by_reason": dg.MetadataValue.json(codes),
            "reasons": _md(quarantined[["source_file", "invoice_number", "reason"]]),
        },
    )


@dg.asset(
    name=VALIDATION,
    group_name=GROUP,
    kinds={"python", "great_expectations", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec(VALIDATION_CHECK, asset=VALIDATION, blocking=True)],
)
def invoice_validation(invoice_records: pd.DataFrame):
    """The accepted invoices matched to their purchase orders (``amount_delta`` = invoice
    − PO), guarded by a blocking Great Expectations check: every field present, amount
    positive, ISO currency, the amount within a cent of the PO, one instance per invoice. No
    approval process starts on invoices that fail it."""
    df = invoice_records.copy()
    df["amount_delta"] = (df["amount"].astype(float) - df["po_amount"].astype(float)).round(2)
    yield dg.Output(df, metadata={"row_count": len(df), "preview": _md(df)})
    yield validate(
        df,
        [
            *[
                expectation("ExpectColumnValuesToNotBeNull", column=c)
                for c in ("instance_id", "invoice_number", "vendor", "po_number", "amount")
            ],
            expectation("ExpectColumnValuesToBeBetween", column="amount", min_value=0.01),
            expectation("ExpectColumnValuesToMatchRegex", column="currency", regex=r"^[A-Z]{3}$"),
            expectation(
                "ExpectColumnValuesToBeBetween",
                column="amount_delta",
                min_value=-0.01,
                max_value=0.01,
            ),
            expectation("ExpectColumnValuesToBeUnique", column="instance_id"),
        ],
        asset_key=dg.AssetKey(VALIDATION),
        check_name=VALIDATION_CHECK,
    )


@dg.asset(
    name=ONBOARDING,
    group_name=GROUP,
    tags=ONBOARDING_PATH,
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[ONBOARDING_REVIEW_QUEUE],
)
def onboarding_exceptions(
    warehouse: Warehouse, coordination: CoordinationResource
) -> dg.Output[pd.DataFrame]:
    """Every customer in customer_onboarding's review queue (``onboarding_review_queue``:
    quarantined, refused by the CRM, welcome failed) as an ``onboarding_exception`` process
    instance with a task for the onboarding team; a customer already in the process is not
    started twice."""
    schema = "customer_onboarding"
    if warehouse.table_exists("onboarding_review_queue", schema=schema):
        queue = warehouse.read_table("onboarding_review_queue", schema=schema)
    else:
        queue = pd.DataFrame(columns=["external_ref", "stage", "missing", "seconds"])
    engine = process_engine(coordination)
    known = engine.events.instance_ids(prefix="onboarding:")
    rows = []
    for r in queue.to_dict("records"):
        iid = f"onboarding:{r['external_ref']}"
        new = iid not in known
        data = {k: _plain(v) for k, v in r.items()}
        state = engine.start(ONBOARDING_PROCESS, iid, data, exist_ok=True)
        known.add(iid)
        rows.append(
            {
                "instance_id": iid,
                "external_ref": str(r["external_ref"]),
                "stage": r["stage"],
                "missing": r["missing"],
                "started": new,
                "status": state["status"],
            }
        )
    df = pd.DataFrame(
        rows, columns=["instance_id", "external_ref", "stage", "missing", "started", "status"]
    )
    return dg.Output(
        df,
        metadata={"row_count": len(df), "started_now": int(df["started"].sum()) if len(df) else 0},
    )


INSTANCE_COLUMNS = [
    "instance_id",
    "process",
    "status",
    "step",
    "waiting",
    "outcome",
    "started_at",
    "ended_at",
    "human_decisions",
    "escalations",
    "events",
    "amount",
    "currency",
    "vendor",
]


def _instances_frame(states: list[dict]) -> pd.DataFrame:
    rows = [
        {
            **{k: s[k] for k in INSTANCE_COLUMNS[:10]},
            "events": s["seq"],
            "amount": s["data"].get("amount"),
            "currency": s["data"].get("currency"),
            "vendor": s["data"].get("vendor"),
        }
        for s in states
    ]
    df = pd.DataFrame(rows, columns=INSTANCE_COLUMNS)
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce").astype(float)
    return df


@dg.asset(
    name=INSTANCES,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
)
def process_instances(
    context: dg.AssetExecutionContext,
    invoice_validation: pd.DataFrame,
    onboarding_exceptions: pd.DataFrame,
    coordination: CoordinationResource,
) -> dg.Output[pd.DataFrame]:
    """Start an ``invoice_approval`` instance per validated invoice (auto-approved under the
    threshold, otherwise a task for an approver) and report every process instance's current
    state, projected from its events in the coordination store."""
    engine = process_engine(coordination)
    started = 0
    fields = ["invoice_number", "vendor", "po_number", "amount", "currency", "po_amount"]
    for r in invoice_validation.to_dict("records"):
        data = {k: _plain(r[k]) for k in fields}
        data.update(source_file=r["source_file"], invoice_date=_plain(r.get("invoice_date")))
        data["amount"], data["po_amount"] = float(data["amount"]), float(data["po_amount"])
        before = engine.events.state(r["instance_id"])
        engine.start(INVOICE_PROCESS, r["instance_id"], data, actor="invoice_intake", exist_ok=True)
        started += before is None
    df = _instances_frame(engine.events.instances())
    by = df.groupby(["process", "status"]).size().reset_index(name="n") if len(df) else df
    context.log.info(f"started {started} invoice instances; {len(df)} instances in all")
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "started_now": started,
            "by_status": _md(by),
            "waiting_for_people": int((df["waiting"] == "person").sum()) if len(df) else 0,
        },
    )


@dg.asset(
    name=TASKS,
    group_name=GROUP,
    tags=AFTER_APPROVAL,
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[INSTANCES],
)
def process_tasks(coordination: CoordinationResource) -> dg.Output[pd.DataFrame]:
    """The open tasks waiting for people (what the web inbox shows: ``python -m
    orchestration_project.business_processes.inbox``), with their assignee, due time,
    whether they are overdue and their escalation level."""
    engine = process_engine(coordination)
    tasks = pd.DataFrame(
        engine.events.tasks(status="open"),
        columns=[
            "task_id",
            "instance_id",
            "process",
            "step",
            "title",
            "assignee",
            "status",
            "created_at",
            "due_at",
            "escalation_level",
        ],
    )
    now = iso(engine.clock())
    tasks["overdue"] = tasks["due_at"].notna() & (tasks["due_at"].fillna("9999") < now)
    return dg.Output(
        tasks,
        metadata={
            "row_count": len(tasks),
            "overdue": int(tasks["overdue"].sum()),
            "by_assignee": dg.MetadataValue.json(tasks["assignee"].value_counts().to_dict()),
            "preview": _md(tasks),
        },
    )


PAYMENT_COLUMNS = [
    "batch",
    "instance_id",
    "vendor",
    "invoice_number",
    "po_number",
    "amount",
    "currency",
    "approved_by",
]


@dg.asset(
    name=PAYMENTS,
    group_name=GROUP,
    tags=AFTER_APPROVAL,
    kinds={"python", "csv", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[INSTANCES],
)
def payment_export(
    context: dg.AssetExecutionContext,
    coordination: CoordinationResource,
    reports_dir: ReportsDir,
) -> dg.Output[pd.DataFrame]:
    """One CSV file per batch of approved invoices (``reports/business_processes/payments/
    <batch>.csv``). Each invoice waiting at the payment step is first claimed for the batch
    (its instance completes the step, event ``action_completed`` with the batch id, and ends
    as paid): the claim is atomic per instance, so two export runs at once never pay one
    invoice twice. Then the batch file is written; should that fail, the run fails and the
    batch can be rebuilt from the events (every instance records its ``payment_batch``)."""
    engine = process_engine(coordination)
    waiting = [
        s
        for s in engine.events.instances(process=INVOICE_PROCESS, step="payment")
        if s["waiting"] == "system"
    ]
    batch = f"pay-{datetime.now(UTC):%Y%m%dT%H%M%S}-{context.run_id[:8]}"
    rows = []
    for s in waiting:
        try:
            engine.complete_step(
                s["instance_id"], "payment", data={"payment_batch": batch}, actor="payment_export"
            )
        except ProcessError as exc:
            context.log.info(f"{s['instance_id']} taken by another export: {exc}")
            continue
        d = s["data"]
        approvers = [t["decided_by"] for t in s["tasks"].values() if t["outcome"] == "approve"]
        rows.append(
            {
                "batch": batch,
                "instance_id": s["instance_id"],
                "vendor": d.get("vendor"),
                "invoice_number": d.get("invoice_number"),
                "po_number": d.get("po_number"),
                "amount": float(d.get("amount") or 0),
                "currency": d.get("currency"),
                "approved_by": ";".join(approvers) or "auto",
            }
        )
    df = pd.DataFrame(rows, columns=PAYMENT_COLUMNS)
    path = None
    if len(df):
        path = reports_dir.folder(GROUP, "payments") / f"{batch}.csv"
        df.to_csv(path, index=False)
    totals = df.groupby("currency")["amount"].sum().round(2).to_dict() if len(df) else {}
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "batch": batch if len(df) else "none",
            "file": dg.MetadataValue.path(str(path)) if path else "none",
            "totals": dg.MetadataValue.json(totals),
        },
    )


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:150]


@dg.asset(
    name=TIMELINE,
    group_name=GROUP,
    tags=AFTER_APPROVAL,
    kinds={"python", "markdown", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[INSTANCES, PAYMENTS],
)
def process_timeline(
    coordination: CoordinationResource, reports_dir: ReportsDir
) -> dg.Output[pd.DataFrame]:
    """Every instance's full history, read from its events: one row per event (who, when,
    what), a Markdown timeline per instance (``reports/business_processes/timelines/``), and a
    chart of the latest instances' steps over time (``timelines.png``)."""
    engine = process_engine(coordination)
    folder = reports_dir.folder(GROUP, "timelines")
    by_stream: dict[str, list] = {}
    for e in engine.events.iter_events():
        by_stream.setdefault(e.stream, []).append(e)
    rows = []
    for stream, events in by_stream.items():
        (folder / f"{_safe(stream)}.md").write_text(timeline_markdown(events), encoding="utf-8")
        rows += [{"instance_id": stream, **r} for r in timeline_rows(events)]
    df = pd.DataFrame(
        rows, columns=["instance_id", "seq", "at", "minutes", "type", "actor", "what"]
    )
    chart = plot_timelines(engine.events.instances(), folder / "timelines.png")
    latest = sorted(by_stream, key=lambda s: by_stream[s][-1].position)[-1:] if by_stream else []
    example = timeline_markdown(by_stream[latest[0]]) if latest else "no instances"
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "instances": len(by_stream),
            "folder": dg.MetadataValue.path(str(folder)),
            "chart": dg.MetadataValue.path(str(chart)) if chart else "none",
            "latest_timeline": dg.MetadataValue.md(example),
        },
    )


class ScorecardConfig(RenamedFields, dg.Config):
    """What a person's time on each step is worth."""

    manual_minutes: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in MANUAL_MINUTES.items()},
        description="minutes a person spends per step by hand, by process then step "
        "(`intake`: reading and checking the document, once per instance)",
    )


@dg.asset(
    name=SCORECARD,
    group_name=GROUP,
    tags=AFTER_APPROVAL,
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[INSTANCES, PAYMENTS],
)
def process_scorecard(
    config: ScorecardConfig, coordination: CoordinationResource
) -> dg.Output[pd.DataFrame]:
    """The processes' figures for the SLO scorecard, in its row shape (metric, value, goal,
    comparison, met, n, unit): cycle time p50/p95 against the process SLA, share finished
    within SLA, share automated with no person, manual time reduction and minutes saved."""
    engine = process_engine(coordination)
    figures = process_figures(engine.events.instances(), engine.definitions, config.manual_minutes)
    card = scorecard_rows(figures)
    return dg.Output(
        card,
        metadata={
            "row_count": len(card),
            "scorecard": dg.MetadataValue.md(
                card.to_markdown(index=False, floatfmt=".4g") if len(card) else "no instances"
            ),
            "figures": dg.MetadataValue.json(
                json.loads(json.dumps([f.to_dict() for f in figures], default=str))
            ),
        },
    )


business_process_assets = [
    invoice_intake,
    invoice_validation,
    onboarding_exceptions,
    process_instances,
    process_tasks,
    payment_export,
    process_timeline,
    process_scorecard,
]

__all__ = [
    "GROUP",
    "INSTANCES",
    "PAYMENTS",
    "QUARANTINE",
    "RECORDS",
    "VALIDATION",
    "VALIDATION_CHECK",
    "InvoiceIntakeConfig",
    "business_process_assets",
]
