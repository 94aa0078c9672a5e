"""Incident-response state in the coordination store: the SQLAlchemy tables (incidents,
actions, circuit breakers, settings), the remedy names and run tags, :func:`ensure_ops_tables`
and :class:`OpsSettings` (small operational settings the healer changes and steps obey)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import aware, utcnow
from orchestration_project.operations.failures import (
    BAD_INPUT,
    CODE,
    RESOURCE,
    TIMEOUT,
    TRANSIENT,
    UPSTREAM,
)

ops_metadata = sa.MetaData()

incidents_table = sa.Table(
    "ops_incidents",
    ops_metadata,
    sa.Column("incident_id", sa.String(80), primary_key=True),
    sa.Column("source", sa.String(40), nullable=False),  # run_failure | alert | asset_check
    sa.Column("subject_kind", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("job_name", sa.String(300)),
    sa.Column("root_run_id", sa.String(80), unique=True),
    sa.Column("step_key", sa.String(300)),
    sa.Column("failure_class", sa.String(40)),
    sa.Column("error_class", sa.String(200)),
    sa.Column("message", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recovered_at", sa.DateTime(timezone=True)),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("consistency", sa.String(20)),
    sa.Column("report_path", sa.String(1000)),
)

actions_table = sa.Table(
    "ops_incident_actions",
    ops_metadata,
    sa.Column("action_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(80), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # done | planned | launched | failed
    sa.Column("due_at", sa.DateTime(timezone=True)),
    sa.Column("run_id", sa.String(80)),
    sa.Column("detail", sa.JSON),
    sa.UniqueConstraint("incident_id", "action", "run_id", name="uq_action_per_run"),
)

breakers_table = sa.Table(
    "ops_circuit_breakers",
    ops_metadata,
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("state", sa.String(20), nullable=False),  # closed | open | half_open
    sa.Column("failures", sa.JSON, nullable=False),  # recent failure times (ISO)
    sa.Column("opened_at", sa.DateTime(timezone=True)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text),
)

settings_table = sa.Table(
    "ops_settings",
    ops_metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text),
)

op_events_table = sa.Table(
    "ops_events",
    ops_metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    # route_switch | breaker_trip | source_skipped | quarantine_spike | predicted_failure_action
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("subject_kind", sa.String(40), nullable=False),  # job | asset | route | source
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),  # low for silent remedies
    sa.Column("run_id", sa.String(80)),
    sa.Column("detail", sa.JSON),
)
"""Operational events: silent remedies (a route switched, a breaker tripped, a source skipped,
a quarantine spike, an action taken on a predicted failure). Low severity; they never page
anyone, but they can confirm an alert about the same subject (``monitoring``)."""

overrides_table = sa.Table(
    "ops_overrides",
    ops_metadata,
    sa.Column("override_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False, index=True),  # e.g. max_parallel:<job>
    sa.Column("kind", sa.String(40), nullable=False),  # concurrency | breaker | route | skip_source
    sa.Column("value", sa.JSON),
    sa.Column("baseline", sa.JSON),
    sa.Column("reason", sa.Text),
    sa.Column("incident_id", sa.String(80)),
    sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("rule", sa.JSON),  # the recovery rule, e.g. {"quiet_runs": 3}
    sa.Column("status", sa.String(20), nullable=False),  # active | restored | expired | replaced
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("end_reason", sa.Text),
)
"""Settings that a remedy changed, with the rule that undoes them (``healing.overrides``)."""

review_table = sa.Table(
    "ops_review_queue",
    ops_metadata,
    sa.Column("item_id", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),  # e.g. config_change
    sa.Column("subject", sa.String(300), nullable=False),
    sa.Column("proposal", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON),
    sa.Column("status", sa.String(20), nullable=False),  # pending | approved | rejected | applied
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("reviewer", sa.String(200)),
    sa.Column("note", sa.Text),
    sa.Column("applied_at", sa.DateTime(timezone=True)),
)
"""Changes waiting for a person (``operations.review``): approve applies and records them."""

REEXECUTE = "reexecute_from_failure"
LOWER_CONCURRENCY = "lower_concurrency"
ESCALATE = "escalate"
REMEDY_BY_CLASS: dict[str, str] = {
    TRANSIENT: REEXECUTE,
    TIMEOUT: REEXECUTE,
    RESOURCE: LOWER_CONCURRENCY,
    BAD_INPUT: ESCALATE,
    UPSTREAM: ESCALATE,
    CODE: ESCALATE,
}
INCIDENT_TAG = "orchestration/incident"
ACTION_TAG = "orchestration/remedy_action"
ROOT_TAG = "orchestration/root_run_id"  # the original run of a recovery launched by a sensor
OPEN_STATUSES = ("open", "remediating")
CHECK_SCAN_FIRST_LOOKBACK = timedelta(days=1)


def _aware(d: datetime | None) -> datetime | None:
    """``aware`` that also reads a missing value (NaT from a DataFrame) as None."""
    return None if d is None or pd.isna(d) else aware(d)


def ensure_ops_tables(store: CoordinationStore) -> None:
    """Create the incident, action, breaker, settings, event, override and review tables if
    missing."""
    store.create_tables(ops_metadata)


class OpsSettings:
    """Small operational settings the healer changes and steps obey (e.g. concurrency)."""

    def __init__(self, store: CoordinationStore) -> None:
        self.store = store
        ensure_ops_tables(store)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` or ``default``."""
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(settings_table.c.value).where(settings_table.c.key == key)
            ).first()
        return default if row is None else row[0]

    def set(self, key: str, value: Any, *, reason: str = "") -> None:
        """Set ``key`` (insert or replace)."""
        with self.store.transaction() as conn:
            conn.execute(sa.delete(settings_table).where(settings_table.c.key == key))
            conn.execute(
                settings_table.insert().values(
                    key=key, value=value, changed_at=utcnow(), reason=reason
                )
            )

    def max_parallel(self, job_name: str, default: int) -> int:
        """The concurrency a job's fan-out may use: its own ``default``, capped by the healer
        under resource exhaustion. The default is remembered, so the healer halves what the
        job really uses."""
        if self.get(f"default_parallel:{job_name}") != default:
            self.set(f"default_parallel:{job_name}", default, reason="observed")
        return int(min(default, self.get(f"max_parallel:{job_name}", default)))
