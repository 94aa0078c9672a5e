"""The language-engine tier router: routing history in the warehouse, a challenger trained on
it, tracked in MLflow and promoted to ``llm_router@champion`` only on held-out evidence.

``llm_routing_history`` loads the routing data (today RouteLLM's per-prompt outcomes of GPT-4
and Mixtral on MMLU, from ``../shared/benchmarks/routing``) into the warehouse, with the rows it
cannot use in ``llm_routing_quarantine`` (records in = accepted + quarantined).
``llm_router_promotion`` trains a challenger on the training subjects, scores it and the
current champion on the held-out subjects, logs the run (parameters, held-out metrics, the
cost-quality curve, the history's lineage, the model with its signature), registers the
challenger and moves ``llm_router@champion`` to it only when it is better by the margin.
Tiered language engines (:class:`resources.language.TieredLanguageEngine`) load the champion
once per run. The domain logic is :mod:`orchestration_project.optimization.llm_router`.

``llm_router_job`` runs both; it has no schedule: the history is a fixed benchmark today, so a
rerun trains the same model and is refused. Schedule it once the platform's own tier decisions
feed the history (the domain module's docstring says how). The job takes about a minute on
the full history with the default config (two cores, a new MLflow store included).

Figures of the default config (all 13,932 accepted prompts, 5 subject folds; held-out fold: 11
subjects, 3,088 prompts; weak 68.6 %, strong 86.3 % correct): APGR 0.652 against 0.592 for the
length rule, CPT(50 %) 30.7 %, CPT(80 %) 55.0 %; cross-validated on the training folds (each
fitted on three folds only) APGR 0.582 mean, 0.529 worst. Deciding at $0.05 per correct answer
with calls at $0.001 / $0.010: 6.7 % strong calls, 70.3 % accuracy, 84 % of the always-strong
cost saved. On small samples (a few thousand prompts) the learned router does not beat the
length rule on unseen subjects, and the promotion rule refuses it.
"""

import hashlib
import tempfile
import warnings
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from ml.routing import LengthRouter, decide, default_routing_dir
from orchestration_project.evolution.compat import RenamedFields
from orchestration_project.optimization.llm_router import (
    DATASET,
    DEFAULT_COSTS,
    DEFAULT_WILLINGNESS_TO_PAY,
    EXPERIMENT,
    LOADER_MODULE,
    MODEL_NAME,
    Challenger,
    HistoryLoad,
    RouterEvaluation,
    champion_overlap,
    cost_quality_figure,
    fit_length_rule,
    load_routing_history,
    promotion_decision,
    save_router,
    score_champion,
    train_challenger,
)
from resources.environment import png_markdown
from resources.executor import job_executor
from resources.tracking import MlflowTracking
from resources.warehouse import WAREHOUSE_POOL, in_schema

GROUP = "optimization"
HISTORY = "llm_routing_history"
QUARANTINE = "llm_routing_quarantine"
PROMOTION = "llm_router_promotion"


class RoutingHistoryConfig(RenamedFields, dg.Config):
    """Where the routing history is read from."""

    source_dir: str = Field(
        default="",
        description="The routing folder (holding <dataset>/*.csv and contaminated_prompts.jsonl); "
        "empty: $BENCHMARKS_DIR/routing, default ../shared/benchmarks/routing.",
    )
    dataset: str = Field(default=DATASET, description="Sub-folder with one CSV per subject.")


class LLMRouterConfig(RenamedFields, dg.Config):
    """How the tier router is trained, scored and promoted."""

    max_prompts: int = Field(
        default=0,
        description="Train and score on at most this many prompts (a stable hash sample); "
        "0: all of them.",
    )
    folds: int = Field(default=5, description="Subject folds; fold 0 is held out from every model.")
    cross_validate: bool = Field(
        default=True,
        description="Also score the recipe on each training fold, fitted on the others.",
    )
    inner_folds: int = Field(default=3, description="The router's inner (grouped) CV folds.")
    seed: int = Field(default=0, description="Seed of the inner folds and the boosting.")
    margin: float = Field(
        default=0.005, description="Held-out APGR a challenger must add over the champion."
    )
    willingness_to_pay: float = Field(
        default=DEFAULT_WILLINGNESS_TO_PAY,
        description="USD one more correct answer is worth, for the held-out decision figures.",
    )
    weak_cost_usd: float = Field(default=DEFAULT_COSTS[0], description="USD per weak call.")
    strong_cost_usd: float = Field(default=DEFAULT_COSTS[1], description="USD per strong call.")


