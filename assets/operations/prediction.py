"""Predictive failure detection: the model that warns before a source or the warehouse fails.

``failure_predictor`` records the degradation scenarios for real (a demo world served for the
step's duration, a DuckDB file locked by another process), trains the model of
``ml.failure_prediction`` on some seeds, evaluates it and the baseline rule on held-out seeds and
on each scenario kind held out in turn, and logs parameters, metrics and the model to MLflow
(``resources.tracking``), registering it as ``failure_predictor@champion``, which
``failure_prediction_sensor`` loads.
"""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from ml.failure_prediction import (
    FailurePredictor,
    FeatureConfig,
    held_out_report,
    predictor_from_config,
    train,
)
from orchestration_project.demo_world import start_demo_world
from orchestration_project.evolution.compat import RenamedFields
from orchestration_project.operations.faults import DEGRADATION_SCENARIOS
from orchestration_project.operations.prediction import STRUCTURED_ATTRIBUTES
from orchestration_project.operations.prediction_traces import ScenarioPlan, collect_traces
from orchestration_project.research.extraction import extract_page
from resources.tracking import MlflowTracking
from resources.warehouse import WAREHOUSE_POOL, in_schema

GROUP = "operations"
MODEL_NAME = "failure_predictor"
EXPERIMENT = "failure_prediction"


class FailurePredictorConfig(RenamedFields, dg.Config):
    """How the failure predictor is trained and evaluated."""

    train_seeds: list[int] = Field(default=[0, 1, 2, 3], description="Seeds of training traces.")
    test_seeds: list[int] = Field(default=[4, 5], description="Held-out seeds (evaluation).")
    kinds: list[str] = Field(
        default=list(DEGRADATION_SCENARIOS), description="Scenario kinds recorded."
    )
    ramp_s: float = Field(default=30.0, description="Nominal ramp of each scenario (s).")
    lead_in_s: float = Field(default=8.0, description="Quiet time before each scenario (s).")
    window_s: float = Field(default=8.0, description="Recent window of the features (s).")
    horizon_s: float = Field(default=12.0, description="Predict failures within this (s).")
    register_model: bool = Field(default=True, description="Register the model as champion.")


def structured_facts(html: str, url: str) -> int:
    """Prices and ratings extracted from a page (what the competitor matrix needs)."""
    attrs = STRUCTURED_ATTRIBUTES
    return sum(f.attribute in attrs for f in extract_page(html, url).facts)


def _report_frame(report: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = []
    for key, figures in report.items():
        evaluation, scorer = key.split("/")
        rows.append({"evaluation": evaluation, "scorer": scorer, **figures})
    return pd.DataFrame(rows)


@dg.asset(
    name=MODEL_NAME,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=in_schema(GROUP),
)
def failure_predictor(
    context: dg.AssetExecutionContext, config: FailurePredictorConfig, tracking: MlflowTracking
) -> dg.Output[pd.DataFrame]:
    """Held-out evaluation of the failure predictor (precision, recall, median lead time of
    its warnings, against the error-rate baseline), trained on recorded degradation scenarios;
    the model itself is registered in MLflow as ``failure_predictor@champion``."""
    cfg = FeatureConfig(window_s=config.window_s, horizon_s=config.horizon_s)
    plan = ScenarioPlan(lead_in_s=config.lead_in_s, ramp_s=config.ramp_s)
    seeds = sorted(set(config.train_seeds) | set(config.test_seeds))
    with start_demo_world("127.0.0.1", 0) as world, tempfile.TemporaryDirectory() as tmp:
        traces = collect_traces(
            world,
            Path(tmp),
            count_facts=structured_facts,
            seeds=seeds,
            kinds=config.kinds,
            plan=plan,
        )
    context.log.info(f"recorded {len(traces)} scenario traces")
    report = held_out_report(
        traces, train_seeds=config.train_seeds, test_seeds=config.test_seeds, cfg=cfg
    )
    model = train([t for t in traces if t.seed in set(config.train_seeds)], cfg)
    frame = _report_frame(report)
    with tracking.start_run(
        experiment=EXPERIMENT, run_name=MODEL_NAME, dagster_run_id=context.run.run_id
    ) as run:
        import mlflow

        mlflow.log_params(
            {
                **model.params(),
                "train_seeds": ",".join(map(str, config.train_seeds)),
                "test_seeds": ",".join(map(str, config.test_seeds)),
                "kinds": ",".join(config.kinds),
                "ramp_s": config.ramp_s,
            }
        )
        metrics = {
            f"{key.replace(':', '_')}/{name}": value
            for key, figures in report.items()
            for name, value in figures.items()
            if value == value  # MLflow rejects NaN
        }
        mlflow.log_metrics(metrics)
        version = (
            tracking.log_sklearn_model(
                model.pipeline, registered_name=MODEL_NAME, config=model.params()
            )
            if config.register_model
            else None
        )
    held = report["seeds/model"]
    base = report["seeds/baseline"]
    return dg.Output(
        frame,
        metadata={
            "row_count": len(frame),
            "held_out_precision": held["precision"],
            "held_out_recall": held["recall"],
            "held_out_median_lead_s": held["median_lead_s"],
            "baseline_precision": base["precision"],
            "baseline_recall": base["recall"],
            "traces": len(traces),
            "threshold": model.threshold,
            "mlflow_run_id": run.info.run_id,
            "model_version": version or "not registered",
            "evaluation": dg.MetadataValue.md(frame.round(3).to_markdown(index=False)),
        },
    )


def load_failure_predictor(tracking: MlflowTracking) -> FailurePredictor:
    """The registered ``failure_predictor@champion`` (raises when it cannot be loaded)."""
    pipeline, config = tracking.load_sklearn_model(MODEL_NAME)
    return predictor_from_config(pipeline, config)


prediction_assets = [failure_predictor]

__all__ = [
    "EXPERIMENT",
    "MODEL_NAME",
    "FailurePredictorConfig",
    "failure_predictor",
    "load_failure_predictor",
    "prediction_assets",
]
