"""The customer-onboarding group: a dropped customer file → validated records (the invalid ones
quarantined with the reason) → CRM accounts created by a browser agent filling the CRM's web
forms → welcome messages → each customer's onboarding status, and a review queue of those who
need a person."""

import json
import time
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.common.inbox import file_away, locate
from orchestration_project.common.quality import expectation, validate
from orchestration_project.customer_onboarding.intake import (
    REQUIRED,
    Catalogue,
    FileRejected,
    attach_contracts,
    read_customer_file,
    validate_records,
)
from orchestration_project.customer_onboarding.mapping import MAPPINGS_DIR, load_mapping
from orchestration_project.customer_onboarding.status import MANUAL_MINUTES, summarise
from orchestration_project.customer_onboarding.welcome import check_welcome, write_welcome
from orchestration_project.evolution.compat import RenamedFields
from resources.language import LanguageEngine
from resources.mcp_form_filling import RoutedFormFiller
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema

GROUP = "customer_onboarding"
RECORDS = "customer_records"
QUARANTINE = "customer_quarantine"
ACCOUNTS = "crm_accounts"
WELCOME = "welcome_messages"
STATUS = "onboarding_status"
REVIEW = "onboarding_review_queue"
RECORDS_VALID = "customer_records_valid"
FILE_READABLE = "customer_file_readable"
HISTORY = "account_history"  # every run's CRM outcomes, appended
TABLE = in_schema(GROUP)


class IntakeConfig(RenamedFields, dg.Config):
    """The customer file of this run (the inbox sensor fills it in)."""

    file: str = Field(description="path of the customer file (CSV, JSON or .xlsx)")
    max_rows: int = Field(default=10_000, description="rows per file; more: rejected, split it")
    max_bytes: int = Field(default=10_000_000, description="file size cap")


def _existing(warehouse: Warehouse) -> tuple[set[str], set[str]]:
    if not warehouse.table_exists(HISTORY, schema=GROUP):
        return set(), set()
    acc = warehouse.read_table(HISTORY, schema=GROUP)
    acc = acc[acc["status"].isin(["created", "exists"])]
    return set(acc["external_ref"].astype(str)), set(acc["email"].astype(str).str.lower())


