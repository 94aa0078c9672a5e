"""Self-healing recommendations: configuration changes the incident history argues for, queued
for a person to approve (``orchestration_project.operations.review``).

incidents, operations/runs, operations/fetch_attempts → config_recommendations (table
``operations.config_recommendations``).
"""

from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pandas as pd

from assets.operations.assets import GROUP, RUN_TABLE_KEYS, TABLE
from orchestration_project.operations.healing import Healer, incidents_frame
from orchestration_project.operations.recommendations import (
    ROW_COLUMNS,
    recommend,
    recommendations_frame,
)
from orchestration_project.operations.review import ReviewQueue, current_settings
from orchestration_project.operations.run_metadata import SCHEMA
from resources.coordination import CoordinationResource
from resources.fetching import HttpFetcher
from resources.warehouse import WAREHOUSE_POOL, Warehouse

# Fetch routes whose fetching steps read ``fetch_timeout_s:<route>`` from the operational
# settings: a timeout is recommended only for those, since applying it must change what runs.
TIMEOUT_SETTING_READERS: tuple[str, ...] = ("http",)


def _table(warehouse: Warehouse, name: str) -> pd.DataFrame | None:
    return (
        warehouse.read_table(name, schema=SCHEMA)
        if warehouse.table_exists(name, schema=SCHEMA)
        else None
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    metadata=TABLE,
    pool=WAREHOUSE_POOL,
    deps=["incidents", RUN_TABLE_KEYS["runs"], RUN_TABLE_KEYS["fetch_attempts"]],
)
def config_recommendations(
    context: dg.AssetExecutionContext,
    coordination: CoordinationResource,
    warehouse: Warehouse,
    http: HttpFetcher,
) -> dg.Output[pd.DataFrame]:
    """Configuration changes the incident history argues for, each with its evidence, expected
    effect and confidence, proposed to the review queue (``ops_review_queue``): a lower retry
    budget for a job whose incidents never recover after re-execution *b*, a lower default
    fan-out for a job whose concurrency the healer keeps halving, a longer fetch timeout for a
    route whose timeouts are the limit cutting slow pages off. Nothing changes until a person
    approves an item (``ReviewQueue.approve``), which writes the setting."""
    store = coordination.store()
    healer = Healer(store)
    settings = current_settings(store, configured=True)
    recs = recommend(
        incidents_frame(healer.incidents()),
        healer.actions(),
        settings,
        runs=_table(warehouse, "runs"),
        fetch_attempts=_table(warehouse, "fetch_attempts"),
        fetch_timeouts={
            r: t for r, t in {"http": http.timeout_s}.items() if r in TIMEOUT_SETTING_READERS
        },
        now=datetime.now(UTC),
    )
    queue = ReviewQueue(store)
    proposed = Counter(queue.propose(r) for r in recs)
    items = queue.items()
    status = dict(zip(items["item_id"], items["status"], strict=False))
    df = recommendations_frame(recs)
    df["status"] = [status.get(i, "") for i in df["item_id"]]
    context.log.info(f"{len(recs)} recommendations: {dict(proposed)}")
    shown = ["kind", "subject", "current", "proposed", "confidence", "status", "evidence"]
    return dg.Output(
        df[[*ROW_COLUMNS, "status"]],
        metadata={
            "recommendations": len(df),
            "proposed": dg.MetadataValue.json(dict(proposed)),
            "queue_by_status": dg.MetadataValue.json(items["status"].value_counts().to_dict()),
            "pending_review": int((items["status"] == "pending").sum()),
            "table": dg.MetadataValue.md(
                df[shown].to_markdown(index=False, floatfmt=".3g")
                if len(df)
                else "(no recommendation: the history argues for no change)"
            ),
            "effects": dg.MetadataValue.md(
                "\n".join(f"- `{r.setting}` → {r.proposed:g}: {r.effect}" for r in recs) or "(none)"
            ),
        },
    )
