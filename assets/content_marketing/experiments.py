"""The experiment assets of the content-marketing group: each brief-on-a-channel experiment
read from the site's events, analysed (sequential tests, Bayesian chance to win, sample-ratio
check, guardrail), logged to MLflow, plotted; and the strategy each experiment's content uses
from now on. Locally the visitors are SIMULATED by the demo world, and every table, plot and
MLflow run says so."""

import json
import zlib
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from ml.experiments import Decision
from orchestration_project.content_marketing.experiments import (
    ROUTER_VERSION,
    Analysis,
    analyse,
    choose_strategy,
)
from orchestration_project.evolution.compat import RenamedFields
from resources.content import SiteEngagement
from resources.environment import ReportsDir, png_markdown
from resources.tracking import MlflowTracking
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema

GROUP = "content_marketing"
RESULTS = "experiment_results"
PROMOTED = "promoted_strategy"
EVENTS = "experiment_events"
MLFLOW_EXPERIMENT = "content_experiments"
TABLE = in_schema(GROUP)


class ExperimentConfig(RenamedFields, dg.Config):
    """How experiments are read and decided."""

    alpha: float = Field(default=0.05, description="significance level")
    planned_units: int = Field(
        default=20000, description="planned units per experiment (the sequential test's tuning)"
    )
    min_effect: float = Field(default=0.0, description="smallest relative lift worth switching")
    value_per_click: float = Field(default=1.0, description="worth of one click, in USD")
    llm_cost_per_exposure: float = Field(
        default=0.0005, description="the llm strategy's cost per exposure, in USD"
    )


