"""Operations: what the platform knows about its own runs (the start of the operations group).

run_metadata copies runs, steps, materialisations, check results and failures from the Dagster
instance into the warehouse (schema ``operations``), incrementally and idempotently.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from ml.health import COLUMNS
from ml.health import health_metrics as compute_health
from orchestration_project.run_metadata import SCHEMA, ingest
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


def _events_from_warehouse(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Event frames (at, entity, ok, latency_s, cost_usd) per dimension, from what exists."""
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
    if warehouse.table_exists("agent_actions", schema="market_research"):
        acts = warehouse.read_table("agent_actions", schema="market_research")
        out["agent"] = pd.DataFrame(
            {
                "at": acts["started_at"],
                "entity": acts["role"],
                "ok": ~acts["outcome"].astype(str).str.startswith("error"),
                "latency_s": acts["duration_s"],
                "cost_usd": acts["cost_usd"],
            }
        )
    if warehouse.table_exists("fetch_attempts", schema="market_research"):
        att = warehouse.read_table("fetch_attempts", schema="market_research")
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
        for dim, ev in _events_from_warehouse(warehouse).items()
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


operations_assets = [run_metadata, health_metrics]