@dg.multi_asset(
    group_name=GROUP,
    outs={
        RECORDS: dg.AssetOut(
            description="The valid customers of the dropped file, normalised (e-mail "
            "lowercased, phone in E.164, add-ons a list), each with its signed contract.",
            metadata=TABLE,
            kinds={"python", "great_expectations", "duckdb"},
        ),
        QUARANTINE: dg.AssetOut(
            description="Customers that cannot be onboarded as given, with every reason "
            "(records in = accepted + quarantined); a file that cannot be read is one row with "
            "the file's reason.",
            metadata=TABLE,
            kinds={"python", "duckdb"},
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(RECORDS_VALID, asset=RECORDS, blocking=True),
        dg.AssetCheckSpec(FILE_READABLE, asset=QUARANTINE),
    ],
    pool=WAREHOUSE_POOL,
)
def customer_intake(context: dg.AssetExecutionContext, config: IntakeConfig, warehouse: Warehouse):
    """Read the customer file, validate every record, quarantine the invalid ones with the
    reason, attach each customer's signed contract, and move the file to ``processed/`` (or,
    unreadable, to ``rejected/`` with a ``.reason.txt`` beside it)."""
    path = locate(Path(config.file))
    if path is None:
        raise FileNotFoundError(
            f"customer file {config.file} is not in the inbox nor in processed/"
        )
    catalogue = Catalogue.load()
    try:
        rows = read_customer_file(path, max_bytes=config.max_bytes, max_rows=config.max_rows)
    except FileRejected as exc:
        moved = file_away(path, "rejected", str(exc))
        context.log.warning(f"{path.name} rejected: {exc}")
        quarantine = pd.DataFrame([{"row": 0, "file": path.name, "reason": str(exc)}])
        yield dg.Output(
            pd.DataFrame(columns=["row", *REQUIRED]),
            output_name=RECORDS,
            metadata={"row_count": 0, "file": str(moved)},
        )
        yield dg.Output(
            quarantine, output_name=QUARANTINE, metadata={"row_count": 1, "file_rejected": str(exc)}
        )
        yield dg.AssetCheckResult(
            check_name=RECORDS_VALID, asset_key=RECORDS, passed=True, metadata={"rows": 0}
        )
        yield dg.AssetCheckResult(
            check_name=FILE_READABLE,
            asset_key=QUARANTINE,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"reason": str(exc), "moved_to": str(moved)},
        )
        return
    refs, emails = _existing(warehouse)
    accepted, quarantined = validate_records(
        rows, catalogue, existing_refs=refs, existing_emails=emails
    )
    accepted, no_contract = attach_contracts(accepted, path.parent)
    quarantined = pd.concat([quarantined, no_contract], ignore_index=True).assign(file=path.name)
    moved = file_away(path, "processed")
    assert len(accepted) + len(quarantined) == len(rows), "a record was lost"
    yield dg.Output(
        accepted,
        output_name=RECORDS,
        metadata={
            "row_count": len(accepted),
            "records_in": len(rows),
            "quarantined": len(quarantined),
            "file": str(moved),
            "preview": dg.MetadataValue.md(
                accepted.head(10).drop(columns=["contract_path"]).to_markdown(index=False)
                if len(accepted)
                else "none"
            ),
        },
    )
    yield dg.Output(
        quarantined,
        output_name=QUARANTINE,
        metadata={
            "row_count": len(quarantined),
            "reasons": dg.MetadataValue.md(
                quarantined[["row", "external_ref", "reason"]].head(20).to_markdown(index=False)
                if len(quarantined)
                else "none"
            ),
        },
    )
    yield validate(
        accepted,
        [
            *[expectation("ExpectColumnValuesToNotBeNull", column=c) for c in REQUIRED],
            expectation(
                "ExpectColumnValuesToMatchRegex",
                column="email",
                regex=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            ),
            expectation(
                "ExpectColumnValuesToBeInSet", column="plan", value_set=sorted(catalogue.plans)
            ),
            expectation(
                "ExpectColumnValuesToBeInSet",
                column="country",
                value_set=sorted(catalogue.countries),
            ),
            expectation("ExpectColumnValuesToBeUnique", column="external_ref"),
            expectation("ExpectColumnValuesToBeUnique", column="email"),
        ],
        asset_key=dg.AssetKey(RECORDS),
        check_name=RECORDS_VALID,
    )
    yield dg.AssetCheckResult(
        check_name=FILE_READABLE,
        asset_key=QUARANTINE,
        passed=True,
        metadata={"records_in": len(rows)},
    )


class AccountsConfig(RenamedFields, dg.Config):
    """Which form mapping drives the CRM."""

    mapping: str = Field(default="", description="form-mapping YAML; empty: the demo CRM's")


ACCOUNT_COLUMNS = [
    "external_ref",
    "email",
    "status",
    "account_id",
    "errors",
    "attempts",
    "duration_s",
    "screenshot",
    "notes",  # what the agent had to do: signed in again, found by the lookup, retried
]


