"""Gradual rollout of extraction rule sets through Dagster, with real extraction of the demo
world's pages: a better rule set (v2) promoted stage by stage 5 % -> 25 % -> 100 %, and a worse
one (v0-bad) rolled back automatically with an incident and an alert; the decisions and their
evidence are materialised with metadata.

To stay fast the crawl is not run: the demo world's pages are fetched once over plain HTTP and
stored as ``market_research.page_snapshots``; each stage then runs only the extraction step
(``extracted_facts`` with its side outputs) and ``rollout_decisions``. The pages are stored
under the demo world's default ports (8701-8705), so the rollout's hash assignment of pages to
the canary is the same on every run of the test.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pandas as pd
import pytest
import yaml

from assets.evolution import evolution_assets
from assets.market_research import all_sites_tags, register_sites
from assets.market_research.assets import market_research_assets
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.evolution.rollout import ROLLOUTS_PATH
from orchestration_project.operations.healing import Healer
from orchestration_project.research.fact_rows import extract_facts
from orchestration_project.research.rule_sets import extract_facts_by_rule_set
from tests.conftest import demo_resources

EXTRACTION = ["extracted_facts", "fact_quarantine"]  # the per-site assets' README selection
V2 = "extraction-rules-v2"  # the packaged rollout (orchestration_project/evolution/rollouts.yaml)
BAD = "extraction-rules-v0-bad"


@pytest.fixture(scope="module")
def pages(demo_world: Any) -> pd.DataFrame:
    """Every page of the demo world's ground truth, fetched once, under the default ports."""
    truth = demo_world.ground_truth()
    canonical = {
        url: f"http://127.0.0.1:{8701 + i}" for i, url in enumerate(demo_world.sites.values())
    }
    rows = []
    with httpx.Client(timeout=5.0) as client:
        for slug, paths in truth["pages"].items():
            site = demo_world.sites[slug]
            for p in paths:
                url = p if p.startswith("http") else site + p
                r = client.get(url)
                if r.status_code == 200 and "html" in r.headers.get("content-type", ""):
                    rows.append(
                        {
                            "crawl_id": "rollout-test",
                            "url": url.replace(site, canonical[site], 1),
                            "site": canonical[site],
                            "html": r.text,
                        }
                    )
    assert len(rows) > 60
    return pd.DataFrame(rows)


class _Sentiment:
    value, model, cost_usd, latency_s = 0.1, "fixed", 0.0, 0.0

    def sentiment(self, text: str) -> "_Sentiment":
        return self


def test_rule_set_v1_changes_nothing(pages: pd.DataFrame) -> None:
    def recorder() -> ActionRecorder:
        return ActionRecorder("r", lambda *_: None)

    before = extract_facts(pages, crawl_id="c", language=_Sentiment(), recorder=recorder())
    after = extract_facts_by_rule_set(
        pages, crawl_id="c", language=_Sentiment(), recorder=recorder()
    )
    assert [{k: v for k, v in r.items() if k != "rule_set"} for r in after.rows] == before
    assert {r["rule_set"] for r in after.rows} == {"v1"}
    assert len(after.observations) == len(pages)


