"""Today's migrations and jobs on the previous release's warehouse and run configs.

The fixture ``tests/fixtures/release_v0_1_0`` was written by ``scripts/release_snapshot.py``
from release 0.1.0's own demo and run-metadata ingestion (CI needs no git tag).
"""

import importlib
import json
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from orchestration_project.common.migrations import apply_migrations, compatibility_report
from orchestration_project.operations.run_metadata import ingest, read_cursor
from orchestration_project.operations.run_metadata.migrations import MIGRATIONS
from resources.migrations import WAREHOUSE_MIGRATIONS
from resources.warehouse import DuckDBWarehouse
from tests.conftest import demo_resources

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "release_v0_1_0"
SCHEMA = json.loads((FIXTURE / "schema.json").read_text())
PREVIOUS = {t: spec["columns"] for t, spec in SCHEMA.items()}


def _old_warehouse(path: Path) -> Path:
    """The previous release's warehouse, rebuilt from the fixture's Parquet files."""
    with duckdb.connect(str(path)) as conn:
        for qualified in SCHEMA:
            s, t = qualified.split(".")
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{s}"')
            src = FIXTURE / "warehouse" / f"{qualified}.parquet"
            conn.execute(f'CREATE TABLE "{s}"."{t}" AS SELECT * FROM read_parquet(\'{src}\')')
    return path


def _counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {q: conn.execute(f"SELECT count(*) FROM {q}").fetchone()[0] for q in SCHEMA}


def test_the_fixture_is_the_previous_release_as_written(tmp_path: Path) -> None:
    with duckdb.connect(str(_old_warehouse(tmp_path / "w.duckdb"))) as conn:
        assert _counts(conn) == {q: spec["rows"] for q, spec in SCHEMA.items()}
        assert compatibility_report(conn, PREVIOUS).compatible
    assert SCHEMA["operations.runs"]["rows"] >= 1 and "market_research.extracted_facts" in SCHEMA


def test_migrations_on_the_previous_warehouse_lose_nothing_and_stay_readable(
    tmp_path: Path,
) -> None:
    path = _old_warehouse(tmp_path / "w.duckdb")
    with duckdb.connect(str(path)) as conn:
        before = {q: conn.execute(f"SELECT * FROM {q}").df() for q in SCHEMA}
        applied = apply_migrations(conn, WAREHOUSE_MIGRATIONS, previous_schema=PREVIOUS)
        assert [m.version for m in applied] == [m.version for m in WAREHOUSE_MIGRATIONS]
        assert all(m.note.startswith("backward compatible (checked") for m in applied)
        report = compatibility_report(conn, PREVIOUS)
        assert report.compatible, report
        assert report.columns_checked == sum(len(c) for c in PREVIOUS.values())
        for q, old in before.items():  # every row and every old column, values unchanged
            now = conn.execute(f"SELECT * FROM {q}").df()
            assert len(now) == len(old), q
            assert list(old.columns) == list(now.columns)[: len(old.columns)], q
            assert now[list(old.columns)].equals(old), q
        assert apply_migrations(conn, WAREHOUSE_MIGRATIONS) == []
        facts = conn.execute("SELECT * FROM market_research.extracted_facts").df()
        assert "rule_set" in facts.columns and facts["rule_set"].isna().all()


def test_todays_ingestion_runs_on_the_previous_warehouse(tmp_path: Path) -> None:
    path = _old_warehouse(tmp_path / "w.duckdb")
    wh = DuckDBWarehouse(path=str(path))
    old_cursor = read_cursor(wh)
    assert old_cursor is not None  # the previous release's cursor is read as is

    @dg.asset
    def new_asset() -> int:
        return 1

    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert dg.materialize([new_asset], instance=instance).success
        result = ingest(instance, wh)
    assert result.runs == 1 and result.cursor is not None and result.cursor > old_cursor
    with duckdb.connect(str(path), read_only=True) as conn:
        counts = _counts(conn)
        assert counts["operations.runs"] == SCHEMA["operations.runs"]["rows"] + 1
        assert counts["operations.steps"] >= SCHEMA["operations.steps"]["rows"] + 1
        assert conn.execute("SELECT advanced_at FROM operations.ingest_cursor").fetchone()[0]
        assert compatibility_report(conn, PREVIOUS).compatible
        versions = conn.execute("SELECT version FROM evolution.schema_migrations").fetchall()
        assert sorted(v for (v,) in versions) == [m.version for m in MIGRATIONS]


