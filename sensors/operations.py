"""Incident response: the run-failure sensor that opens incidents and the sensor that carries
out their remedies. Both run by default when the Dagster daemon runs (``dagster dev``)."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.storage.tags import PARENT_RUN_ID_TAG, ROOT_RUN_ID_TAG

import assets
from assets.operations.prediction import load_failure_predictor
from ml.failure_prediction import FeatureConfig
from orchestration_project.operations.healing import (
    ACTION_TAG,
    INCIDENT_TAG,
    ROOT_TAG,
    Healer,
    newest_run_id,
    unfinished_assets,
)
from orchestration_project.operations.incident_report import write_pending_reports
from orchestration_project.operations.prediction import run_prediction, scorer_or_baseline
from resources.alerting import AlertingResource
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.tracking import MlflowTracking
from resources.warehouse import Warehouse


def _domain_jobs() -> list:
    """Every job of every domain package under ``assets/``: a new domain's jobs are healed
    with no change here."""
    jobs: dict[str, Any] = {}
    for mod in pkgutil.iter_modules(assets.__path__):
        domain = importlib.import_module(f"assets.{mod.name}")
        for job in getattr(getattr(domain, "defs", None), "jobs", None) or []:
            jobs[job.name] = job
    return [jobs[name] for name in sorted(jobs)]


HEALED_JOBS = _domain_jobs()


@dg.run_failure_sensor(
    name="incident_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description="Opens (or joins) an incident for every failed run, classifies the failure "
    "and plans its remedy.",
)
def incident_sensor(
    context: dg.RunFailureSensorContext, coordination: CoordinationResource
) -> None:
    """Open an incident for the failed run and plan its remedy (see ``healing.py``)."""
    incident = Healer(coordination.store()).on_run_failure(
        context.instance, context.dagster_run.run_id
    )
    context.log.info(
        f"incident {incident.incident_id}: {incident.failure_class}, status {incident.status}"
    )


@dg.sensor(
    name="remedy_sensor",
    jobs=HEALED_JOBS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Launches due re-executions from failure, verifies recoveries with the asset "
    "checks and writes post-incident reports.",
)
def remedy_sensor(
    context: dg.SensorEvaluationContext,
    coordination: CoordinationResource,
    reports_dir: ReportsDir,
) -> dg.SensorResult:
    """Re-execute what failed once its backoff has passed; close recovered incidents.

    A planned re-execution is recorded as launched only once Dagster has its run (found by
    its action tag on a later tick): until then every tick requests it again under the same
    run key, which Dagster launches at most once, so a tick that dies between planning and
    submission loses nothing. The request carries Dagster's own parent/root run tags, so the
    failed run's page lists the recovery in its run group; the recovery's own page does not,
    since Dagster 1.13 creates sensor runs with ``root_run_id=None``. The scan for failed checks of
    successful runs keeps its position in this sensor's cursor.
    """
    healer = Healer(coordination.store())
    instance = context.instance
    healer.link_launched_runs(instance)
    requests = []
    for due in healer.due_reexecutions():
        parent = instance.get_run_by_id(due["parent_run_id"])
        if parent is None:
            continue
        keys = _whole_steps(context, unfinished_assets(instance, parent.run_id))
        root = parent.tags.get(ROOT_TAG) or parent.root_run_id or parent.run_id
        requests.append(
            dg.RunRequest(
                run_key=f"remedy-{due['action_id']}",
                job_name=parent.job_name,
                asset_selection=keys or None,
                tags={
                    **_partition_tags(parent),  # the same sites (partitions) as the failed run
                    INCIDENT_TAG: due["incident_id"],
                    ACTION_TAG: str(due["action_id"]),
                    ROOT_TAG: root,
                    "orchestration/parent_run_id": parent.run_id,
                    # Dagster's run-group tags: the UI shows the recovery beside its root.
                    PARENT_RUN_ID_TAG: parent.run_id,
                    ROOT_RUN_ID_TAG: root,
                },
            )
        )
    healer.check_recoveries(instance)
    since = (
        datetime.fromtimestamp(float(context.cursor), UTC) - timedelta(minutes=1)
        if context.cursor
        else None
    )
    healer.scan_checks(instance, since=since)  # failed non-blocking checks of successful runs
    write_pending_reports(instance, healer, reports_dir.folder("incidents"))
    cursor = str(healer.scan_cursor) if healer.scan_cursor is not None else context.cursor
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _partition_tags(run: dg.DagsterRun) -> dict[str, str]:
    """The failed run's partition tags (a single partition or a range)."""
    keep = ("dagster/partition", "dagster/asset_partition_range_start")
    keep += ("dagster/asset_partition_range_end",)
    return {k: v for k, v in run.tags.items() if k in keep}


def _whole_steps(context: dg.SensorEvaluationContext, keys: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """``keys`` plus the other outputs of any multi-asset step among them, which cannot run in
    part (a step that failed after yielding one of its tables re-runs whole)."""
    repo = context.repository_def
    if repo is None or not keys:
        return keys
    by_key = repo.assets_defs_by_key
    out = dict.fromkeys(keys)
    for key in keys:
        ad = by_key.get(key)
        if ad is not None and not ad.can_subset:
            out.update(dict.fromkeys(k for k in ad.keys if k in by_key))
    return list(out)


# Windows of the baseline rule when no trained model can be loaded (a model brings its own).
BASELINE_FEATURES = FeatureConfig(window_s=8.0, horizon_s=12.0)


@dg.sensor(
    name="failure_prediction_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Scores leading indicators (latency and error trends per source, facts per "
    "page, warehouse lock waits, breakers) and sends a warning before a predicted failure; "
    "with the operational setting prediction:act on, it also acts: trips the source's breaker "
    "or lowers writers' concurrency.",
)
def failure_prediction_sensor(
    context: dg.SensorEvaluationContext,
    coordination: CoordinationResource,
    warehouse: Warehouse,
    alerting: AlertingResource,
    tracking: MlflowTracking,
) -> dg.SkipReason:
    """Predict failures within the horizon and warn, or act when ``prediction:act`` is on
    (``operations.prediction``); the registered model, or the error-rate baseline (with a
    warning) when it cannot be loaded."""
    scorer = scorer_or_baseline(lambda: load_failure_predictor(tracking), context.log)
    cfg = getattr(scorer, "config", BASELINE_FEATURES)
    outcome = run_prediction(
        coordination.store(),
        scorer,
        warehouse=warehouse,
        warehouse_path=getattr(warehouse, "path", None),
        cfg=cfg,
        model=type(scorer).__name__,
        watermark=newest_run_id(context.instance),
    )
    if outcome.notifications:
        alerting.deliver(outcome.notifications, logger=context.log)
    warned = int(outcome.scores["warn"].sum()) if len(outcome.scores) else 0
    return dg.SkipReason(
        f"{len(outcome.scores)} subject(s) scored, {warned} predicted to fail, "
        f"{len(outcome.actions)} action(s): "
        + (", ".join(f"{a['action']} {a['subject']}" for a in outcome.actions) or "none")
    )


defs = dg.Definitions(sensors=[incident_sensor, remedy_sensor, failure_prediction_sensor])
