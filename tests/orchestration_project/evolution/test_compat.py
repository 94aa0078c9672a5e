"""Old Config field names load with a DeprecationWarning; unknown names still fail; every
Config class of the assets accepts renamed fields."""

import importlib
from pathlib import Path
from typing import ClassVar

import dagster as dg
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orchestration_project.evolution.compat import RenamedFields, old_name, renamed_fields


class CrawlConfig(RenamedFields, dg.Config):
    """A Config class whose ``max_pages`` became ``max_pages_per_site``."""

    renamed_fields: ClassVar[dict[str, str]] = {"max_pages": "max_pages_per_site"}

    max_pages_per_site: int = Field(default=40, description="page budget per site")
    topic: str = Field(default="", description="market topic")
    max_pages: int | None = old_name("max_pages_per_site")


class Plain(renamed_fields({"colour": "color"}), dg.Config):  # type: ignore[misc]
    """The factory form."""

    color: str = "red"
    colour: str | None = old_name("color")


def test_an_old_name_maps_to_the_new_one_with_a_deprecation_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.warns(DeprecationWarning, match="'max_pages' was renamed to 'max_pages_per_site'"):
        config = CrawlConfig(max_pages=7)
    assert config.max_pages_per_site == 7 and config.max_pages is None
    assert "deprecated" in caplog.text
    with pytest.warns(DeprecationWarning, match="'colour' was renamed to 'color'"):
        assert Plain(colour="blue").color == "blue"


def test_new_names_load_without_a_warning(recwarn: pytest.WarningsRecorder) -> None:
    assert CrawlConfig(max_pages_per_site=3).max_pages_per_site == 3
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning)]


class Strict(renamed_fields({"colour": "color"}), BaseModel):  # type: ignore[misc]
    """A plain pydantic model that forbids unknown fields."""

    model_config = ConfigDict(extra="forbid")
    color: str = "red"


def test_unknown_names_and_both_names_still_fail() -> None:
    with pytest.raises(ValidationError, match="colr"):
        Strict(colr="blue")  # Dagster run configs: see the job test below
    with pytest.warns(DeprecationWarning):
        assert Strict(colour="blue").color == "blue"
    with pytest.raises(ValidationError, match="not also its old name"):
        CrawlConfig(max_pages=7, max_pages_per_site=8)


def test_an_old_run_config_runs_a_job_and_an_unknown_field_is_rejected() -> None:
    @dg.asset
    def crawl(config: CrawlConfig) -> int:
        return config.max_pages_per_site

    old = {"ops": {"crawl": {"config": {"max_pages": 5, "topic": "t"}}}}
    with pytest.warns(DeprecationWarning, match="max_pages"):
        result = dg.materialize([crawl], run_config=old)
    assert result.output_for_node("crawl") == 5
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.materialize([crawl], run_config={"ops": {"crawl": {"config": {"max_pagez": 5}}}})


def _previous_release_classes() -> list[type]:
    """Today's Config classes that the previous release had (its run configs name them)."""
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "release_v0_1_0"
    old = yaml.safe_load((fixture / "run_configs.yaml").read_text())["config_classes"]
    found = []
    for dotted in old:
        module, _, name = dotted.rpartition(".")
        found.append(getattr(importlib.import_module(module), name))
    return found


def test_every_config_class_of_the_previous_release_accepts_renamed_fields() -> None:
    classes = _previous_release_classes()
    assert len(classes) >= 11
    missing = [c.__qualname__ for c in classes if not issubclass(c, RenamedFields)]
    assert missing == []
    for cls in classes:  # an old name must be declared, or Dagster rejects the run config
        for old in cls.renamed_fields:
            assert old in cls.model_fields, f"{cls.__name__}.{old}: declare it with old_name()"
