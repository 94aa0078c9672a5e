"""``python -m orchestration_project version``: the code, config and model versions in use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration_project.cli import main
from orchestration_project.evolution.versions import LOGIC_INPUTS, content_version
from resources.environment import PROJECT_ROOT
from resources.tracking import MlflowTracking


def test_the_command_names_code_configs_and_champions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCHESTRATION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["version", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["code"]["orchestration_project"]
    assert found["configs"]["form mapping (demo CRM)"] == content_version(
        PROJECT_ROOT / LOGIC_INPUTS["form mapping (demo CRM)"]
    )
    assert set(found["models"].values()) == {"no model registry yet"}
    assert found["asset groups"]["market_research"].startswith(
        found["code"]["orchestration_project"]
    )
    assert not (tmp_path / "mlflow").exists()  # asking created nothing

    tracking = MlflowTracking(data_dir=str(tmp_path))
    client = tracking.client()
    client.create_registered_model("route_success")
    mv = client.create_model_version("route_success", source=str(tmp_path / "model"))
    tracking.set_alias("route_success", "champion", str(mv.version))
    assert main(["version"]) == 0
    text = capsys.readouterr().out
    assert "route_success" in text and "v1 (champion" in text
    assert "llm_router                       no champion" in text
