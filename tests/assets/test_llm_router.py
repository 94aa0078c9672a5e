"""The language-engine tier router through Dagster and a real MLflow store: routing history
into the warehouse (with its quarantine), a champion on the first run, a challenger that is no
better refused, the registered model scoring exactly like the one trained in memory, and only
held-out figures logged.

Real parts: a DuckDB warehouse, an MLflow SQLite tracking store and registry in a temporary
folder, Dagster materialisations on an ephemeral instance, the real
:class:`ml.routing.TextRouter`. The routing folder is a small synthetic one in RouteLLM's
format (one CSV per subject) in which the words of a prompt, not its length, say whether the
strong model gains: a learned router beats the length rule there after a two-second fit,
which the real MMLU history needs its ~11,000 training prompts for (figures in the docstring of
:mod:`assets.optimization.llm_router`). One test reads the real shared folder's history.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from assets.optimization.llm_router import (
    HISTORY,
    PROMOTION,
    QUARANTINE,
    llm_router_assets,
    llm_router_job,
    llm_routing_history,
)
from ml.routing import STRONG_MODEL, WEAK_MODEL, apgr, default_routing_dir, load_routing_data
from orchestration_project.optimization.llm_router import (
    MODEL_NAME,
    load_routing_history,
    subject_fold,
    train_challenger,
)
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager

HARD_WORDS = ["derive", "integral", "eigenvalue", "theorem", "asymptotic", "prove", "lemma"]
EASY_WORDS = ["capital", "colour", "animal", "largest", "river", "flag", "city"]
FILLER = [
    "the",
    "of",
    "a",
    "which",
    "one",
    "following",
    "is",
    "in",
    "statement",
    "about",
    "given",
    "value",
    "most",
    "best",
]
SUBJECTS = [f"topic_{i:02d}" for i in range(24)]
# Settings of the test runs: three subject folds, a two-fold inner CV (fast fits).
FAST = {"folds": 3, "inner_folds": 2}


def write_synthetic_routing(root: Path, *, per_subject: int = 30, seed: int = 0) -> Path:
    """A routing folder in RouteLLM's format where "hard" words (not length) mean the strong
    model gains; plus four rows to quarantine: a contaminated prompt, an empty prompt, a
    malformed outcome and a duplicate prompt.

    Returns:
        ``root`` (holding ``routellm_mmlu/*.csv`` and ``contaminated_prompts.jsonl``).
    """
    rng = np.random.default_rng(seed)
    folder = root / "routellm_mmlu"
    folder.mkdir(parents=True, exist_ok=True)
    first_prompt = ""
    for s, subject in enumerate(SUBJECTS):
        rows = []
        for i in range(per_subject):
            hard = rng.random() < 0.4
            words = rng.choice(HARD_WORDS if hard else EASY_WORDS, size=2).tolist()
            filler = rng.choice(FILLER, size=int(rng.integers(4, 60))).tolist()
            question = " ".join([*filler[:3], *words, *filler[3:]])
            options = "\n".join(f"{c}. option {rng.integers(100)}" for c in "ABCD")
            prompt = f"Q{s}-{i} {question}?\n{options}\nAnswer:"
            weak = rng.random() < (0.2 if hard else 0.9)
            strong = rng.random() < (0.9 if hard else 0.93)
            rows.append({"prompt": prompt, WEAK_MODEL: weak, STRONG_MODEL: strong})
        if s == 0:
            first_prompt = rows[0]["prompt"]
            rows += [
                {"prompt": "   ", WEAK_MODEL: True, STRONG_MODEL: True},
                {"prompt": "Q0-x a capital city?", WEAK_MODEL: "maybe", STRONG_MODEL: True},
            ]
        if s == 1:
            rows.append({"prompt": first_prompt, WEAK_MODEL: False, STRONG_MODEL: True})
            rows.append({"prompt": "Q1-leak the answer key", WEAK_MODEL: True, STRONG_MODEL: True})
        pd.DataFrame(rows).to_csv(folder / f"{subject}.csv", index=False)
    with (root / "contaminated_prompts.jsonl").open("w") as fh:
        fh.write(json.dumps({"train_prompt": "x", "eval_prompt": "Q1-leak the answer key"}) + "\n")
    return root


def _world(root: Path) -> dict:
    wh = DuckDBWarehouse(path=str(root / "wh.duckdb"))
    return {
        "source": write_synthetic_routing(root / "routing"),
        "resources": {
            "warehouse": wh,
            "io_manager": WarehouseIOManager(warehouse=wh),
            "tracking": MlflowTracking(data_dir=str(root / "data")),
        },
    }


@pytest.fixture
def world(tmp_path: Path) -> dict:
    return _world(tmp_path)


def _run_config(source: Path, **promotion: object) -> dict:
    return {
        "ops": {
            HISTORY: {"config": {"source_dir": str(source)}},
            PROMOTION: {"config": {**FAST, **promotion}},
        }
    }


def _promote(world: dict, instance: dg.DagsterInstance, **promotion: object) -> dict:
    result = dg.materialize(
        llm_router_assets,
        resources=world["resources"],
        instance=instance,
        run_config=_run_config(world["source"], **promotion),
    )
    assert result.success
    wh: DuckDBWarehouse = world["resources"]["warehouse"]
    decision = wh.read_table(PROMOTION, schema="optimization")
    assert len(decision) == 1
    return decision.iloc[0].to_dict()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One store and instance for the module: the first run (with cross-validation) is
    materialised once; the tests below read it, the last one reruns it. (One MLflow store and
    one first training for three tests keeps the module fast.)"""
    world = _world(tmp_path_factory.mktemp("llm_router"))
    with dg.instance_for_test() as instance:
        first = _promote(world, instance, cross_validate=True)
        yield {**world, "instance": instance, "first": first}


def test_the_first_challenger_becomes_champion_with_its_lineage_and_evidence(
    trained: dict,
) -> None:
    tracking: MlflowTracking = trained["resources"]["tracking"]
    wh: DuckDBWarehouse = trained["resources"]["warehouse"]
    instance: dg.DagsterInstance = trained["instance"]
    first = trained["first"]
    assert first["promoted"] and "no champion yet" in first["reason"]
    assert first["challenger_apgr"] > first["length_rule_apgr"]
    assert tracking.alias_version(MODEL_NAME, "champion") == first["challenger_version"] == "1"

    # records in = accepted + quarantined, each quarantined row with its reason
    history = wh.read_table(HISTORY, schema="optimization")
    quarantine = wh.read_table(QUARANTINE, schema="optimization")
    assert len(history) == len(SUBJECTS) * 30 and len(quarantine) == 4
    assert sorted(r.split(":")[0] for r in quarantine["reason"]) == [
        "contaminated",
        "duplicate prompt",
        "empty prompt",
        "malformed outcome",
    ]
    mat = instance.get_latest_materialization_event(dg.AssetKey(HISTORY)).asset_materialization
    assert mat.metadata["records_in"].value == len(history) + len(quarantine)

    # The run's lineage: the Dagster run, the history's data version and size.
    client = tracking.client()
    run = client.get_run(client.get_model_version_by_alias(MODEL_NAME, "champion").run_id)
    assert run.data.tags["dagster.run_id"] and run.data.tags["training_set.asset"] == HISTORY
    assert run.data.tags["training_set.data_version"] == mat.tags["dagster/data_version"]
    assert run.data.tags["training_set.rows"] == str(len(history))
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"cost_quality.png", "cost_quality.json", "model_config.json"} <= artifacts
    promotion = instance.get_latest_materialization_event(dg.AssetKey(PROMOTION))
    meta = promotion.asset_materialization.metadata
    assert "data:image/png;base64," in meta["cost_quality_curve"].value
    assert "no champion yet" in meta["evidence"].value


def test_the_logged_figures_are_held_out_and_the_registered_model_scores_like_the_trained_one(
    trained: dict,
) -> None:
    tracking: MlflowTracking = trained["resources"]["tracking"]
    model, config, version = tracking.load_pyfunc_model(MODEL_NAME)
    assert version == "1" and config["held_out_subjects"]
    # held out = fold 0 of the subjects, and no model was trained on any of them
    assert all(subject_fold(s, FAST["folds"]) == 0 for s in config["held_out_subjects"])
    assert not set(config["held_out_subjects"]) & set(config["train_subjects"])

    history = load_routing_history(trained["source"]).accepted
    held_out = history[history["subject"].isin(config["held_out_subjects"])]
    loaded = model.predict(held_out[["prompt"]])
    weak, strong = held_out["weak_correct"], held_out["strong_correct"]

    client = tracking.client()
    run = client.get_run(client.get_model_version(MODEL_NAME, version).run_id)
    metrics = run.data.metrics
    assert metrics["held_out_apgr"] == pytest.approx(apgr(loaded, weak, strong))
    assert metrics["held_out_n"] == len(held_out)
    assert metrics["cv_folds"] == FAST["folds"] - 1 and 0 < metrics["cv_apgr_worst"] <= 1
    # Every metric is a held-out one: the test fold, or the cross-validation's held-out folds.
    assert all(k.startswith(("held_out_", "cv_")) for k in metrics), sorted(metrics)
    assert run.data.params["held_out_subjects"] == ",".join(config["held_out_subjects"])

    # The model in the registry is the model trained in memory, on the fast path too.
    challenger, _ = train_challenger(history, cross_validate=False, **FAST)
    assert challenger is not None
    in_memory = challenger.router.score(held_out["prompt"].tolist())
    np.testing.assert_allclose(loaded, in_memory, rtol=0, atol=1e-12)
    router = model.get_raw_model()
    one_by_one = [router.score_one(p) for p in held_out["prompt"]]
    np.testing.assert_allclose(one_by_one, in_memory, rtol=0, atol=1e-9)
    assert model.metadata.get_input_schema().input_names() == ["prompt"]


def test_a_challenger_no_better_than_the_champion_is_refused(trained: dict) -> None:
    tracking: MlflowTracking = trained["resources"]["tracking"]
    # Same history, same seed: the same model, no gain; the champion stays.
    second = _promote(trained, trained["instance"], cross_validate=False)
    assert not second["promoted"] and "under the margin" in second["reason"]
    assert second["champion_before"] == "1" and second["challenger_version"] == "2"
    assert second["champion_apgr"] == pytest.approx(second["challenger_apgr"])
    assert tracking.alias_version(MODEL_NAME, "champion") == "1"
    assert tracking.alias_version(MODEL_NAME, "challenger") == "2"
    client = tracking.client()
    run = client.get_run(client.get_model_version(MODEL_NAME, "2").run_id)
    assert run.data.tags["promoted"] == "False"
    assert run.data.metrics["champion_apgr"] == pytest.approx(second["champion_apgr"])


def test_a_missing_routing_folder_fails_with_a_clear_message(world: dict, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [llm_routing_history],
            resources=world["resources"],
            instance=instance,
            run_config={"ops": {HISTORY: {"config": {"source_dir": str(missing)}}}},
            raise_on_error=False,
        )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    message = failure.step_failure_data.user_failure_data.description
    assert f"{missing / 'routellm_mmlu'} does not exist" in message
    assert "source_dir or BENCHMARKS_DIR" in message


def test_too_little_history_trains_nothing_and_says_so(world: dict, tmp_path: Path) -> None:
    small = write_synthetic_routing(tmp_path / "small", per_subject=2)
    with dg.instance_for_test() as instance:
        decision = _promote({**world, "source": small}, instance)
    assert not decision["promoted"] and decision["challenger_version"] is None
    assert "no challenger" in decision["reason"] and "at least 100" in decision["reason"]
    assert not world["resources"]["tracking"].has_store()  # nothing was logged


def test_the_job_selects_the_router_assets_only() -> None:
    keys = {k.to_user_string() for k in llm_router_job.selection.resolve(llm_router_assets)}
    assert keys == {HISTORY, QUARANTINE, PROMOTION}
    assert llm_router_job.tags["domain"] == "optimization"


def test_the_shared_history_loads_with_contaminated_and_duplicate_prompts_set_aside() -> None:
    root = default_routing_dir()
    if not (root / "routellm_mmlu").is_dir():
        pytest.skip(f"no shared routing data at {root}")
    loaded = load_routing_history()
    reference = load_routing_data()
    duplicates = loaded.reason_counts().get("duplicate prompt", 0)
    assert len(loaded.accepted) + duplicates == len(reference.prompts)
    assert loaded.reason_counts().get("contaminated", 0) == reference.dropped
    assert loaded.records_in == len(reference.prompts) + reference.dropped
    assert loaded.accepted["prompt_id"].is_unique