def _content_version(df: pd.DataFrame) -> str:
    """A data version from the rows' content (the same rows give the same version)."""
    hashed = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


@dg.multi_asset(
    outs={
        HISTORY: dg.AssetOut(
            kinds={"python", "duckdb"},
            metadata=in_schema(GROUP),
            description="Routing history: per prompt, whether the weak and the strong model "
            "answered it correctly, with its subject (RouteLLM's MMLU outcomes of Mixtral-8x7B "
            "and GPT-4 today; contaminated prompts set aside).",
        ),
        QUARANTINE: dg.AssetOut(
            kinds={"python", "duckdb"},
            metadata=in_schema(GROUP),
            description="Routing-history rows that were not used, each with the reason "
            "(contaminated, empty prompt, malformed outcome, duplicate prompt); records in = "
            "accepted + quarantined.",
        ),
    },
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
)
def llm_routing_history(context: dg.AssetExecutionContext, config: RoutingHistoryConfig):
    """Routing history loaded into the warehouse: per prompt its subject, text, and whether
    the weak and the strong model answered it correctly (RouteLLM's per-prompt MMLU outcomes of
    Mixtral-8x7B and GPT-4 today), read from the routing folder (config ``source_dir``, default
    ``$BENCHMARKS_DIR/routing`` = ``../shared/benchmarks/routing``). Rows it cannot use go to
    ``llm_routing_quarantine`` with the reason (records in = accepted + quarantined). The
    data version is a hash of the accepted rows, so training runs name exactly what they
    learned from."""
    root = Path(config.source_dir) if config.source_dir else default_routing_dir()
    try:
        loaded = load_routing_history(root, dataset=config.dataset)
    except (FileNotFoundError, ValueError) as exc:
        raise dg.Failure(
            description=f"cannot load the routing history: {exc}. Set the asset config "
            "source_dir or BENCHMARKS_DIR to the folder that holds "
            f"{config.dataset}/*.csv.",
            metadata={"source_dir": str(root)},
        ) from exc
    history, quarantined = loaded.accepted, loaded.quarantined
    context.log.info(
        f"routing history: {loaded.records_in} rows from {loaded.files} files, "
        f"{len(history)} accepted, {len(quarantined)} quarantined"
    )
    with warnings.catch_warnings():  # Output(data_version=...) is marked beta in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        accepted = dg.Output(
            history,
            output_name=HISTORY,
            data_version=dg.DataVersion(_content_version(history)),
            metadata=_history_metadata(loaded),
        )
    yield accepted
    yield dg.Output(
        quarantined,
        output_name=QUARANTINE,
        metadata={"reasons": dg.MetadataValue.json(loaded.reason_counts())},
    )


def _history_metadata(loaded: HistoryLoad) -> dict[str, Any]:
    """What the UI shows about a loaded history."""
    history, quarantined = loaded.accepted, loaded.quarantined

    def rate(col: str) -> float:
        return round(float(history[col].mean()), 4) if len(history) else 0.0

    return {
        "source": loaded.source,
        "files": loaded.files,
        "records_in": loaded.records_in,
        "records_accepted": len(history),
        "records_quarantined": len(quarantined),
        "quarantine_reasons": dg.MetadataValue.json(loaded.reason_counts()),
        "subjects": int(history["subject"].nunique()),
        "weak_model": loaded.weak_model,
        "strong_model": loaded.strong_model,
        "weak_accuracy": rate("weak_correct"),
        "strong_accuracy": rate("strong_correct"),
    }