class Scenario:
    """One data folder and Dagster instance: extraction runs and decision runs."""

    def __init__(self, world: Any, data: Path, pages: pd.DataFrame, rollouts_file: str) -> None:
        self.resources = demo_resources(world, data)
        self.wh = self.resources["warehouse"]
        self.wh.write_table("page_snapshots", pages, schema="market_research")
        self.instance = dg.DagsterInstance.ephemeral()
        self.sites = register_sites(self.instance, sorted(pages["site"].unique()))
        self.config = {"ops": {"rollout_decisions": {"config": {"rollouts_file": rollouts_file}}}}
        self.assets = [*market_research_assets, *evolution_assets]

    def extract(self) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            self.assets,
            selection=EXTRACTION,
            resources=self.resources,
            instance=self.instance,
            tags=all_sites_tags(self.sites),
        )
        assert result.success
        return result

    def decide(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        result = dg.materialize(
            self.assets,
            selection=["rollout_decisions"],
            resources=self.resources,
            instance=self.instance,
            run_config=self.config,
        )
        assert result.success
        mat = result.asset_materializations_for_node("rollout_decisions")[0]
        return self.wh.read_table("rollout_decisions", schema="evolution"), mat.metadata

    def observations(self) -> pd.DataFrame:
        return self.wh.read_table("rollout_observations", schema="evolution")

    def facts(self) -> pd.DataFrame:
        return self.wh.read_table("extracted_facts", schema="market_research")


def test_a_better_rule_set_is_promoted_stage_by_stage(
    demo_world: Any, pages: pd.DataFrame, tmp_path: Path
) -> None:
    s = Scenario(demo_world, tmp_path, pages, "")  # the packaged rollouts.yaml
    table, meta = s.decide()
    assert table["decision"].tolist() == ["start"] and table["rollout_id"].tolist() == [V2]
    assert meta["current_stage"].value[V2]["canary_percent"] == 5

    percents, canaries = [], []
    for expected in (25, 100):
        s.extract()
        obs = s.observations()
        assert set(obs["rollout_id"]) == {V2}
        percents.append(int(obs["percent"].iloc[0]))
        canary = obs[obs["arm"] == "candidate"]
        canaries.append(set(canary["unit"]))
        assert set(canary["version"]) == {"v2"} and set(
            obs[obs["arm"] == "current"]["version"]
        ) == {"v1"}
        facts = s.facts()  # each page's facts carry the rule set it ran
        assert set(facts[facts["source_url"].isin(canary["unit"])]["rule_set"]) <= {"v2"}
        table, meta = s.decide()
        last = table.iloc[-1]
        assert last["decision"] == "promote", last["reason"]
        assert last["next_percent"] == expected
        evidence = json.loads(last["evidence"])
        assert {e["metric"] for e in evidence} == {
            "check_pass",
            "quarantine_rate",
            "review_share",
            "trusted_recall",
            "cost_s",
        }
        assert all(e["verdict"] == "non_inferior" for e in evidence)
        assert "| check_pass (higher) |" in meta["evidence"].value
        assert meta["chart"].value.startswith(
            "![rollout evidence and stages](data:image/png;base64,"
        )
    assert percents == [5, 25]
    assert canaries[0] and canaries[0] < canaries[1]  # a page in the 5 % stayed in at 25 %
    assert meta["current_stage"].value[V2] | {"holds_this_stage": 0} == {
        "status": "completed",
        "canary_percent": 100,
        "current_version": "v2",
        "candidate_version": "v2",
        "holds_this_stage": 0,
    }
    # complete: every page now runs v2, and no rollout is observed any more
    result = s.extract()
    assert set(s.facts()["rule_set"]) == {"v2"}
    assert "rollout_observations" not in {
        m.asset_key.to_user_string()
        for m in result.get_asset_materialization_events()
        for m in [m.event_specific_data.materialization]
    }
    assert table["decision"].tolist() == ["start", "promote", "promote"]


def test_a_worse_rule_set_is_rolled_back_with_an_incident(
    demo_world: Any, pages: pd.DataFrame, tmp_path: Path
) -> None:
    packaged = yaml.safe_load(ROLLOUTS_PATH.read_text())["rollouts"][0]
    bad = {**packaged, "id": BAD, "candidate": "v0-bad", "description": "structured data off"}
    path = tmp_path / "rollouts.yaml"
    path.write_text(yaml.safe_dump({"rollouts": [bad]}))
    s = Scenario(demo_world, tmp_path, pages, str(path))
    s.decide()
    s.extract()
    obs = s.observations()
    assert (obs["arm"] == "candidate").sum() >= 3
    table, meta = s.decide()
    last = table.iloc[-1]
    assert last["decision"] == "rollback", last["reason"]
    assert last["percent"] == 5 and last["next_percent"] == 0
    worse = [e["metric"] for e in json.loads(last["evidence"]) if e["verdict"] == "worse"]
    assert "trusted_recall" in worse
    assert meta["current_stage"].value[BAD]["status"] == "rolled_back"
    assert meta["incidents_opened"].value == [last["incident_id"]]
    # the incident is in incident response's store, and the alert went out
    incident = Healer(s.resources["coordination"].store()).incident(last["incident_id"])
    assert (incident.subject_kind, incident.subject, incident.status) == ("rollout", BAD, "open")
    alerts = (tmp_path / "alerts.jsonl").read_text().splitlines()
    assert any(BAD in line and "rollout_rollback" in line for line in alerts)
    # rolled back: every page runs the current rule set again
    s.extract()
    assert set(s.facts()["rule_set"]) == {"v1"}
    # a later decision run finds nothing to decide and keeps the history
    table, _ = s.decide()
    assert table["decision"].tolist() == ["start", "rollback"]
