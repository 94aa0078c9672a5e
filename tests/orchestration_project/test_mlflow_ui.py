"""A real client for the MLflow UI: ``scripts/mlflow`` serves the project's local store on
loopback, and Chromium finds the routing experiment, its run and the registered route model
with its aliases. The store is filled by the real route-model assets (Dagster materialisation,
DuckDB warehouse holding a synthetic fetch history)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets.optimization.assets import optimization_assets
from resources.environment import ReportsDir
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests.conftest import chromium_page, free_base_port, wait_for_http
from tests.ml.test_route_success import synthetic_attempts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mlflow_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("data")
    wh = DuckDBWarehouse(path=str(data / "warehouse.duckdb"))
    wh.write_table("fetch_attempts", synthetic_attempts(500), schema="market_research")
    resources = {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "tracking": MlflowTracking(data_dir=str(data)),
        "reports_dir": ReportsDir(path=str(data / "reports")),
    }
    with dg.instance_for_test() as instance:
        for _ in range(2):  # a champion, then a challenger that is refused
            assert dg.materialize(
                optimization_assets, resources=resources, instance=instance
            ).success
    port = free_base_port(1)
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "mlflow")],
        cwd=ROOT,
        env={**os.environ, "ORCHESTRATION_DATA_DIR": str(data), "MLFLOW_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # the server's workers die with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/health", proc, timeout_s=120, what="the MLflow UI")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_the_mlflow_ui_shows_the_routing_experiment_and_the_models_aliases(
    mlflow_ui: str, tmp_path: Path
) -> None:
    with chromium_page() as page:
        page.goto(mlflow_ui + "/#/experiments", timeout=60_000)
        page.get_by_text("routing", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("routing", exact=True).first.click()
        # MLflow 3 opens an experiment on its GenAI overview: the runs are under "Training runs"
        page.get_by_text("Training runs", exact=True).first.click()
        page.get_by_text("route_success").first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "experiment.png"))
        page.goto(mlflow_ui + "/#/models/route_success", timeout=60_000)
        page.get_by_text("champion").first.wait_for(timeout=60_000)
        page.get_by_text("challenger").first.wait_for(timeout=60_000)
        body = page.inner_text("body")
        page.screenshot(path=str(tmp_path / "model.png"))
    assert "Version 1" in body and "Version 2" in body
