"""The DuckDB warehouse under parallel writers from several processes."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from resources.warehouse import (
    DuckDBWarehouse,
    WarehouseError,
    WarehouseIOManager,
    WarehouseLockedError,
    partitioned_by,
)
from tests.backends import backends, pg_url
from tests.resources import parallel_warehouse_job


def _append(path: str, i: int, n: int) -> None:
    wh = DuckDBWarehouse(path=path)
    for j in range(n):
        wh.write_table("events", pd.DataFrame({"proc": [i] * 50, "batch": [j] * 50}), mode="append")


def test_processes_appending_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "wh.duckdb")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(path, i, 10)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    df = DuckDBWarehouse(path=path).query("SELECT proc, count(*) AS n FROM events GROUP BY proc")
    assert sorted(df["n"].tolist()) == [500, 500, 500, 500]


def test_parallel_dagster_steps_write_the_same_file(tmp_path: Path, monkeypatch) -> None:
    """Four steps in four processes (multiprocess executor, no pool limit) write at once."""
    path = str(tmp_path / "parallel.duckdb")
    monkeypatch.setenv("PARALLEL_WAREHOUSE_PATH", path)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        result = dg.execute_job(
            dg.reconstructable(parallel_warehouse_job.parallel_writes_job),
            instance=instance,
            run_config={"execution": {"config": {"max_concurrent": 4}}},
        )
        assert result.success
    wh = DuckDBWarehouse(path=path)
    n = parallel_warehouse_job.N_WRITERS
    for i in range(n):
        assert wh.query(f"SELECT count(*) AS n FROM table_{i}")["n"].iloc[0] == 2000
    assert wh.query("SELECT count(*) AS n FROM shared_log")["n"].iloc[0] == 100 * n
    assert wh.read_table("combined")["n"].iloc[0] == 100 * n


def test_a_writer_holding_the_lock_too_long_gives_a_clear_error(tmp_path: Path) -> None:
    path = str(tmp_path / "locked.duckdb")
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        wh = DuckDBWarehouse(path=path, lock_timeout_s=0.5)
        with pytest.raises(WarehouseLockedError, match="stayed locked"):
            wh.write_table("t", pd.DataFrame({"a": [1]}))
    finally:
        release.set()
        holder.join(30)
    # Once released, the write goes through.
    DuckDBWarehouse(path=path).write_table("t", pd.DataFrame({"a": [1]}))


def _hold(path: str, ready, release) -> None:  # noqa: ANN001
    conn = duckdb.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS x(a INT)")
    ready.set()
    release.wait(60)
    conn.close()


def test_a_corrupt_warehouse_file_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.duckdb"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(WarehouseError, match="cannot be opened|cannot open"):
        DuckDBWarehouse(path=str(path)).write_table("t", pd.DataFrame({"a": [1]}))
    assert path.stat().st_size == 8192  # the file is left as it was, for inspection


def test_table_names_are_validated(tmp_path: Path) -> None:
    wh = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    with pytest.raises(WarehouseError, match="invalid"):
        wh.write_table('x"; DROP TABLE y; --', pd.DataFrame({"a": [1]}))


@pytest.mark.parametrize("backend", backends("duckdb"))
def test_both_warehouses_round_trip_a_table(backend: str, tmp_path: Path) -> None:
    from resources.warehouse import PostgresWarehouse

    wh = (
        DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
        if backend == "duckdb"
        else PostgresWarehouse(url=pg_url())
    )
    table = f"round_trip_{os.getpid()}"
    df = pd.DataFrame({"product": ["a", "b"], "price": [9.5, 12.0]})
    assert wh.write_table(table, df, schema="market_research") == 2
    wh.write_table(table, df.head(1), schema="market_research", mode="append")
    back = wh.read_table(table, schema="market_research")
    assert sorted(back["product"]) == ["a", "a", "b"]
    assert wh.table_exists(table, schema="market_research")
    assert not wh.table_exists("nope_" + table, schema="market_research")
    new_a = pd.DataFrame({"product": ["a"], "price": [7.0]})
    wh.upsert_rows(table, new_a, key="product", keys=["a"], schema="market_research")
    back = wh.read_table(table, schema="market_research").sort_values("product")
    assert back.values.tolist() == [["a", 7.0], ["b", 12.0]]


@pytest.mark.postgres
def test_postgres_writers_of_the_same_rows_at_once_leave_one_copy() -> None:
    """Two attempts of one step writing the same keys at the same moment (a step redelivered
    while its first attempt still writes, a resumed run beside its dead run worker's orphan
    steps): each upsert deletes, then inserts, so without serialising them both would delete
    before either inserts and the rows would be doubled."""
    from resources.warehouse import PostgresWarehouse
    from tests.conftest import run_at_once

    wh = PostgresWarehouse(url=pg_url())
    table = f"same_rows_{os.getpid()}"
    df = pd.DataFrame({"k": [f"key{i}" for i in range(200)], "v": range(200)})
    wh.write_table(table, df.head(0), schema="market_research")
    for _round in range(5):
        errors = run_at_once(
            lambda: wh.upsert_rows(
                table, df, key="k", keys=list(df["k"]), schema="market_research"
            ),
            4,
        )
        assert not errors, errors
        back = wh.read_table(table, schema="market_research")
        assert len(back) == 200 and back["k"].is_unique, back["k"].value_counts().head()


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["site-a"]), metadata=partitioned_by("site"))
def nothing_found() -> pd.DataFrame:
    """A per-site step that found nothing: no rows, but its columns."""
    return pd.DataFrame(
        {"site": pd.Series([], dtype=object), "product": pd.Series([], dtype=object), "price": []}
    )


@dg.asset
def summary(nothing_found: pd.DataFrame) -> pd.DataFrame:
    """A downstream step that needs the columns."""
    return pd.DataFrame({"priced": [int(nothing_found["price"].count())]})


def test_a_step_after_an_upstream_that_stored_no_rows_gets_an_empty_frame(
    tmp_path: Path,
) -> None:
    """An empty frame creates no table (it has no column types); the next step gets an empty
    frame with the upstream's columns instead of a missing-table error."""
    warehouse = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    resources = {"io_manager": WarehouseIOManager(warehouse=warehouse), "warehouse": warehouse}
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize(
        [nothing_found], resources=resources, instance=instance, partition_key="site-a"
    ).success
    result = dg.materialize(
        [nothing_found.to_source_asset(), summary], resources=resources, instance=instance
    )
    assert result.success
    assert not warehouse.table_exists("nothing_found")
    assert list(result.output_for_node("summary")["priced"]) == [0]
