"""A job whose steps all write the same DuckDB file at once (used by test_warehouse)."""

from __future__ import annotations

import os

import dagster as dg
import pandas as pd

from resources.warehouse import DuckDBWarehouse, Warehouse, WarehouseIOManager

N_WRITERS = 4
ROWS = 2000


def _writer(i: int) -> dg.AssetsDefinition:
    @dg.asset(name=f"table_{i}", group_name="parallel")
    def _asset(warehouse: Warehouse) -> pd.DataFrame:
        df = pd.DataFrame({"writer": i, "n": range(ROWS)})
        # A direct append into one shared table, besides the IO manager's own table.
        warehouse.write_table("shared_log", df.head(100), mode="append")
        return df

    return _asset


writers = [_writer(i) for i in range(N_WRITERS)]


@dg.asset(group_name="parallel", deps=writers)
def combined(warehouse: Warehouse) -> pd.DataFrame:
    """Reads what all writers wrote."""
    return warehouse.query("SELECT count(*) AS n FROM shared_log")


def make_defs() -> dg.Definitions:
    """Definitions over the DuckDB file named by PARALLEL_WAREHOUSE_PATH."""
    wh = DuckDBWarehouse(path=os.environ["PARALLEL_WAREHOUSE_PATH"])
    return dg.Definitions(
        assets=[*writers, combined],
        jobs=[dg.define_asset_job("parallel_writes", executor_def=dg.multiprocess_executor)],
        resources={"warehouse": wh, "io_manager": WarehouseIOManager(warehouse=wh)},
    )


def parallel_writes_job() -> dg.JobDefinition:
    """The job, for dg.reconstructable."""
    return make_defs().resolve_job_def("parallel_writes")
