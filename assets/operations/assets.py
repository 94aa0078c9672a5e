"""Operations: what the platform knows about its own runs (the start of the operations group).

run_metadata copies runs, steps, materialisations, check results and failures from the Dagster
instance into the warehouse (schema ``operations``), incrementally and idempotently.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from ml.health import COLUMNS
from ml.health import health_metrics as compute_health
from ml.slo import scorecard
from orchestration_project.operations.alerting import WarehouseAlertStore
from orchestration_project.operations.healing import CircuitBreakers, Healer, incidents_frame
from orchestration_project.operations.incident_report import write_pending_reports
from orchestration_project.operations.monitoring import evaluate_alerts
from orchestration_project.operations.run_metadata import SCHEMA, ingest
from resources.alerting import AlertingResource
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.warehouse import WAREHOUSE_POOL, Warehouse

GROUP = "operations"


@dg.asset(group_name=GROUP, kinds={"python", "duckdb"}, pool=WAREHOUSE_POOL)
def run_metadata(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Run metadata from the Dagster instance, in warehouse tables ``operations.runs``,
    ``steps``, ``materializations``, ``check_results`` and ``failures``.

    Incremental: a stored cursor (the last run update ingested) means a re-run with nothing new
    adds nothing; a run that changed is replaced as a whole, so nothing is ever duplicated.
    """
    result = ingest(context.instance, warehouse)
    return dg.MaterializeResult(
        metadata={
            "runs_ingested": result.runs,
            "events_read": result.events,
            "rows_by_table": dg.MetadataValue.json(result.rows),
            "cursor": result.cursor or 0.0,
            "seconds": round(result.seconds, 3),
            "schema": SCHEMA,
        }
    )