def _lineage_tags(context: dg.AssetExecutionContext, rows: int) -> dict[str, str]:
    """MLflow tags naming the history materialization the run learned from."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(HISTORY))
    mat = event.asset_materialization if event is not None else None
    return {
        "training_set.asset": HISTORY,
        "training_set.run_id": event.run_id if event is not None else "",
        "training_set.materialized_at": str(event.timestamp) if event is not None else "",
        "training_set.data_version": str((mat.tags or {}).get("dagster/data_version", ""))
        if mat is not None
        else "",
        "training_set.rows": str(rows),
    }


def _log_challenger(
    context: dg.AssetExecutionContext,
    tracking: MlflowTracking,
    config: LLMRouterConfig,
    challenger: Challenger,
    *,
    champion: tuple[str | None, RouterEvaluation | None, np.ndarray | None],
    promote: bool,
    history_rows: int,
) -> tuple[str, str, dg.MetadataValue]:
    """Log the challenger's MLflow run (parameters, held-out and cross-validated metrics, the
    champion's figures on the same prompts, the cost-quality curve, lineage tags) and register
    its model as ``@challenger``.

    Returns:
        ``(model version, MLflow run id, the curve as Markdown for the UI)``.
    """
    import mlflow
    from mlflow.models import infer_signature

    champion_version, champion_eval, champion_scores = champion
    costs = (config.weak_cost_usd, config.strong_cost_usd)
    ev, held_out = challenger.evaluation, challenger.held_out
    with (
        tracking.start_run(
            experiment=EXPERIMENT,
            run_name=MODEL_NAME,
            dagster_run_id=context.run.run_id,
            tags=_lineage_tags(context, history_rows),
        ) as run,
        tempfile.TemporaryDirectory() as tmp,
    ):
        a, b = fit_length_rule(challenger.train)
        mlflow.log_params(
            {
                **{k: v for k, v in challenger.params.items() if k != "calibration"},
                "calibration_intercept": challenger.params["calibration"][0],
                "calibration_slope": challenger.params["calibration"][1],
                "cross_validate": config.cross_validate,
                "margin": config.margin,
                "willingness_to_pay": config.willingness_to_pay,
                "weak_cost_usd": costs[0],
                "strong_cost_usd": costs[1],
                "train_prompts": len(challenger.train),
                "held_out_prompts": len(held_out),
                "held_out_subjects": ",".join(sorted(held_out["subject"].unique())),
                "length_rule_fit_on_train": f"{a:.4f} + {b:.5f} * ln(1 + chars)",
            }
        )
        mlflow.log_metrics({f"held_out_{k}": v for k, v in ev.as_dict().items()})
        mlflow.log_metrics({f"cv_{k}": v for k, v in challenger.cv_summary().items()})
        if champion_eval is not None:
            mlflow.log_metrics({f"champion_{k}": v for k, v in champion_eval.as_dict().items()})
        curves: dict[str, Any] = {"challenger": challenger.scores}
        if champion_scores is not None:
            curves[f"champion v{champion_version}"] = champion_scores
        curves["length rule"] = LengthRouter().score(held_out["prompt"].tolist())
        plot = Path(tmp) / "cost_quality.png"
        go = decide(challenger.scores, config.willingness_to_pay, costs)
        points = cost_quality_figure(
            curves,
            held_out,
            plot,
            operating_point=(ev.strong_share, ev.accuracy),
            costs=costs,
        )
        mlflow.log_artifact(str(plot))
        mlflow.log_dict(
            {"points": points, "cv_folds": challenger.cv, "strong_calls": int(go.sum())},
            "cost_quality.json",
        )
        plot_md = png_markdown(plot, "cost-quality curve")
        example = pd.DataFrame({"prompt": held_out["prompt"].head(5).tolist()})
        signature = infer_signature(example, challenger.router.score(example["prompt"]))
        version = tracking.log_pyfunc_model(
            loader_module=LOADER_MODULE,
            data_path=save_router(challenger.router, Path(tmp) / "router"),
            registered_name=MODEL_NAME,
            alias="challenger",
            config=challenger.config(),
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
        )
        mlflow.set_tag("promoted", str(promote))
        run_id = run.info.run_id
    return version, run_id, plot_md


@dg.asset(
    name=PROMOTION,
    group_name=GROUP,
    kinds={"scikitlearn", "mlflow", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=in_schema(GROUP),
)
def llm_router_promotion(
    context: dg.AssetExecutionContext,
    config: LLMRouterConfig,
    llm_routing_history: pd.DataFrame,
    tracking: MlflowTracking,
) -> dg.Output[pd.DataFrame]:
    """The champion/challenger decision for the language-engine tier router, with its
    evidence. A challenger (:class:`ml.routing.TextRouter`) is trained on the training
    subjects of the routing history and scored, with the current ``llm_router@champion``, on
    the held-out subjects no model trains on: APGR, CPT(50 %), CPT(80 %), routed accuracy,
    strong-call share and cost saved at the configured willingness to pay, with the length
    rule as the baseline and per-fold cross-validated figures. The MLflow run holds the
    parameters, those held-out metrics, the cost-quality curve, the history's lineage (Dagster
    run id and data version) and the model with its signature; it is registered as
    ``@challenger`` and made ``@champion`` only when it beats the length rule and the
    champion's held-out APGR by the margin."""
    costs = (config.weak_cost_usd, config.strong_cost_usd)
    challenger, why_not = train_challenger(
        llm_routing_history,
        folds=config.folds,
        max_prompts=config.max_prompts or None,
        seed=config.seed,
        inner_folds=config.inner_folds,
        cross_validate=config.cross_validate,
        willingness_to_pay=config.willingness_to_pay,
        costs=costs,
    )
    champion_version = tracking.alias_version(MODEL_NAME, "champion")
    champion_eval, champion_scores, overlap = None, None, []
    if challenger is not None and champion_version is not None:
        try:
            model, champion_config, _ = tracking.load_pyfunc_model(MODEL_NAME)
            champion_eval, champion_scores = score_champion(model.get_raw_model(), challenger)
            overlap = champion_overlap(champion_config, challenger)
        except Exception as exc:  # a broken champion is replaced by any sound challenger
            context.log.warning(f"champion v{champion_version} could not be scored: {exc}")
    promote, reason = promotion_decision(
        challenger.evaluation if challenger else None, champion_eval, margin=config.margin
    )
    if challenger is None:
        reason = f"{reason} ({why_not})"
    if overlap:
        reason += (
            f"; note: the champion was trained on {len(overlap)} held-out subject(s), so its "
            "held-out figure is optimistic"
        )
    version, run_id, plot_md = None, "none", None
    if challenger is not None:
        version, run_id, plot_md = _log_challenger(
            context,
            tracking,
            config,
            challenger,
            champion=(champion_version, champion_eval, champion_scores),
            promote=promote,
            history_rows=len(llm_routing_history),
        )
        if promote:
            tracking.set_alias(MODEL_NAME, "champion", version)
    ev = challenger.evaluation if challenger else None
    cv = challenger.cv_summary() if challenger else {}
    decision = pd.DataFrame(
        [
            {
                "decided_at": pd.Timestamp.now(tz="UTC"),
                "challenger_version": version,
                "champion_before": champion_version,
                "champion_after": version if promote else champion_version,
                "promoted": bool(promote),
                "reason": reason,
                "challenger_apgr": ev.apgr if ev else None,
                "champion_apgr": champion_eval.apgr if champion_eval else None,
                "length_rule_apgr": ev.length_rule_apgr if ev else None,
                "challenger_cpt50": ev.cpt50 if ev else None,
                "challenger_cpt80": ev.cpt80 if ev else None,
                "challenger_accuracy": ev.accuracy if ev else None,
                "challenger_strong_share": ev.strong_share if ev else None,
                "challenger_cost_saved": ev.cost_saved if ev else None,
                "cv_apgr_mean": cv.get("apgr_mean"),
                "cv_apgr_worst": cv.get("apgr_worst"),
                "held_out_prompts": ev.n if ev else 0,
                "held_out_subjects": ev.subjects if ev else 0,
                "margin": config.margin,
                "mlflow_run_id": run_id,
            }
        ]
    )
    context.log.info(f"tier router: {'promoted' if promote else 'kept champion'}: {reason}")
    metadata: dict[str, Any] = {
        "promoted": bool(promote),
        "reason": reason,
        "challenger_version": version or "none",
        "champion_after": str(version if promote else champion_version),
        "mlflow_run_id": run_id,
        "evidence": dg.MetadataValue.md(
            decision.drop(columns=["decided_at"])
            .T.reset_index()
            .to_markdown(index=False, headers=["evidence", "value"])
        ),
    }
    if plot_md is not None:
        metadata["cost_quality_curve"] = plot_md
    return dg.Output(decision, metadata=metadata)