def _plot(analyses: list, path: Path, simulated: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(1, len(analyses))
    cols = min(n, 3)  # a grid, so that the UI's Markdown view shows every panel
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, a in zip(axes.flat, analyses, strict=False):
        arms = a.arms
        rate = arms["click_rate"].astype(float) * 100
        err = []
        for _, r in arms.iterrows():  # normal-approximation 95 % interval of each arm's rate
            n_units = max(1, int(r["units"]))
            p = float(r["click_rate"])
            err.append(196 * (p * (1 - p) / n_units) ** 0.5)
        colors = ["#999999"] + ["#4c72b0"] * (len(arms) - 1)
        if a.decision.winner:
            colors = [
                "#2ca02c" if v == a.decision.winner else c
                for v, c in zip(arms["variant"], colors, strict=True)
            ]
        ax.bar(arms["strategy"], rate, yerr=err, color=colors, capsize=4)
        ax.set_title(a.experiment.replace("--", "\n"), fontsize=8)
        ax.set_ylabel("click rate, % (95 % CI)")
        ax.tick_params(axis="x", labelsize=7, rotation=20)
    title = "content strategies: click rate per variant (green: winner)"
    fig.suptitle(title + ("  — SIMULATED visitors" if simulated else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@dg.multi_asset(
    group_name=GROUP,
    outs={
        RESULTS: dg.AssetOut(
            description="Per experiment and variant: units, clicks, click rate, unsubscribes "
            "(the guardrail), relative effect against the control with its always-valid "
            "interval and p-value, Bayesian chance to win, the sample-ratio check and the "
            "decision. Locally the visitors are SIMULATED (column `simulated`).",
            metadata=TABLE,
            kinds={"python", "mlflow", "duckdb"},
        ),
        EVENTS: dg.AssetOut(
            description="Every exposure, click and unsubscribe of every experiment, from the "
            "site's events API (SIMULATED visitors locally).",
            metadata=TABLE,
            kinds={"python", "duckdb"},
        ),
    },
    deps=[dg.AssetKey("published_content")],
    pool=WAREHOUSE_POOL,
)
def experiment_results(
    context: dg.AssetExecutionContext,
    config: ExperimentConfig,
    warehouse: Warehouse,
    engagement: SiteEngagement,
    tracking: MlflowTracking,
    reports_dir: ReportsDir,
):
    """Every content experiment read and analysed, each analysis logged to MLflow
    (``content_experiments``), with a chart of the click rates
    (``reports/content/experiments.png``)."""
    import mlflow

    published = warehouse.read_table("published_content", schema=GROUP)
    published = published[published["error"] == ""]
    analyses, rows, all_events = [], [], []
    for experiment, group in published.groupby("experiment", sort=True):
        variants = sorted(group["variant"].unique())
        events = engagement.collect(experiment, round_id=context.run_id[:8])
        all_events.append(events.assign(experiment=experiment))
        a = analyse(
            experiment,
            events,
            variants,
            alpha=config.alpha,
            planned_units=config.planned_units,
            min_effect=config.min_effect,
        )
        analyses.append(a)
        with tracking.start_run(
            experiment=MLFLOW_EXPERIMENT,
            run_name=experiment,
            dagster_run_id=context.run_id,
            tags={"simulated": str(engagement.simulated).lower(), "experiment": experiment},
        ):
            mlflow.log_params(
                {
                    "alpha": config.alpha,
                    "planned_units": config.planned_units,
                    "variants": ",".join(variants),
                    "test": "sequential, relative",
                    "guardrail": "unsubscribe_rate",
                }
            )
            for _, r in a.arms.iterrows():
                mlflow.log_metrics(
                    {
                        f"{r['strategy']}.units": float(r["units"]),
                        f"{r['strategy']}.click_rate": float(r["click_rate"]),
                        **(
                            {
                                f"{r['strategy']}.p_value": float(r["p_value"]),
                                f"{r['strategy']}.chance_to_win": float(r["chance_to_win"]),
                            }
                            if pd.notna(r.get("p_value"))
                            else {}
                        ),
                    }
                )
            mlflow.log_metric("srm_p_value", a.srm_p_value)
            mlflow.log_dict(
                {"winner": a.decision.winner, "reason": a.decision.reason}, "decision.json"
            )
        rows.append(
            a.arms.assign(
                experiment=experiment,
                srm_p_value=a.srm_p_value,
                winner=a.decision.winner or "",
                decision=a.decision.reason,
                simulated=engagement.simulated,
            )
        )
    results = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    events = pd.concat(all_events, ignore_index=True) if all_events else pd.DataFrame()
    chart = _plot(analyses, reports_dir.folder("content") / "experiments.png", engagement.simulated)
    label = "SIMULATED visitors" if engagement.simulated else "real visitors"
    yield dg.Output(
        results,
        output_name=RESULTS,
        metadata={
            "row_count": len(results),
            "experiments": len(analyses),
            "winners": sum(a.decision.winner is not None for a in analyses),
            "visitors": label,
            "results": dg.MetadataValue.md(
                results.drop(columns=["decision"]).round(4).to_markdown(index=False)
                if len(results)
                else "no experiments"
            ),
            "decisions": dg.MetadataValue.json({a.experiment: a.decision.reason for a in analyses}),
            "chart": dg.MetadataValue.path(str(chart)),
            "plot": png_markdown(chart, f"click rate per variant ({label})"),
        },
    )
    yield dg.Output(
        events, output_name=EVENTS, metadata={"row_count": len(events), "visitors": label}
    )


@dg.asset(
    name=PROMOTED,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=TABLE,
)
def promoted_strategy(
    context: dg.AssetExecutionContext,
    config: ExperimentConfig,
    experiment_results: pd.DataFrame,
) -> dg.Output[pd.DataFrame]:
    """The strategy each experiment's content uses by default from now on: the experiment's
    winner when the decision policy named one; otherwise the cost-aware Thompson-sampling
    router's pick over the strategies' click-rate posteriors (``content-strategy-ts-v1``; the
    LLM strategy pays its cost per exposure). Every row names who decided and why."""

    rows = []
    for experiment, arms in experiment_results.groupby("experiment", sort=True):
        winner = str(arms["winner"].iloc[0]) or None
        analysis = Analysis(
            experiment,
            arms.reset_index(drop=True),
            float(arms["srm_p_value"].iloc[0]),
            Decision(winner, str(arms["decision"].iloc[0])),
        )
        strategy, why = choose_strategy(
            analysis,
            costs={"llm": config.llm_cost_per_exposure},
            value_per_click=config.value_per_click,
            seed=zlib.crc32(f"{context.run_id}:{experiment}".encode()),
        )
        rows.append(
            {
                "experiment": experiment,
                "strategy": strategy,
                "decided_by": "experiment" if winner else ROUTER_VERSION,
                "reason": why,
                "simulated": bool(arms["simulated"].iloc[0]),
            }
        )
    df = pd.DataFrame(rows, columns=["experiment", "strategy", "decided_by", "reason", "simulated"])
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "by_strategy": dg.MetadataValue.json(df["strategy"].value_counts().to_dict()),
            "preview": dg.MetadataValue.md(df.to_markdown(index=False) if len(df) else "none"),
            "decisions": dg.MetadataValue.json(json.loads(df.to_json(orient="records"))),
        },
    )


experiment_assets = [experiment_results, promoted_strategy]

__all__ = ["PROMOTED", "RESULTS", "ExperimentConfig", "experiment_assets"]