def events_from_warehouse(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Event frames (at, entity, ok, latency_s, cost_usd) per dimension (job, asset, agent,
    route), from the operations tables and the domains' agent tables that exist."""
    out: dict[str, pd.DataFrame] = {}
    if warehouse.table_exists("runs", schema=SCHEMA):
        runs = warehouse.read_table("runs", schema=SCHEMA)
        runs = runs[runs["status"].isin(["SUCCESS", "FAILURE", "CANCELED"])]
        out["job"] = pd.DataFrame(
            {
                "at": runs["ended_at"],
                "entity": runs["job_name"],
                "ok": runs["status"] == "SUCCESS",
                "latency_s": runs["duration_s"],
            }
        )
    if warehouse.table_exists("steps", schema=SCHEMA):
        steps = warehouse.read_table("steps", schema=SCHEMA)
        steps = steps[steps["status"].isin(["SUCCESS", "FAILURE"])]
        out["asset"] = pd.DataFrame(
            {
                "at": steps["ended_at"],
                "entity": steps["step_key"],
                "ok": steps["status"] == "SUCCESS",
                "latency_s": steps["duration_s"],
            }
        )
    # Agent actions and fetch attempts of every domain, consolidated by run_metadata into
    # operations.* (before the first ingestion: the market research tables themselves).
    agent_schema = SCHEMA if warehouse.table_exists("agent_actions", schema=SCHEMA) else None
    agent_schema = agent_schema or (
        "market_research"
        if warehouse.table_exists("agent_actions", schema="market_research")
        else None
    )
    fetch_schema = SCHEMA if warehouse.table_exists("fetch_attempts", schema=SCHEMA) else None
    fetch_schema = fetch_schema or (
        "market_research"
        if warehouse.table_exists("fetch_attempts", schema="market_research")
        else None
    )
    if agent_schema:
        acts = warehouse.read_table("agent_actions", schema=agent_schema)
        out["agent"] = pd.DataFrame(
            {
                "at": acts["started_at"],
                "entity": acts["role"],
                "ok": ~acts["outcome"].astype(str).str.startswith("error"),
                "latency_s": acts["duration_s"],
                "cost_usd": acts["cost_usd"],
            }
        )
    if fetch_schema:
        att = warehouse.read_table("fetch_attempts", schema=fetch_schema)
        out["route"] = pd.DataFrame(
            {
                "at": att["attempted_at"],
                "entity": att["route"],
                "ok": att["outcome"] == "ok",
                "latency_s": att["latency_s"],
            }
        )
    return out


@dg.asset(group_name=GROUP, kinds={"python", "html"}, deps=[run_metadata])
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


def write_dashboard(df: pd.DataFrame, path: Path, *, now: datetime) -> Path:
    """A self-contained HTML page: success rate and p95 latency per entity (last 24 h)."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    day = df[(df["window"] == "24h") & (df["events"] > 0)]
    figures = []
    for metric, label in (("success_rate", "success rate"), ("latency_p95_s", "p95 latency (s)")):
        if day.empty:
            break
        dims = list(dict.fromkeys(day["dimension"]))
        fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.6), squeeze=False)
        for ax, dim in zip(axes[0], dims, strict=True):
            part = day[day["dimension"] == dim]
            ax.barh(part["entity"], part[metric].astype(float), color="#2a9d8f")
            ax.set_title(f"{dim}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
            if metric == "success_rate":
                ax.set_xlim(0, 1)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        figures.append(base64.b64encode(buf.getvalue()).decode())
    table = (
        day.drop(columns=["last_success_at"]).to_html(index=False, float_format="%.3g", na_rep="")
        if len(day)
        else ""
    )
    imgs = "".join(f'<img alt="chart" src="data:image/png;base64,{f}">' for f in figures)
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Platform health</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{"
        "border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        f"<h1>Platform health</h1><p>Last 24 hours, as of {now:%Y-%m-%d %H:%M} UTC.</p>"
        f"{imgs or '<p>No events yet.</p>'}{table}</body></html>",
        encoding="utf-8",
    )
    return path


def _png(fig: Any) -> str:
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def scorecard_charts(card: pd.DataFrame, incidents: pd.DataFrame) -> list[str]:
    """Base64 PNG charts: each figure against its goal; time to detect and to recover;
    incidents by root-cause class and outcome."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts = []
    fig, ax = plt.subplots(figsize=(7, 3.2))
    labels, ratios, colours, notes = [], [], [], []
    for r in card.itertuples():
        if r.value != r.value:  # NaN: nothing measured
            continue
        if r.comparison == ">=":  # higher is better: shortfall from 1.0 scaled to the budget
            ratio = (1 - r.value) / max(1 - r.goal, 1e-9)
        else:
            ratio = r.value / r.goal if r.goal else 0.0
        labels.append(r.metric)
        ratios.append(min(ratio, 3.0))  # drawn up to 3x the budget; the label has the value
        colours.append("#2a9d8f" if r.met else "#e76f51")
        notes.append(f"{r.value:.4g}{r.unit or ''} (goal {r.comparison} {r.goal:g}{r.unit or ''})")
    bars = ax.barh(labels, ratios, color=colours)
    for bar, note in zip(bars, notes, strict=True):
        ax.annotate(
            note,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.axvline(1.0, color="#333", linestyle="--", linewidth=1)
    ax.set_xlim(0, 4.2 if any(x > 1.0 for x in ratios) else 1.6)
    ax.set_xlabel("share of the budget used (1.0 = at the goal; left is better)")
    ax.tick_params(labelsize=8)
    ax.invert_yaxis()
    charts.append(_png(fig))
    failures = incidents[incidents["source"] == "run_failure"] if len(incidents) else incidents
    if len(failures):
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
        axes[0].hist(failures["ttd_s"].dropna(), bins=20, color="#264653")
        axes[0].set_title("time to detect (s)", fontsize=9)
        axes[1].hist(failures["ttr_s"].dropna(), bins=20, color="#2a9d8f")
        axes[1].set_title("time to recover (s)", fontsize=9)
        counts = failures.groupby(["failure_class", "status"]).size().unstack(fill_value=0)
        counts.plot.barh(stacked=True, ax=axes[2], fontsize=8)
        axes[2].set_title("incidents by root-cause class", fontsize=9)
        axes[2].legend(fontsize=7)
        charts.append(_png(fig))
    return charts


def write_scorecard(card: pd.DataFrame, incidents: pd.DataFrame, path: Path) -> Path:
    """The SLO scorecard as a self-contained HTML page with charts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    imgs = "".join(
        f'<img alt="chart" src="data:image/png;base64,{c}">'
        for c in scorecard_charts(card, incidents)
    )
    table = card.to_html(index=False, float_format="%.4g", na_rep="n/a")
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>SLO scorecard</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{"
        "border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "img{max-width:100%;display:block;margin:1em 0}</style></head><body>"
        f"<h1>SLO scorecard</h1><p>As of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>"
        f"{table}{imgs}</body></html>",
        encoding="utf-8",
    )
    return path


@dg.asset(group_name=GROUP, kinds={"python"}, pool=WAREHOUSE_POOL)
def alerts(
    context: dg.AssetExecutionContext,
    health_metrics: pd.DataFrame,
    warehouse: Warehouse,
    alerting: AlertingResource,
    coordination: CoordinationResource,
) -> dg.MaterializeResult:
    """Alerts from threshold, SLO burn-rate and anomaly rules over the health metrics and run
    events, deduplicated, grouped and cooled down, delivered to the configured sinks (log,
    file, webhook, Slack). Critical alerts open incidents; every alert is later judged true
    (a failure incident confirms it) or false, in table ``operations.alerts``."""
    now = datetime.now(UTC)
    manager = alerting.manager(WarehouseAlertStore(warehouse))
    healer = Healer(coordination.store())
    outcome = evaluate_alerts(
        events=events_from_warehouse(warehouse),
        health=health_metrics,
        manager=manager,
        healer=healer,
        now=now,
        deliver=lambda notes: alerting.deliver(notes, logger=context.log),
    )
    fp = manager.false_positive_rate()
    firing = [r for r in manager.store.records() if r.status == "firing"]
    return dg.MaterializeResult(
        metadata={
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
        }
    )


@dg.asset(group_name=GROUP, kinds={"python", "html"}, deps=[run_metadata, alerts])
def incidents(
    context: dg.AssetExecutionContext, coordination: CoordinationResource, reports_dir: ReportsDir
) -> dg.Output[pd.DataFrame]:
    """Every incident with its root-cause class, status, time to detect and time to recover,
    plus a post-incident report (timeline, TTD, TTR, actions) for each closed incident and the
    state of every circuit breaker."""
    healer = Healer(coordination.store())
    healer.check_recoveries(context.instance)
    folder = reports_dir.folder("incidents")
    written = write_pending_reports(context.instance, healer, folder)
    df = incidents_frame(healer.incidents())
    breakers = CircuitBreakers(coordination.store()).all()
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
        },
    )


@dg.asset(group_name=GROUP, kinds={"python", "html"}, deps=[run_metadata])
def slo_scorecard(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    incidents: pd.DataFrame,
    reports_dir: ReportsDir,
) -> dg.Output[pd.DataFrame]:
    """The roadmap's promises, measured: workflow completion rate, mean time to detect, mean
    time to recover and alert false-positive rate against their goals, with charts
    (``reports/operations/scorecard.html``)."""
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


operations_assets = [run_metadata, health_metrics, alerts, incidents, slo_scorecard]
