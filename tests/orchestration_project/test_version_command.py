"""``python -m orchestration_project version``: the code, config and model versions in use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration_project.cli import VERSIONED_CONFIGS, content_version, main
from resources.environment import PROJECT_ROOT
from resources.tracking import MlflowTracking


def test_a_config_version_changes_with_its_content_and_only_then(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.py").write_text("X = 1\n")
    (rules / "notes.txt").write_text("ignored")
    first = content_version(rules)
    assert first == content_version(rules) and len(first) == 12
    (rules / "notes.txt").write_text("still ignored")
    assert content_version(rules) == first
    (rules / "a.py").write_text("X = 2\n")
    assert content_version(rules) != first
    assert content_version(tmp_path / "nothing.yaml") == "missing"


def test_every_versioned_config_exists() -> None:
    for name, rel in VERSIONED_CONFIGS.items():
        assert (PROJECT_ROOT / rel).exists(), name


def test_the_command_names_code_configs_and_champions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORCHESTRATION_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["version", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["code"]["orchestration_project"]
    assert found["configs"]["form mapping (demo CRM)"] == content_version(
        PROJECT_ROOT / VERSIONED_CONFIGS["form mapping (demo CRM)"]
    )
    assert set(found["models"].values()) == {"no model registry yet"}
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
