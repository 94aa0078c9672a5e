"""Operations: what the platform knows about its own runs, and what it does about them.

operations/runs, steps, materializations, check_results, failures, agent_actions and
fetch_attempts (one ingestion step, ``run_metadata``) → health_metrics → alerts (and
operations/alert_evaluations) → incidents (and operations/overrides) → slo_scorecard. Every table lives in schema
``operations``.
"""

import json
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from ml.health import COLUMNS
from ml.health import health_metrics as compute_health
from ml.slo import scorecard
from orchestration_project.operations.alerting import WarehouseAlertStore
from orchestration_project.operations.dashboards import write_dashboard, write_scorecard
from orchestration_project.operations.events import events_from_warehouse, silent_retries
from orchestration_project.operations.healing import (
    CircuitBreakers,
    Healer,
    incidents_frame,
    overrides_markdown,
)
from orchestration_project.operations.incident_report import write_pending_reports
from orchestration_project.operations.monitoring import evaluate_alerts
from orchestration_project.operations.run_metadata import SCHEMA, ingest
from resources.alerting import AlertingResource
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema, report_side_table

GROUP = "operations"


TABLE = in_schema(SCHEMA)
RUN_TABLES = {
    "runs": "One row per run: job, status, start, end, duration, tags, root run (clock-skew "
    "flagged).",
    "steps": "One row per step of every run: status, start, end, duration, attempts.",
    "materializations": "Every asset materialization of every run, with its metadata.",
    "check_results": "Every asset-check evaluation: asset, check, passed, severity, run.",
    "failures": "Every failed step and run with its error class (transient network, timeout, "
    "resource exhaustion, bad input, upstream data, code error) and message.",
    "agent_actions": "Every domain's agent actions (tool calls, decisions, messages) in one "
    "table, with a domain column.",
    "fetch_attempts": "Every domain's fetch attempts (URL, route, outcome, latency) in one "
    "table, with a domain column.",
}
RUN_TABLE_KEYS = {name: dg.AssetKey([SCHEMA, name]) for name in RUN_TABLES}


@dg.multi_asset(
    name="run_metadata",
    group_name=GROUP,
    specs=[
        dg.AssetSpec(key, description=RUN_TABLES[name], kinds={"python", "duckdb"}, metadata=TABLE)
        for name, key in RUN_TABLE_KEYS.items()
    ],
    pool=WAREHOUSE_POOL,
)
def run_metadata(context: dg.AssetExecutionContext, warehouse: Warehouse):
    """Run metadata from the Dagster instance, and every domain's agent actions and fetch
    attempts, into the ``operations`` tables.

    Incremental: a stored cursor (the last run update ingested, table
    ``operations.ingest_cursor``) means a re-run with nothing new adds nothing; a run that
    changed is replaced as a whole, so nothing is ever duplicated.
    """
    result = ingest(context.instance, warehouse)
    common = {
        "runs_ingested": result.runs,
        "events_read": result.events,
        "cursor": result.cursor or 0.0,
        "seconds": round(result.seconds, 3),
    }
    for name, key in RUN_TABLE_KEYS.items():
        total = warehouse.row_count(name, schema=SCHEMA)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={
                **common,
                "rows_written": int(result.rows.get(name, 0)),
                "dagster/row_count": total,
                "dagster/table_name": f"{SCHEMA}.{name}",
            },
        )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "html", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[RUN_TABLE_KEYS[t] for t in ("runs", "steps", "agent_actions", "fetch_attempts")],
)
def health_metrics(
    context: dg.AssetExecutionContext, warehouse: Warehouse, reports_dir: ReportsDir
) -> dg.Output[pd.DataFrame]:
    """Health per job, asset, agent and route over the last hour, day and week: success and
    error rates, latency percentiles, throughput, cost and freshness — with an HTML dashboard
    of charts (``reports/operations/health.html``)."""
    now = datetime.now(UTC)
    frames = [
        compute_health(ev, dimension=dim, now=now)
        for dim, ev in events_from_warehouse(warehouse).items()
    ]
    df = pd.concat(
        [f for f in frames if not f.empty] or [pd.DataFrame(columns=COLUMNS)], ignore_index=True
    )
    html_path = write_dashboard(df, reports_dir.folder("operations") / "health.html", now=now)
    day = df[df["window"] == "24h"]
    return dg.Output(
        df,
        metadata={
            "rows": len(df),
            "entities": int(df["entity"].nunique()) if len(df) else 0,
            "dashboard": dg.MetadataValue.path(str(html_path)),
            "last_24h": dg.MetadataValue.md(
                day[
                    [
                        "dimension",
                        "entity",
                        "events",
                        "success_rate",
                        "latency_p95_s",
                        "freshness_s",
                    ]
                ].to_markdown(index=False, floatfmt=".3g")
                if len(day)
                else "(no events)"
            ),
        },
    )