def _requirements() -> list[str]:
    """The registered model's pip requirements, pinned to what trained it (stated, so MLflow
    does not load the model in a subprocess to infer them). Loading also needs this project's
    ``ml`` and ``orchestration_project`` packages importable, as they are in every run here."""
    import scipy
    import sklearn

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"scipy=={scipy.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


llm_router_assets = [llm_routing_history, llm_router_promotion]

LLM_ROUTER_SELECTION = dg.AssetSelection.assets(HISTORY, QUARANTINE, PROMOTION)
"""The tier router's assets (for jobs that select the optimisation group and should not run
them, e.g. ``AssetSelection.groups(GROUP) - LLM_ROUTER_SELECTION``)."""

llm_router_job = dg.define_asset_job(
    "llm_router_job",
    selection=LLM_ROUTER_SELECTION,
    description="Load the routing history into the warehouse, train a tier-router challenger, "
    "log it to MLflow and promote it to llm_router@champion only on held-out evidence.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

__all__ = [
    "HISTORY",
    "LLM_ROUTER_SELECTION",
    "PROMOTION",
    "QUARANTINE",
    "LLMRouterConfig",
    "RoutingHistoryConfig",
    "llm_router_assets",
    "llm_router_job",
    "llm_router_promotion",
    "llm_routing_history",
]