def test_the_previous_releases_run_configs_load_into_todays_config_classes() -> None:
    old = yaml.safe_load((FIXTURE / "run_configs.yaml").read_text())
    assert old["release"] == "v0.1.0" and old["config_classes"]
    renamed = {"assets.market_research.assets.ResearchConfig": {"topic"}}
    for dotted, fields in old["config_classes"].items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DeprecationWarning)
            module, _, name = dotted.rpartition(".")
            cls = getattr(importlib.import_module(module), name)
            required = {  # required fields have no default to record (all strings today)
                f: "x" for f, info in cls.model_fields.items() if info.is_required()
            }
            loaded = cls(**{**required, **fields})
        for field in fields:
            assert field in type(loaded).model_fields, f"{dotted}.{field}"
        deprecated = {
            str(w.message).split("'")[1] for w in caught if w.category is DeprecationWarning
        }
        assert deprecated == renamed.get(dotted, set()), dotted
    config = importlib.import_module("assets.market_research.assets").ResearchConfig
    assert config(topic="crm software").market_topic == "crm software"


@pytest.mark.slow
def test_the_previous_releases_recorded_run_configs_are_valid_for_todays_jobs() -> None:
    from orchestration_project.definitions import defs

    old = yaml.safe_load((FIXTURE / "run_configs.yaml").read_text())
    assert len(old["runs"]) >= 2
    for run in old["runs"]:
        job = defs.resolve_job_def(run["job_name"])
        dg.validate_run_config(job, run["run_config"])


def test_todays_market_research_job_runs_on_the_previous_warehouse_with_an_old_run_config(
    demo_world, tmp_path: Path
) -> None:
    """The case the migrations exist for: today's extraction upserts its sites' rows, with the
    new ``rule_set`` column, into the table 0.1.0 wrote; the old sites' rows stay."""
    from assets.market_research import all_sites_tags, register_sites, source_sites
    from assets.market_research.assets import market_research_assets

    data = tmp_path / "data"
    data.mkdir()
    _old_warehouse(data / "warehouse.duckdb")
    old_facts = SCHEMA["market_research.extracted_facts"]["rows"]
    resources = demo_resources(demo_world, data)
    old = yaml.safe_load((FIXTURE / "run_configs.yaml").read_text())
    run_config = next(r for r in old["runs"] if "ops" in r["run_config"])["run_config"]
    with dg.instance_for_test() as instance, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        sites = register_sites(instance, source_sites(resources["market_sources"]))
        result = dg.materialize(
            market_research_assets,
            resources=resources,
            instance=instance,
            tags=all_sites_tags(sites),
            run_config=run_config,
        )
    assert result.success
    assert any("'topic' was renamed to 'market_topic'" in str(w.message) for w in caught)
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
        facts = conn.execute("SELECT * FROM market_research.extracted_facts").df()
        versions = conn.execute("SELECT version FROM evolution.schema_migrations").fetchall()
        report = compatibility_report(conn, PREVIOUS)
    assert sorted(v for (v,) in versions) == [m.version for m in WAREHOUSE_MIGRATIONS]
    assert report.compatible, report
    kept = facts[facts["rule_set"].isna()]
    new = facts[facts["rule_set"].notna()]
    assert len(kept) == old_facts  # 0.1.0's rows (other sites' partitions) are all still there
    assert set(new["site"]) == set(sites) and len(new) > 0
    assert not set(kept["site"]) & set(sites)
    # The README's query: each new fact joined to the write that produced it.
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
        traced = conn.execute(
            "SELECT f.fact_id, p.run_id, p.logic_versions FROM market_research.extracted_facts f "
            "JOIN evolution.produced_by p ON p.table_name = 'market_research.extracted_facts' "
            "AND p.partition_key = f.site"
        ).df()
    assert len(traced) == len(new) and set(traced["run_id"]) == {result.run_id}
    assert "extraction rules" in json.loads(traced["logic_versions"].iloc[0])
