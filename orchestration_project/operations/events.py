"""Run events per dimension, read from the warehouse: the input of health metrics and alerting.

Each frame has one row per event with columns ``at``, ``entity``, ``ok`` and ``latency_s``
(and ``cost_usd`` for agents), for the dimensions ``job`` (runs), ``asset`` (steps), ``agent``
(agent actions) and ``route`` (fetch attempts). A dimension whose table does not exist yet is
left out.
"""

from __future__ import annotations

import pandas as pd

from orchestration_project.common.warehouse import TableStore
from orchestration_project.operations.healing import OP_EVENT_COLUMNS, STEP_RETRY
from orchestration_project.operations.run_metadata import SCHEMA

_FALLBACK_SCHEMA = "market_research"
"""Where agent actions and fetch attempts live before the first run-metadata ingestion."""


def _schema_of(warehouse: TableStore, table: str) -> str | None:
    """``operations`` if run_metadata consolidated ``table`` there, else the market research
    schema if it has the table, else None."""
    for schema in (SCHEMA, _FALLBACK_SCHEMA):
        if warehouse.table_exists(table, schema=schema):
            return schema
    return None


def events_from_warehouse(warehouse: TableStore) -> dict[str, pd.DataFrame]:
    """Event frames (at, entity, ok, latency_s, cost_usd) per dimension (job, asset, agent,
    route), from the operations tables and the domains' agent tables that exist."""
    out: dict[str, pd.DataFrame] = {}
    if warehouse.table_exists("runs", schema=SCHEMA):
        runs = warehouse.read_table("runs", schema=SCHEMA)
        runs = runs[runs["status"].isin(["SUCCESS", "FAILURE", "CANCELED"])]
        out["job"] = pd.DataFrame(
            {
                "at": runs["ended_at"],
                "entity": runs["job_name"],
                "ok": runs["status"] == "SUCCESS",
                "latency_s": runs["duration_s"],
            }
        )
    if warehouse.table_exists("steps", schema=SCHEMA):
        steps = warehouse.read_table("steps", schema=SCHEMA)
        steps = steps[steps["status"].isin(["SUCCESS", "FAILURE"])]
        out["asset"] = pd.DataFrame(
            {
                "at": steps["ended_at"],
                "entity": steps["step_key"],
                "ok": steps["status"] == "SUCCESS",
                "latency_s": steps["duration_s"],
            }
        )
    # Agent actions and fetch attempts of every domain, consolidated by run_metadata into
    # operations.* (before the first ingestion: the market research tables themselves).
    agent_schema = _schema_of(warehouse, "agent_actions")
    fetch_schema = _schema_of(warehouse, "fetch_attempts")
    if agent_schema:
        acts = warehouse.read_table("agent_actions", schema=agent_schema)
        out["agent"] = pd.DataFrame(
            {
                "at": acts["started_at"],
                "entity": acts["role"],
                "ok": ~acts["outcome"].astype(str).str.startswith("error"),
                "latency_s": acts["duration_s"],
                "cost_usd": acts["cost_usd"],
            }
        )
    if fetch_schema:
        att = warehouse.read_table("fetch_attempts", schema=fetch_schema)
        out["route"] = pd.DataFrame(
            {
                "at": att["attempted_at"],
                "entity": att["route"],
                "ok": att["outcome"] == "ok",
                "latency_s": att["latency_s"],
            }
        )
    return out


def silent_retries(warehouse: TableStore) -> pd.DataFrame:
    """Steps that failed and then succeeded on a retry of the same run (``attempts`` > 1 in
    ``operations.steps``): the step's retry policy healed something without an incident, a
    silent remedy like a route switch. Returned in the columns of
    ``healing.OP_EVENT_COLUMNS`` (kind ``step_retry``, subject the step's asset, the job in the
    detail), at the step's end, so that alerts about that step or job can be confirmed by it."""
    if not (
        warehouse.table_exists("steps", schema=SCHEMA)
        and warehouse.table_exists("runs", schema=SCHEMA)
    ):
        return pd.DataFrame(columns=OP_EVENT_COLUMNS)
    # Only the healed steps leave the warehouse (the alerts step reads these tables already).
    healed = warehouse.query(
        f"SELECT s.run_id, s.step_key, s.ended_at, s.attempts, r.job_name "
        f"FROM {SCHEMA}.steps s LEFT JOIN {SCHEMA}.runs r ON r.run_id = s.run_id "
        "WHERE s.status = 'SUCCESS' AND s.attempts > 1"
    )
    return pd.DataFrame(
        {
            "event_id": [f"{r.run_id}:{r.step_key}" for r in healed.itertuples()],
            "at": pd.to_datetime(healed["ended_at"], utc=True),
            "kind": STEP_RETRY,
            "subject_kind": "asset",
            "subject": healed["step_key"],
            "severity": "low",
            "run_id": healed["run_id"],
            "detail": [
                {"job": r.job_name, "asset": r.step_key, "attempts": int(r.attempts)}
                for r in healed.itertuples()
            ],
        },
        columns=OP_EVENT_COLUMNS,
    )


__all__ = ["events_from_warehouse", "silent_retries"]
