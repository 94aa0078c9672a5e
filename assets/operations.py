"""Operations: what the platform knows about its own runs (the start of the operations group).

run_metadata copies runs, steps, materialisations, check results and failures from the Dagster
instance into the warehouse (schema ``operations``), incrementally and idempotently.
"""

import dagster as dg

from orchestration_project.run_metadata import SCHEMA, ingest
from resources.warehouse import WAREHOUSE_POOL, Warehouse

GROUP = "operations"


@dg.asset(group_name=GROUP, kinds={"python", "duckdb"}, pool=WAREHOUSE_POOL)
def run_metadata(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    """Run metadata from the Dagster instance, in warehouse tables ``operations.runs``,
    ``steps``, ``materializations``, ``check_results`` and ``failures``.

    Incremental: a stored cursor (the last run update ingested) means a re-run with nothing new
    adds nothing; a run that changed is replaced as a whole, so nothing is ever duplicated.
    """
    result = ingest(context.instance, warehouse)
    return dg.MaterializeResult(
        metadata={
            "runs_ingested": result.runs,
            "events_read": result.events,
            "rows_by_table": dg.MetadataValue.json(result.rows),
            "cursor": result.cursor or 0.0,
            "seconds": round(result.seconds, 3),
            "schema": SCHEMA,
        }
    )


operations_assets = [run_metadata]
