"""The optimisation group: the fetch-route model trained on the platform's own fetch history,
tracked in MLflow, promoted from challenger to champion only on held-out evidence.

``route_training_set`` turns ``market_research.fetch_attempts`` into training rows (features
known before each decision, then its outcome); ``route_model_promotion`` trains a challenger on
the earlier rows, scores it and the current champion on the same later rows, logs the run
(parameters, metrics, the cost-quality curve, the training set's lineage, the model with its
signature), registers the challenger and moves ``route_success@champion`` to it only when it is
better by the stated margin. The decision and its evidence are the asset's row. Crawls load
``route_success@champion`` once per run as the bandit router's prior (see ``discovered_pages``).
"""

import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ml.route_success import FEATURES, evaluate, promotion_decision, training_set
from orchestration_project.evolution.compat import RenamedFields
from orchestration_project.optimization.costs import cost_report
from orchestration_project.optimization.route_model import (
    DEFAULT_COSTS,
    EXPERIMENT,
    MODEL_NAME,
    site_histories,
    train_challenger,
)
from resources.environment import ReportsDir
from resources.tracking import MlflowTracking
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema

GROUP = "optimization"
TRAINING_SET = "route_training_set"
PROMOTION = "route_model_promotion"
COST_REPORT = "route_cost_report"


class RouteModelConfig(RenamedFields, dg.Config):
    """How the route model is trained and promoted."""

    held_out: float = Field(default=0.3, description="the later share of the history held out")
    margin: float = Field(
        default=0.01, description="log-loss improvement a challenger needs over the champion"
    )
    c: float = Field(default=1.0, description="inverse L2 regularisation of the regression")


