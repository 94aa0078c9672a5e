"""Versions of code and logic inputs, on every asset and on every row written.

The provenance tests run real materialisations into a real DuckDB warehouse and answer "which
version of what produced this row" with the query the README gives.
"""

import json
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd

from orchestration_project.evolution.versions import (
    GROUP_LOGIC_INPUTS,
    GROUP_SOURCES,
    LOGIC_INPUTS,
    PROJECT_ROOT,
    code_version,
    content_version,
    group_logic_versions,
)
from resources.warehouse import PROVENANCE_SCHEMA, DuckDBWarehouse, WarehouseIOManager

# The README's query: each row of a table with the code and logic versions that wrote it.
ROW_QUERY = """
SELECT f.site, f.subject, p.code_version, p.logic_versions, p.run_id
FROM market.facts f
JOIN evolution.produced_by p
  ON p.table_name = 'market.facts' AND p.partition_key = f.site
"""


def test_a_content_version_changes_with_its_content_and_only_then(tmp_path: Path) -> None:
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


def test_every_logic_input_and_group_source_exists() -> None:
    for name, rel in LOGIC_INPUTS.items():
        assert (PROJECT_ROOT / rel).exists(), name
    for group, parts in GROUP_SOURCES.items():
        for rel in parts:
            assert (PROJECT_ROOT / rel).exists(), (group, rel)
    for names in GROUP_LOGIC_INPUTS.values():
        assert set(names) <= set(LOGIC_INPUTS)


def test_a_group_code_version_follows_its_logic_inputs_and_not_other_groups(
    tmp_path: Path,
) -> None:
    root = tmp_path / "tree"
    for rel in {
        *GROUP_SOURCES["market_research"],
        *GROUP_SOURCES["content_marketing"],
        "orchestration_project/agents",
        "orchestration_project/common",
        "resources",
        LOGIC_INPUTS["content briefs"],
        LOGIC_INPUTS["extraction rules"],
    }:
        src, dst = PROJECT_ROOT / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
            )
        else:
            shutil.copy2(src, dst)
    research = code_version("market_research", "1.0", root)
    content = code_version("content_marketing", "1.0", root)
    assert research.startswith("1.0+") and research != content
    assert code_version("market_research", "1.1", root) != research  # the release counts

    briefs = root / LOGIC_INPUTS["content briefs"]
    briefs.write_text(briefs.read_text() + "\n# a new brief strategy\n")
    assert code_version("content_marketing", "1.0", root) != content
    assert code_version("market_research", "1.0", root) == research

    rules = root / LOGIC_INPUTS["extraction rules"] / "prices.py"
    rules.write_text(rules.read_text() + "\n# a changed rule\n")
    assert code_version("market_research", "1.0", root) != research


def test_every_asset_of_the_code_location_has_its_groups_code_version() -> None:
    from orchestration_project.definitions import defs

    graph = defs.get_repository_def().asset_graph
    by_group: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assert node.code_version, key
        by_group.setdefault(node.group_name, set()).add(node.code_version)
    assert all(len(v) == 1 for v in by_group.values()), by_group
    assert len({v for vs in by_group.values() for v in vs}) == len(by_group)
    assert {"market_research", "customer_onboarding", "content_marketing"} <= set(by_group)


SITES = dg.StaticPartitionsDefinition(["a.example", "b.example"])


@dg.asset(
    key_prefix="market",
    group_name="market_research",
    code_version="1.0+rules-one",
    partitions_def=SITES,
    metadata={"warehouse_partition_column": "site"},
)
def facts(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"site": [context.partition_key] * 2, "subject": ["x", "y"]})


@dg.asset(key_prefix="market", group_name="market_research", code_version="1.0+matrix")
def matrix(facts: pd.DataFrame) -> pd.DataFrame:
    return facts.groupby("site").size().rename("n").reset_index()


def test_each_row_is_traced_to_the_code_and_logic_versions_that_wrote_it(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    instance = dg.DagsterInstance.ephemeral()
    resources = {"io_manager": WarehouseIOManager(warehouse=warehouse)}
    first = dg.materialize(
        [facts], partition_key="a.example", resources=resources, instance=instance
    )
    second = dg.materialize(
        [facts.map_asset_specs(lambda s: s.replace_attributes(code_version="1.1+rules-two"))],
        partition_key="b.example",
        resources=resources,
        instance=instance,
    )
    rows = warehouse.query(ROW_QUERY).sort_values(["site", "subject"]).reset_index(drop=True)
    assert len(rows) == 4  # every row of the table is traced
    by_site = rows.groupby("site").agg({"code_version": set, "run_id": set})
    assert by_site.loc["a.example", "code_version"] == {"1.0+rules-one"}
    assert by_site.loc["a.example", "run_id"] == {first.run_id}
    assert by_site.loc["b.example", "code_version"] == {"1.1+rules-two"}
    assert by_site.loc["b.example", "run_id"] == {second.run_id}
    logic = json.loads(rows["logic_versions"].iloc[0])
    assert logic == group_logic_versions("market_research") and "extraction rules" in logic

    # Re-running a partition replaces its provenance with the new writer's.
    third = dg.materialize(
        [facts], partition_key="b.example", resources=resources, instance=instance
    )
    rows = warehouse.query(ROW_QUERY)
    assert set(rows[rows["site"] == "b.example"]["run_id"]) == {third.run_id}
    assert set(rows[rows["site"] == "b.example"]["code_version"]) == {"1.0+rules-one"}
    assert warehouse.row_count("produced_by", schema=PROVENANCE_SCHEMA) == 2


def test_data_versions_flow_through_the_lineage(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    instance = dg.DagsterInstance.ephemeral()
    resources = {"io_manager": WarehouseIOManager(warehouse=warehouse)}
    for site in ("a.example", "b.example"):
        dg.materialize([facts], partition_key=site, resources=resources, instance=instance)
    result = dg.materialize(
        [facts.to_source_asset(), matrix], resources=resources, instance=instance
    )
    assert result.success
    event = instance.get_latest_materialization_event(dg.AssetKey(["market", "matrix"]))
    assert event is not None
    mat = event.asset_materialization
    assert mat is not None
    assert mat.tags["dagster/code_version"] == "1.0+matrix"
    assert mat.tags.get("dagster/data_version")
    assert mat.metadata["code_version"].value == "1.0+matrix"
    assert mat.metadata["logic_versions"].value == group_logic_versions("market_research")
    upstream = [k for k in mat.tags if k.startswith("dagster/input_data_version/")]
    assert upstream, mat.tags  # the upstream facts' data version is recorded on the downstream
    row = warehouse.query(
        "SELECT code_version, run_id FROM evolution.produced_by WHERE table_name = 'market.matrix'"
    )
    assert row.to_dict("records") == [{"code_version": "1.0+matrix", "run_id": result.run_id}]