@dg.asset(
    name=ACCOUNTS,
    group_name=GROUP,
    kinds={"python", "playwright", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=TABLE,
)
def crm_accounts(
    context: dg.AssetExecutionContext,
    config: AccountsConfig,
    customer_records: pd.DataFrame,
    form_filler: RoutedFormFiller,
    warehouse: Warehouse,
) -> dg.Output[pd.DataFrame]:
    """Each valid customer's CRM account, created by a browser agent filling the CRM's
    onboarding form (declarative YAML mapping, fields found by role and label) in parallel
    Chromium contexts behind the URL policy, by Playwright in process or through the Playwright
    MCP server's tools (``FORM_ROUTE``). A customer who already has an account is found by
    the CRM's lookup and never created twice; the CRM's own validation errors are read back
    per customer; transient failures are retried; a CRM that is down fails its customers with
    the reason, never the run. Every outcome is also appended to
    ``customer_onboarding.account_history``, which intake checks for existing accounts."""
    mapping = load_mapping(
        Path(config.mapping) if config.mapping else MAPPINGS_DIR / "demo_crm.yaml"
    )
    records = customer_records.to_dict("records")
    for r in records:
        r["addons"] = json.loads(r["addons"]) if isinstance(r["addons"], str) else r["addons"]
    recorder = ActionRecorder(context.run_id, context.log.info)
    t0 = time.perf_counter()
    results = form_filler.onboard(records, mapping, recorder=recorder) if records else []
    wall = time.perf_counter() - t0
    route = "mcp" if form_filler.last_route == "mcp" else "browser"
    agent = Agent(
        name="onboarder",
        role="account_creator",
        goal="Create each customer's CRM account",
        recorder=recorder,
    )
    email = {str(r["external_ref"]): str(r["email"]) for r in records}
    rows = []
    for res in results:
        agent.record(
            "tool_call",
            "crm_onboarding_form",
            inputs=res.external_ref,
            output=res.account_id or "; ".join(res.errors),
            duration_s=res.duration_s,
            outcome="ok" if res.status in ("created", "exists") else res.status,
            route=route,
            task_id=res.external_ref,
        )
        rows.append(
            {
                "external_ref": res.external_ref,
                "email": email.get(res.external_ref, ""),
                "status": res.status,
                "account_id": res.account_id or "",
                "errors": "; ".join(res.errors),
                "attempts": res.attempts,
                "duration_s": round(res.duration_s, 3),
                "screenshot": str(res.screenshot or ""),
                "notes": "; ".join(res.notes),
            }
        )
    df = pd.DataFrame(rows, columns=ACCOUNT_COLUMNS)
    if len(df):
        warehouse.write_table(
            # the history keeps its first schema: notes are for this run's table only
            HISTORY,
            df.drop(columns=["notes"]).assign(run_id=context.run_id),
            schema=GROUP,
            mode="append",
        )
    actions = recorder.to_frame()
    if not actions.empty:
        warehouse.write_table("agent_actions", actions, schema=GROUP, mode="append")
    counts = df["status"].value_counts().to_dict()
    per_min = 60 * len(df) / wall if wall > 0 and len(df) else 0.0
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "by_status": dg.MetadataValue.json(counts),
            "customers_per_minute": round(per_min, 1),
            "browser_contexts": form_filler.contexts,
            "form_route": form_filler.last_route or "none",
            "preview": dg.MetadataValue.md(
                df.drop(columns=["screenshot"]).head(20).to_markdown(index=False)
                if len(df)
                else "none"
            ),
        },
    )


@dg.asset(
    name=WELCOME,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=TABLE,
    check_specs=[dg.AssetCheckSpec("welcome_messages_complete", asset=WELCOME)],
)
def welcome_messages(
    customer_records: pd.DataFrame, crm_accounts: pd.DataFrame, language: LanguageEngine
):
    """A welcome message for every customer with an account, in their language, personalised
    by plan and industry, written by the language engine; checked for unfilled placeholders
    and for the customer's own name and plan."""
    accounts = crm_accounts[crm_accounts["status"].isin(["created", "exists"])]
    by_ref = {str(r["external_ref"]): r for r in customer_records.to_dict("records")}
    rows = []
    for _, acc in accounts.iterrows():
        customer = by_ref[str(acc["external_ref"])]
        lang, text, res = write_welcome(customer, str(acc["account_id"]), language)
        problems = check_welcome(text, customer)
        rows.append(
            {
                "external_ref": acc["external_ref"],
                "account_id": acc["account_id"],
                "language": lang,
                "plan": customer["plan"],
                "text": text,
                "model": getattr(res, "model", ""),
                "problems": "; ".join(problems),
            }
        )
    df = pd.DataFrame(
        rows,
        columns=["external_ref", "account_id", "language", "plan", "text", "model", "problems"],
    )
    bad = df[df["problems"] != ""]
    yield dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "languages": dg.MetadataValue.json(df["language"].value_counts().to_dict()),
            "example": dg.MetadataValue.md(df["text"].iloc[0] if len(df) else "none"),
        },
    )
    yield dg.AssetCheckResult(
        check_name="welcome_messages_complete",
        passed=bad.empty,
        metadata={"with_problems": len(bad)},
    )


