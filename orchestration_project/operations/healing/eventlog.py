"""Reading failures and outcomes from the Dagster instance: a failed run's first error,
classified (:func:`read_run_failure`), the assets a re-execution must still produce, the asset
checks a run evaluated, and the logical root run a recovery belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from orchestration_project.operations.failures import classify_failure, root_error
from orchestration_project.operations.healing.schema import ROOT_TAG


def logical_root_run_id(run: dg.DagsterRun) -> str:
    """The run a recovery belongs to: Dagster's root run, or for a recovery launched by the
    remedy sensor (a new run, not a Dagster re-execution) the root it names in its tags."""
    return run.tags.get(ROOT_TAG) or run.root_run_id or run.run_id


@dataclass(frozen=True)
class RunFailure:
    """The first error of a failed run, classified."""

    run_id: str
    root_run_id: str
    job_name: str
    step_key: str | None
    error_class: str
    message: str
    failure_class: str
    at: datetime


def _engine_error(instance: dg.DagsterInstance, run_id: str) -> Any:
    """The last error an engine event of ``run_id`` carries (None: none does)."""
    found = None
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = rec.dagster_event.event_specific_data if rec.dagster_event else None
        err = getattr(data, "error", None)
        if err is not None:
            found = root_error(err)
    return found


def read_run_failure(instance: dg.DagsterInstance, run_id: str) -> RunFailure:
    """The first step failure (else the run failure) of ``run_id``, with its class."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        raise KeyError(f"no run {run_id}")
    ET = dg.DagsterEventType
    first: tuple[Any, Any] | None = None
    run_fail: tuple[Any, Any] | None = None
    for rec in instance.all_logs(run_id, of_type={ET.STEP_FAILURE, ET.RUN_FAILURE}):
        ev = rec.dagster_event
        if ev is None:
            continue
        if ev.event_type == ET.STEP_FAILURE and first is None:
            first = (rec, ev)
        elif ev.event_type == ET.RUN_FAILURE:
            run_fail = (rec, ev)
    rec, ev = first or run_fail or (None, None)
    if rec is None:
        # A run marked failed with no failure event (e.g. its worker died): the run record.
        record = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))[0]
        at = record.end_time or record.update_timestamp.timestamp()
        cls, msg, step = "RunWorkerLost", "run failed without a failure event", None
    else:
        err = root_error(getattr(ev.event_specific_data, "error", None))
        cls = (err.cls_name if err else None) or "unknown"
        msg = ((err.message if err else ev.message) or "").strip()
        at, step = rec.timestamp, ev.step_key
        if ev.event_type == ET.RUN_FAILURE and err is None:
            cls = "RunFailure"
            # A run failed from outside its execution (its code would not load, its worker
            # died): the cause is in the engine event that reported it.
            engine = _engine_error(instance, run_id)
            if engine is not None:
                cls, msg = engine.cls_name or cls, (engine.message or msg).strip()
    kind = classify_failure(cls, msg)
    return RunFailure(
        run_id=run_id,
        root_run_id=logical_root_run_id(run),
        job_name=run.job_name,
        step_key=step,
        error_class=cls,
        message=msg[:2000],
        failure_class=kind.failure_class,
        at=datetime.fromtimestamp(at, UTC),
    )


def unfinished_assets(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetKey]:
    """Assets planned in ``run_id`` but not materialised: what a re-execution from failure
    must produce."""
    ET = dg.DagsterEventType
    planned: list[dg.AssetKey] = []
    done: set[dg.AssetKey] = set()
    for rec in instance.all_logs(
        run_id, of_type={ET.ASSET_MATERIALIZATION_PLANNED, ET.ASSET_MATERIALIZATION}
    ):
        ev = rec.dagster_event
        if ev is None or ev.asset_key is None:
            continue
        if ev.event_type == ET.ASSET_MATERIALIZATION_PLANNED:
            planned.append(ev.asset_key)
        else:
            done.add(ev.asset_key)
    return [k for k in dict.fromkeys(planned) if k not in done]


def check_outcomes(instance: dg.DagsterInstance, run_id: str) -> tuple[int, list[str]]:
    """(checks evaluated, names of the failed ones) in ``run_id``."""
    ET = dg.DagsterEventType
    n, failed = 0, []
    for rec in instance.all_logs(run_id, of_type={ET.ASSET_CHECK_EVALUATION}):
        data = rec.dagster_event.event_specific_data
        n += 1
        if not data.passed:
            failed.append(f"{data.asset_key.to_user_string()}:{data.check_name}")
    return n, failed
