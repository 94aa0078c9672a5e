"""A real client for the MLflow UI: ``scripts/mlflow`` serves the project's local store on
loopback, and Chromium finds the routing experiment, its run and the registered route model
with its aliases. The store is filled by the real route-model assets (Dagster materialisation,
DuckDB warehouse holding a synthetic fetch history)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from assets.optimization.assets import optimization_assets
from resources.fetching import find_chromium
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests.conftest import free_base_port
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
        deadline = time.time() + 120
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:])
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("the MLflow UI did not come up in 120 s")
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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=find_chromium(),
            headless=True,
            args=["--disable-background-networking", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
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
        browser.close()
    assert "Version 1" in body and "Version 2" in body