class StatusConfig(RenamedFields, dg.Config):
    """What a person's time on each step is worth, in minutes."""

    manual_minutes: dict[str, float] = Field(
        default_factory=lambda: dict(MANUAL_MINUTES),
        description="minutes a person spends per step by hand",
    )


@dg.multi_asset(
    group_name=GROUP,
    outs={
        STATUS: dg.AssetOut(
            description="Each customer's onboarding stage and timings, and the human steps "
            "the automation took over.",
            metadata=TABLE,
            kinds={"python", "duckdb"},
        ),
        REVIEW: dg.AssetOut(
            description="Customers that need a person, with what is missing.",
            metadata=TABLE,
            kinds={"python", "duckdb"},
        ),
    },
    pool=WAREHOUSE_POOL,
)
def onboarding_status(
    config: StatusConfig,
    customer_quarantine: pd.DataFrame,
    crm_accounts: pd.DataFrame,
    welcome_messages: pd.DataFrame,
):
    """The stage of every customer of the file (quarantined, CRM rejected or failed, account
    ready, welcomed), the manual minutes avoided (by the configured minutes per step) and the
    share onboarded with no human step; the ones who need a person go to the review queue."""
    welcomed = {str(r["external_ref"]): r["problems"] for _, r in welcome_messages.iterrows()}
    rows = []
    for _, q in customer_quarantine.iterrows():
        rows.append(
            {
                "external_ref": str(q.get("external_ref") or f"row {q['row']}"),
                "stage": "quarantined",
                "missing": q["reason"],
                "seconds": 0.0,
            }
        )
    for _, a in crm_accounts.iterrows():
        ref = str(a["external_ref"])
        if a["status"] == "rejected":
            stage, missing = "crm_rejected", f"CRM refused: {a['errors']}"
        elif a["status"] in ("failed", "skipped"):
            stage, missing = "crm_failed", f"CRM unreachable or failing: {a['errors']}"
        elif ref in welcomed and not welcomed[ref]:
            stage, missing = "welcomed", ""
        elif ref in welcomed:
            stage, missing = "welcome_failed", f"welcome message: {welcomed[ref]}"
        else:
            stage, missing = "account_ready", "welcome message not written"
        rows.append(
            {
                "external_ref": ref,
                "stage": stage,
                "missing": missing,
                "seconds": float(a["duration_s"]),
            }
        )
    status = pd.DataFrame(rows, columns=["external_ref", "stage", "missing", "seconds"])
    summary = summarise(status, config.manual_minutes)
    review = status[status["stage"] != "welcomed"].reset_index(drop=True)
    yield dg.Output(
        status,
        output_name=STATUS,
        metadata={
            "row_count": len(status),
            "stages": dg.MetadataValue.json(status["stage"].value_counts().to_dict()),
            "automated_share": round(summary.automated_share, 4),
            "manual_time_reduction": round(summary.reduction, 4),
            "manual_minutes_avoided": summary.manual_minutes_by_hand - summary.manual_minutes_left,
            "needs_a_person": summary.needs_person,
        },
    )
    yield dg.Output(
        review,
        output_name=REVIEW,
        metadata={
            "row_count": len(review),
            "preview": dg.MetadataValue.md(
                review.head(20).to_markdown(index=False) if len(review) else "nobody"
            ),
        },
    )


onboarding_assets = [customer_intake, crm_accounts, welcome_messages, onboarding_status]

__all__ = ["ACCOUNTS", "GROUP", "RECORDS", "IntakeConfig", "onboarding_assets"]