def _attempts(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists("fetch_attempts", schema="market_research"):
        return pd.DataFrame()
    return warehouse.read_table("fetch_attempts", schema="market_research")


@dg.asset(
    name=TRAINING_SET,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    deps=[dg.AssetKey("fetch_attempts")],
    pool=WAREHOUSE_POOL,
    metadata=in_schema(GROUP),
)
def route_training_set(warehouse: Warehouse) -> dg.Output[pd.DataFrame]:
    """One row per fetch attempt that says something about its route: the route, the site, URL
    features and the route's history at that site as of that moment (features known before
    the decision), then the outcome (success, latency, cost). Built from
    ``market_research.fetch_attempts`` in time order; attempts about dead links or refused URLs
    are left out."""
    attempts = _attempts(warehouse)
    rows = training_set(attempts, DEFAULT_COSTS)
    by_route = (
        rows.groupby("route")["success"].agg(["count", "mean"]).round(3).reset_index()
        if len(rows)
        else pd.DataFrame(columns=["route", "count", "mean"])
    )
    return dg.Output(
        rows,
        metadata={
            "row_count": len(rows),
            "attempts_in": len(attempts),
            "left_out_uninformative": len(attempts) - len(rows),
            "sites": int(rows["site"].nunique()) if len(rows) else 0,
            "success_by_route": dg.MetadataValue.md(by_route.to_markdown(index=False)),
            "preview": dg.MetadataValue.md(
                rows.tail(10)[
                    ["attempted_at", "route", "site", "hist_rate", "success"]
                ].to_markdown(index=False)
                if len(rows)
                else "(no history yet)"
            ),
        },
    )


def _cost_quality_plot(model: object, test: pd.DataFrame, path: Path) -> list[dict[str, float]]:
    """Sweep a threshold on the model's P(HTTP succeeds) for the HTTP-routed held-out pages:
    below it a page goes to the browser (cost) instead; quality = expected pages fetched."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    http = test[test["route"] == "http"]
    points = []
    if len(http):
        p = model.predict_proba(http[FEATURES])[:, 1]  # type: ignore[attr-defined]
        ok = http["success"].to_numpy(dtype=float)
        browser_rate = float(test.loc[test["route"] == "browser", "success"].mean() or 0.9)
        for t in np.linspace(0, 1, 21):
            to_browser = p < t
            cost = float(
                (np.where(to_browser, DEFAULT_COSTS["browser"], DEFAULT_COSTS["http"])).mean()
            )
            quality = float(np.where(to_browser, browser_rate, ok).mean())
            points.append({"threshold": float(t), "cost": cost, "quality": quality})
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if points:
        ax.plot([q["cost"] for q in points], [q["quality"] for q in points], marker="o")
    ax.set_xlabel("mean cost per page (HTTP = 1)")
    ax.set_ylabel("share of pages fetched")
    ax.set_title("route model: cost against quality (held out)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return points


@dg.asset(
    name=PROMOTION,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=in_schema(GROUP),
)
def route_model_promotion(
    context: dg.AssetExecutionContext,
    config: RouteModelConfig,
    route_training_set: pd.DataFrame,
    tracking: MlflowTracking,
) -> dg.Output[pd.DataFrame]:
    """The champion/challenger decision for the fetch-route model, with its evidence: a
    challenger trained on the earlier history is scored with the current
    ``route_success@champion`` on the same later rows, logged to MLflow (parameters, held-out
    metrics, the cost-quality curve, the training set's lineage, the model and its signature),
    registered as ``@challenger``, and made ``@champion`` only when its log loss is lower by
    the margin (or when there is no champion and it beats the per-route baseline)."""
    challenger, why_not = train_challenger(route_training_set, held_out=config.held_out, c=config.c)
    champion_version = tracking.alias_version(MODEL_NAME, "champion")
    champion_eval = None
    if challenger is not None and champion_version is not None:
        try:
            champ_model, _ = tracking.load_sklearn_model(MODEL_NAME)
            champion_eval = evaluate(champ_model, challenger.train, challenger.test)
        except Exception as exc:  # a broken champion is replaced by any sound challenger
            context.log.warning(f"champion v{champion_version} could not be scored: {exc}")
    promote, reason = promotion_decision(
        challenger.evaluation if challenger else None, champion_eval, margin=config.margin
    )
    if challenger is None:
        reason = f"{reason} ({why_not})"
    version = None
    lineage = context.instance.get_latest_materialization_event(dg.AssetKey(TRAINING_SET))
    if challenger is not None:
        model, ev, train, test = (
            challenger.model,
            challenger.evaluation,
            challenger.train,
            challenger.test,
        )
        import mlflow
        from mlflow.models import infer_signature

        with (
            tracking.start_run(
                experiment=EXPERIMENT,
                run_name=MODEL_NAME,
                dagster_run_id=context.run.run_id,
                tags={
                    "training_set.asset": TRAINING_SET,
                    "training_set.run_id": lineage.run_id if lineage else "",
                    "training_set.materialized_at": str(lineage.timestamp) if lineage else "",
                    "training_set.data_version": (
                        str(
                            (lineage.asset_materialization.tags or {}).get(
                                "dagster/data_version", ""
                            )
                        )
                        if lineage and lineage.asset_materialization
                        else ""
                    ),
                    "training_set.rows": str(len(route_training_set)),
                },
            ) as run,
            tempfile.TemporaryDirectory() as tmp,
        ):
            mlflow.log_params(
                {
                    "model": "logistic_regression",
                    "c": config.c,
                    "held_out": config.held_out,
                    "margin": config.margin,
                    "features": ",".join(FEATURES),
                    "train_rows": len(train),
                    "test_rows": len(test),
                }
            )
            mlflow.log_metrics({f"held_out_{k}": v for k, v in ev.as_dict().items()})
            if champion_eval is not None:
                mlflow.log_metrics({f"champion_{k}": v for k, v in champion_eval.as_dict().items()})
            plot = Path(tmp) / "cost_quality.png"
            curve = _cost_quality_plot(model, test, plot)
            mlflow.log_artifact(str(plot))
            mlflow.log_dict({"points": curve}, "cost_quality.json")
            sample = train[FEATURES].head(20)
            signature = infer_signature(sample, model.predict_proba(sample)[:, 1])
            version = tracking.log_sklearn_model(
                model,
                registered_name=MODEL_NAME,
                alias="challenger",
                config={
                    "features": FEATURES,
                    "costs": dict(DEFAULT_COSTS),
                    # each site's history as of training: what a crawl asks the model with
                    "histories": site_histories(
                        route_training_set.sort_values("attempted_at", kind="stable")
                    ),
                    # the drift sensor judges the model on attempts after this moment
                    "trained_until": str(route_training_set["attempted_at"].max()),
                    "held_out_error": 1.0 - ev.accuracy,
                },
                signature=signature,
            )
            mlflow.set_tag("promoted", str(promote))
            run_id = run.info.run_id
        if promote:
            tracking.set_alias(MODEL_NAME, "champion", version)
    decision = pd.DataFrame(
        [
            {
                "decided_at": pd.Timestamp.now(tz="UTC"),
                "challenger_version": version,
                "champion_before": champion_version,
                "champion_after": version if promote else champion_version,
                "promoted": bool(promote),
                "reason": reason,
                "challenger_log_loss": challenger.evaluation.log_loss if challenger else None,
                "champion_log_loss": champion_eval.log_loss if champion_eval else None,
                "baseline_log_loss": challenger.evaluation.baseline_log_loss
                if challenger
                else None,
                "challenger_auc": challenger.evaluation.auc if challenger else None,
                "held_out_rows": challenger.evaluation.n if challenger else 0,
                "margin": config.margin,
            }
        ]
    )
    context.log.info(f"route model: {'promoted' if promote else 'kept champion'}: {reason}")
    return dg.Output(
        decision,
        metadata={
            "promoted": bool(promote),
            "reason": reason,
            "challenger_version": version or "none",
            "champion_after": str(version if promote else champion_version),
            "mlflow_run_id": run_id if challenger is not None else "none",
            "evidence": dg.MetadataValue.md(
                decision.drop(columns=["decided_at"])
                .T.reset_index()
                .to_markdown(index=False, headers=["evidence", "value"])
            ),
        },
    )


@dg.asset(
    name=COST_REPORT,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    deps=[dg.AssetKey("fetch_attempts"), dg.AssetKey("extracted_facts")],
    pool=WAREHOUSE_POOL,
    metadata=in_schema(GROUP),
)
def route_cost_report(warehouse: Warehouse, reports_dir: ReportsDir) -> dg.Output[pd.DataFrame]:
    """What fetching cost per page, per accepted fact and per report, by route (HTTP = 1,
    browser = 4 per attempt, escalations and retries included) and by the router version that
    decided (in the metadata), and the saving against fetching every page
    once by the most expensive route, from the platform's own fetch history; with a chart
    (``reports/optimization/cost_report.png``)."""
    attempts = _attempts(warehouse)
    facts = (
        warehouse.read_table("extracted_facts", schema="market_research")
        if warehouse.table_exists("extracted_facts", schema="market_research")
        else pd.DataFrame(columns=["source_url"])
    )
    report = cost_report(attempts, facts, DEFAULT_COSTS)
    frame = report.by_route.assign(saving_vs_dearest=report.saving, total_cost=report.total_cost)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart = reports_dir.folder("optimization") / "cost_report.png"
    fig, ax = plt.subplots(figsize=(5, 3.2))
    shown = report.by_route.dropna(subset=["cost_per_fact"])
    ax.bar(shown["route"], shown["cost_per_fact"].astype(float), color=["#4c72b0", "#dd8452"])
    ax.set_ylabel("cost per accepted fact (HTTP fetch = 1)")
    ax.set_title(f"fetch cost by route; {report.saving:.0%} saved against the browser only")
    fig.tight_layout()
    fig.savefig(chart)
    plt.close(fig)
    return dg.Output(
        frame,
        metadata={
            "row_count": len(frame),
            "saving_vs_dearest_route": round(report.saving, 4),
            "total_cost": report.total_cost,
            "counterfactual_cost": report.counterfactual_cost,
            "accepted_facts": report.facts,
            "cost_per_fact": report.cost_per_fact if report.cost_per_fact is not None else "n/a",
            "by_route": dg.MetadataValue.md(report.by_route.round(3).to_markdown(index=False)),
            "by_router_version": dg.MetadataValue.md(
                report.by_router.round(3).to_markdown(index=False)
            ),
            "reports": report.reports,
            "cost_per_report": report.cost_per_report
            if report.cost_per_report is not None
            else "n/a",
            "chart": dg.MetadataValue.path(str(chart)),
        },
    )


optimization_assets = [route_training_set, route_model_promotion, route_cost_report]

__all__ = [
    "COST_REPORT",
    "GROUP",
    "PROMOTION",
    "TRAINING_SET",
    "RouteModelConfig",
    "optimization_assets",
    "route_cost_report",
    "route_model_promotion",
    "route_training_set",
]
