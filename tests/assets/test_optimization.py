"""The route model through Dagster and a real MLflow store: champion/challenger promotion,
refusal of a challenger that is no better, and crawls falling back to the rule's priors when
the registry is missing or the model is broken.

Real parts: a DuckDB warehouse holding the fetch history, an MLflow SQLite tracking store and
registry in a temporary folder, Dagster materialisations on an ephemeral instance.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from assets.market_research.assets import _route_prior
from assets.optimization.assets import optimization_assets
from orchestration_project.agents.coordination import CoordinationStore
from orchestration_project.optimization.route_model import MODEL_NAME
from resources.environment import ReportsDir
from resources.routing import RoutingResource
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests.ml.test_route_success import synthetic_attempts


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.lines.append(("warning", msg))


@pytest.fixture
def world(tmp_path: Path) -> dict:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    wh.write_table("fetch_attempts", synthetic_attempts(500), schema="market_research")
    return {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "tracking": MlflowTracking(data_dir=str(tmp_path / "data")),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }


def _promote(resources: dict, instance: dg.DagsterInstance) -> dict:
    result = dg.materialize(optimization_assets, resources=resources, instance=instance)
    assert result.success
    decision = resources["warehouse"].read_table("route_model_promotion", schema="optimization")
    assert len(decision) == 1
    return decision.iloc[0].to_dict()


def test_a_better_challenger_is_promoted_and_one_no_better_is_refused(world: dict) -> None:
    tracking: MlflowTracking = world["tracking"]
    with dg.instance_for_test() as instance:
        first = _promote(world, instance)
        assert first["promoted"] and "no champion yet" in first["reason"]
        assert first["challenger_log_loss"] < first["baseline_log_loss"]
        assert tracking.alias_version(MODEL_NAME, "champion") == first["challenger_version"]

        second = _promote(world, instance)  # same history: the same model, no gain
        assert not second["promoted"] and "under the margin" in second["reason"]
        assert second["champion_before"] == first["challenger_version"]
        assert tracking.alias_version(MODEL_NAME, "champion") == first["challenger_version"]
        assert tracking.alias_version(MODEL_NAME, "challenger") == second["challenger_version"]
        assert second["champion_log_loss"] == pytest.approx(second["challenger_log_loss"])

        rows = world["warehouse"].read_table("route_training_set", schema="optimization")
        assert len(rows) == 500 and set(rows["route"]) == {"http", "browser"}

        # the cost report: every attempt at its route's price, against the browser for all
        report = world["warehouse"].read_table("route_cost_report", schema="optimization")
        history = synthetic_attempts(500)
        cost = (history["route"] == "http").sum() * 1.0 + (history["route"] == "browser").sum() * 4
        assert report.set_index("route")["attempts"].sum() == 500
        assert report["total_cost"].iloc[0] == pytest.approx(cost)
        assert report["saving_vs_dearest"].iloc[0] == pytest.approx(1 - cost / (4 * 500))
        assert Path(world["reports_dir"].path, "optimization", "cost_report.png").stat().st_size

    client = tracking.client()
    mv = client.get_model_version_by_alias(MODEL_NAME, "champion")
    run = client.get_run(mv.run_id)
    assert run.data.metrics["held_out_log_loss"] == pytest.approx(first["challenger_log_loss"])
    assert run.data.tags["training_set.asset"] == "route_training_set"
    assert run.data.tags["training_set.rows"] == "500" and run.data.tags["dagster.run_id"]
    assert run.data.params["features"].startswith("route,site,route_site")
    artifacts = {a.path for a in client.list_artifacts(mv.run_id)}
    assert {"cost_quality.png", "cost_quality.json", "model_config.json"} <= artifacts
    import mlflow
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(tracking.uri())
    mlflow.set_registry_uri(tracking.uri())
    info = get_model_info(f"models:/{MODEL_NAME}@champion")
    assert info.signature is not None and "route_site" in str(info.signature.inputs)


def test_too_little_history_trains_nothing_and_says_so(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    wh.write_table("fetch_attempts", synthetic_attempts(20), schema="market_research")
    resources = {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "tracking": MlflowTracking(data_dir=str(tmp_path / "data")),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }
    with dg.instance_for_test() as instance:
        decision = _promote(resources, instance)
    assert not decision["promoted"] and "at least 40 needed" in decision["reason"]


def test_crawls_use_the_champion_as_the_routers_prior(world: dict, tmp_path: Path) -> None:
    with dg.instance_for_test() as instance:
        _promote(world, instance)
    log = _Log()
    prior = _route_prior(world["tracking"], SimpleNamespace(log=log))
    version = world["tracking"].alias_version(MODEL_NAME, "champion")
    assert prior is not None and log.lines == [
        ("info", f"fetch router prior: {MODEL_NAME}/v{version}")
    ]
    a_bad, b_bad = prior("http://bad.example", "http")
    a_good, b_good = prior("http://good.example", "http")
    assert a_bad / (a_bad + b_bad) < 0.5 < a_good / (a_good + b_good)
    router = RoutingResource().router(
        CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}"), prior_fn=prior
    )
    first = [router.choose(f"http://bad.example/p/{i}")[0] for i in range(30)]
    assert first.count("browser") >= 20  # the model already knows HTTP fails there
    route, why = router.choose("http://good.example/p/1")
    assert route == "http"
    # every decision names the model version that made it, for the next training run
    assert why.startswith(f"[bandit-ts-v1+{MODEL_NAME}/v{version}] ")


def test_without_a_registry_crawls_start_from_the_rules_priors(tmp_path: Path) -> None:
    log = _Log()
    tracking = MlflowTracking(data_dir=str(tmp_path / "empty"))
    assert _route_prior(tracking, SimpleNamespace(log=log)) is None
    assert log.lines[0][0] == "info" and "no model registry" in log.lines[0][1]
    assert not tracking.has_store()  # asking created no store (MLflow was never imported)
    assert not (tmp_path / "empty" / "mlflow" / "mlflow.db").exists()


def test_a_registry_without_the_model_or_with_a_broken_one_falls_back_with_a_warning(
    world: dict,
) -> None:
    tracking: MlflowTracking = world["tracking"]
    tracking.experiment_id("other")  # the store exists, the model does not
    log = _Log()
    assert _route_prior(tracking, SimpleNamespace(log=log)) is None
    assert log.lines[-1][0] == "warning" and "falls back to the rule's priors" in log.lines[-1][1]

    with dg.instance_for_test() as instance:
        _promote(world, instance)
    client = tracking.client()
    mv = client.get_model_version_by_alias(MODEL_NAME, "champion")
    source = Path(
        client.get_model_version_download_uri(MODEL_NAME, mv.version).removeprefix("file://")
    )
    shutil.rmtree(source)  # the model's files are gone (a corrupt artifact store)
    from resources import tracking as tracking_module

    tracking_module._CACHE.clear()
    log = _Log()
    assert _route_prior(tracking, SimpleNamespace(log=log)) is None
    assert (
        log.lines[-1][0] == "warning" and f"{MODEL_NAME}@champion unavailable" in log.lines[-1][1]
    )