ALERT_EVALUATIONS_KEY = dg.AssetKey([SCHEMA, "alert_evaluations"])


@dg.multi_asset(
    name="alerts",
    group_name=GROUP,
    specs=[
        dg.AssetSpec(
            "alerts",
            kinds={"python", "duckdb"},
            metadata=TABLE,
            deps=["health_metrics", RUN_TABLE_KEYS["runs"], RUN_TABLE_KEYS["failures"]],
            description="Every alert episode: rule, subject, severity, first and last firing, "
            "status, deliveries, and its verdict (true when an incident confirms it).",
        ),
        dg.AssetSpec(
            ALERT_EVALUATIONS_KEY,
            kinds={"duckdb"},
            metadata=TABLE,
            deps=["health_metrics"],
            description="One row per rule evaluation: when, how many alerts fired, notified.",
        ),
    ],
    pool=WAREHOUSE_POOL,
)
def alerts(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    alerting: AlertingResource,
    coordination: CoordinationResource,
):
    """Alerts from threshold, SLO burn-rate and anomaly rules over the health metrics and run
    events, deduplicated, grouped and cooled down, delivered to the configured sinks (log,
    file, webhook, Slack). Critical alerts open incidents; every alert is later judged true
    (a failure incident or a silent remedy — route switch, breaker trip, skipped source,
    quarantine spike, predicted-failure action, a step healed by its retry — confirms it) or
    false, in table ``operations.alerts``."""
    now = datetime.now(UTC)
    health_metrics = warehouse.read_table("health_metrics", schema=SCHEMA)
    manager = alerting.manager(WarehouseAlertStore(warehouse))
    healer = Healer(coordination.store())
    outcome = evaluate_alerts(
        events=events_from_warehouse(warehouse),
        health=health_metrics,
        manager=manager,
        healer=healer,
        now=now,
        deliver=lambda notes: alerting.deliver(notes, logger=context.log),
        silent=silent_retries(warehouse),
    )
    fp = manager.false_positive_rate()
    firing = [r for r in manager.store.records() if r.status == "firing"]
    yield dg.MaterializeResult(
        asset_key="alerts",
        metadata={
            "dagster/row_count": len(manager.store.records()),
            "alerts_evaluated": outcome.alerts,
            "notifications": len(outcome.notifications),
            "firing": len(firing),
            "firing_now": dg.MetadataValue.md(
                "\n".join(
                    f"- **{r.severity}** {r.subject_kind} `{r.subject}`: {r.rule}"
                    for r in firing[:20]
                )
                or "(none)"
            ),
            "deliveries_failed": sum(1 for d in outcome.deliveries if not d.ok),
            "incidents_opened": dg.MetadataValue.json(outcome.incidents_opened),
            "false_positive_rate": fp.rate if fp.rate == fp.rate else 0.0,
            "alerts_judged": fp.true + fp.false,
        },
    )
    evaluations = warehouse.row_count("alert_evaluations", schema=SCHEMA)
    yield dg.MaterializeResult(
        asset_key=ALERT_EVALUATIONS_KEY, metadata={"dagster/row_count": evaluations}
    )


OVERRIDES_KEY = dg.AssetKey([SCHEMA, "overrides"])  # the side table of the incidents asset


@dg.asset(
    group_name=GROUP,
    kinds={"python", "html", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=["alerts", RUN_TABLE_KEYS["failures"], RUN_TABLE_KEYS["check_results"]],
)
def incidents(
    context: dg.AssetExecutionContext,
    coordination: CoordinationResource,
    reports_dir: ReportsDir,
    warehouse: Warehouse,
) -> dg.Output[pd.DataFrame]:
    """Every incident with its root-cause class, status, time to detect and time to recover,
    plus a post-incident report (timeline, TTD, TTR, actions) for each closed incident, the
    state of every circuit breaker and every override a remedy set (lowered concurrency, open
    breakers, switched routes, skipped sources: the active ones in the metadata, the whole
    history in ``operations.overrides``)."""
    healer = Healer(coordination.store())
    healer.check_recoveries(context.instance)  # also applies the overrides' recovery rules
    folder = reports_dir.folder("incidents")
    written = write_pending_reports(context.instance, healer, folder)
    df = incidents_frame(healer.incidents())
    breakers = CircuitBreakers(coordination.store()).all()
    overrides = healer.overrides.all()
    active = overrides[overrides["status"] == "active"]
    history = overrides.assign(
        **{c: overrides[c].map(json.dumps) for c in ("value", "baseline", "rule")}
    )
    warehouse.write_table(OVERRIDES_KEY.path[-1], history, schema=SCHEMA)
    report_side_table(context, warehouse, OVERRIDES_KEY, history, schema=SCHEMA, active=len(active))
    latest = df.sort_values("failure_at").tail(10) if len(df) else df
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "by_status": dg.MetadataValue.json(df["status"].value_counts().to_dict()),
            "by_class": dg.MetadataValue.json(
                df["failure_class"].fillna("alert").value_counts().to_dict()
            ),
            "reports_written": written,
            "reports_folder": dg.MetadataValue.path(str(folder)),
            "latest": dg.MetadataValue.md(
                latest[
                    ["incident_id", "subject", "failure_class", "status", "ttd_s", "ttr_s"]
                ].to_markdown(index=False, floatfmt=".3g")
                if len(latest)
                else "(no incidents)"
            ),
            "circuit_breakers": dg.MetadataValue.md(
                breakers[["name", "state", "failures"]].to_markdown(index=False)
                if len(breakers)
                else "(none)"
            ),
            "active_overrides": dg.MetadataValue.md(overrides_markdown(active)),
            "overrides_active": len(active),
            "overrides_changed_now": dg.MetadataValue.json(
                json.loads(json.dumps(healer.override_changes, default=str))
            ),
        },
    )


overrides_side_table = dg.AssetSpec(
    OVERRIDES_KEY,
    group_name=GROUP,
    deps=[incidents],
    kinds={"duckdb"},
    metadata=TABLE,
    description="Every override a remedy set (lowered concurrency, open breaker, switched route, "
    "skipped source): value, baseline, recovery rule, expiry, and how and why it ended.",
)


@dg.asset(
    group_name=GROUP,
    kinds={"python", "html", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=[RUN_TABLE_KEYS["runs"], "alerts", "process_scorecard"],
)
def slo_scorecard(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    incidents: pd.DataFrame,
    reports_dir: ReportsDir,
) -> dg.Output[pd.DataFrame]:
    """The roadmap's promises, measured: workflow completion rate, mean time to detect, mean
    time to recover and alert false-positive rate against their goals, with charts
    (``reports/operations/scorecard.html``); with the business processes' figures (cycle time
    p50/p95, share within SLA, share automated, manual minutes saved) when they exist."""
    runs = (
        warehouse.read_table("runs", schema=SCHEMA)
        if warehouse.table_exists("runs", schema=SCHEMA)
        else pd.DataFrame(columns=["run_id", "job_name", "status", "root_run_id", "tags"])
    )
    alerts = (
        warehouse.read_table("alerts", schema=SCHEMA)
        if warehouse.table_exists("alerts", schema=SCHEMA)
        else pd.DataFrame({"verdict": pd.Series([], dtype="boolean")})
    )
    for col in ("ttd_s", "ttr_s"):
        incidents[col] = pd.to_numeric(incidents.get(col), errors="coerce")
    remediating = (
        set(
            incidents.loc[incidents["status"].isin(["open", "remediating"]), "root_run_id"].dropna()
        )
        if len(incidents)
        else set()
    )
    card = scorecard(runs, incidents, alerts, still_remediating=remediating)
    if warehouse.table_exists("process_scorecard", schema="business_processes"):
        processes = warehouse.read_table("process_scorecard", schema="business_processes")
        card = pd.concat([card, processes[list(card.columns)]], ignore_index=True)
    path = write_scorecard(card, incidents, reports_dir.folder("operations") / "scorecard.html")
    return dg.Output(
        card,
        metadata={
            "scorecard": dg.MetadataValue.md(card.to_markdown(index=False, floatfmt=".4g")),
            "goals_met": int(card["met"].eq(True).sum()),
            "goals": len(card),
            "report": dg.MetadataValue.path(str(path)),
        },
    )


operations_assets = [
    run_metadata,
    health_metrics,
    alerts,
    incidents,
    overrides_side_table,
    slo_scorecard,
]
