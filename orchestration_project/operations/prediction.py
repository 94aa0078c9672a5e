"""Predictive failure detection, the domain side: leading indicators, scenario traces, acting.

* Indicators (:func:`read_indicators`): per source, the latency and outcome of every fetch
  attempt (``canary.fetch_attempts``) and the facts each fetched page yielded
  (``canary.fact_history_rows``); per warehouse, every lock wait its writers recorded
  (:func:`record_lock_wait`, called by the DuckDB warehouse when it had to wait for another
  process's lock; a JSON-lines file beside the database, since a locked warehouse cannot hold
  its own wait times); the circuit breakers of the coordination store. All as the observation
  frame of :mod:`ml.failure_prediction` (subjects ``source:<host>`` and ``warehouse``).
* Traces (:func:`collect_traces`): the degradation scenarios (``degrade``, ``decay`` on
  demo-world sites, ``lock_growth`` on a DuckDB file) run for real while probes fetch, extract
  and write as the canary does, recording the same indicators and when each probe failed the way
  a canary step fails (a fetch failing three times in a row, a page yielding no facts, a write
  timing out on the lock). The model trains on them.
* Acting (:func:`act_on_predictions`): a source predicted to fail gets its breaker tripped (the
  canary then skips it, and the plain breaker logic lets a trial call through after the
  cooldown); a warehouse predicted to lock writers out gets the concurrency of its writing jobs
  lowered (``OpsSettings``). Each action is an operational event ``predicted_failure_action``
  with the probability and the horizon, and each produces a ``warning`` notification.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ml.failure_prediction import (
    BREAKER_OPEN,
    ERROR,
    FACTS,
    LATENCY,
    LOCK_TIMEOUT,
    LOCK_WAIT,
    BaselineRule,
    FeatureConfig,
    Scorer,
    feature_frame,
    observations_frame,
)
from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.time import aware, utcnow
from orchestration_project.common.warehouse import WarehouseError
from orchestration_project.operations.alerting import Alert, Notification
from orchestration_project.operations.healing import (
    PREDICTED_FAILURE_ACTION,
    CircuitBreakers,
    OpsSettings,
    Overrides,
    op_events,
    record_op_event,
)

log = logging.getLogger(__name__)
WAREHOUSE_SUBJECT = "warehouse"
RULE = "predicted_failure"
STRUCTURED_ATTRIBUTES = ("price", "rating")  # the facts per page that extraction needs
WRITING_JOBS = {"canary_job": 4}  # jobs whose fan-out a predicted lock-out lowers (default)


# ------------------------------------------------------------------------------------------
# lock waits
# ------------------------------------------------------------------------------------------


ACT_SETTING = "prediction:act"
"""Operational setting: act on predictions (trip breakers, lower concurrency) instead of only
warning. Off by default: on the benchmark's real canary runs the model's precision was low
(see ``benchmarks/predictive_failure.py``), and a false prediction skips a healthy source."""


def setting_on(value: Any) -> bool:
    """An on/off operational setting: ``True``, 1, or one of "1", "true", "on", "yes" (any
    case); anything else — "false", "off", "0" included — is off."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "on", "yes"}
    return value is True or value == 1


def lock_wait_ledger(warehouse_path: str | Path) -> Path:
    """The JSON-lines file of a DuckDB warehouse's lock waits (beside the database file)."""
    return Path(f"{warehouse_path}.lockwaits.jsonl")


def record_lock_wait(warehouse_path: str | Path, waited_s: float, *, timed_out: bool) -> None:
    """Append one writer's wait for the warehouse lock (never raises: a metric must not fail
    the write it measures)."""
    try:
        path = lock_wait_ledger(warehouse_path)
        line = {"at": utcnow().isoformat(), "waited_s": round(waited_s, 4), "timed_out": timed_out}
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
    except OSError as exc:  # pragma: no cover - a full disk, a read-only folder
        log.warning(f"could not record a warehouse lock wait: {exc}")


def read_lock_waits(warehouse_path: str | Path) -> pd.DataFrame:
    """Every recorded lock wait (``at``, ``waited_s``, ``timed_out``), oldest first."""
    path = lock_wait_ledger(warehouse_path)
    rows = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a concurrent writer
    df = pd.DataFrame(rows, columns=["at", "waited_s", "timed_out"])
    # ISO 8601 with or without a fraction; a garbled line becomes NaT and is dropped.
    df["at"] = pd.to_datetime(df["at"], utc=True, format="ISO8601", errors="coerce")
    return df.dropna(subset=["at"]).sort_values("at").reset_index(drop=True)


# ------------------------------------------------------------------------------------------
# indicators from the platform
# ------------------------------------------------------------------------------------------


class TableReader(Protocol):
    """What indicators need of a warehouse (``resources.warehouse.Warehouse`` fits)."""

    def table_exists(self, table: str, *, schema: str = ...) -> bool:
        """Whether ``schema.table`` exists."""
        ...

    def read_table(self, table: str, *, schema: str = ...) -> pd.DataFrame:
        """The table as a frame."""
        ...


def indicators_from_tables(
    attempts: pd.DataFrame, history: pd.DataFrame | None = None
) -> list[dict[str, Any]]:
    """Observation rows from fetch attempts (``site``, ``outcome``, ``latency_s``,
    ``attempted_at``, ``crawl_id``) and fact history (``run_id``, ``source``, ``attribute``):
    per source, each attempt's outcome and latency and each fetched page's prices and ratings."""
    rows: list[dict[str, Any]] = []
    for a in attempts.itertuples():
        subject = f"source:{a.site}"
        failed = a.outcome != "ok"
        rows.append({"at": a.attempted_at, "subject": subject, "metric": ERROR, "value": failed})
        if not failed:
            rows.append(
                {"at": a.attempted_at, "subject": subject, "metric": LATENCY, "value": a.latency_s}
            )
    if history is not None and len(history) and len(attempts):
        done = set(history["run_id"])  # runs that reached their history step
        structured = history[history["attribute"].isin(STRUCTURED_ATTRIBUTES)]
        counts = structured.groupby(["run_id", "source"]).size()
        for a in attempts[(attempts["outcome"] == "ok")].itertuples():
            if a.crawl_id in done:
                n = int(counts.get((a.crawl_id, a.site), 0))
                rows.append(
                    {
                        "at": a.attempted_at,
                        "subject": f"source:{a.site}",
                        "metric": FACTS,
                        "value": n,
                    }
                )
    return rows


def _table_indicators(
    warehouse: TableReader | None, since: datetime | None, schema: str
) -> list[dict[str, Any]]:
    if warehouse is None or not warehouse.table_exists("fetch_attempts", schema=schema):
        return []
    attempts = warehouse.read_table("fetch_attempts", schema=schema)
    attempts["attempted_at"] = pd.to_datetime(attempts["attempted_at"], utc=True)
    if since is not None:
        attempts = attempts[attempts["attempted_at"] >= pd.Timestamp(aware(since))]
    history = (
        warehouse.read_table("fact_history_rows", schema=schema)
        if warehouse.table_exists("fact_history_rows", schema=schema)
        else None
    )
    return indicators_from_tables(attempts, history)


def read_indicators(
    warehouse: TableReader | None,
    store: CoordinationStore | None,
    *,
    warehouse_path: str | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
    schema: str = "canary",
) -> pd.DataFrame:
    """Every leading indicator since ``since`` as an observation frame.

    Args:
        warehouse: where ``<schema>.fetch_attempts`` and ``<schema>.fact_history_rows`` live.
        store: the coordination store (breaker states), if any.
        warehouse_path: the DuckDB file whose lock waits to read, if any.
        since: oldest observation to keep.
        now: the breaker states' observation time (now by default).
        schema: the schema of the fetch and fact tables.
    """
    rows: list[dict[str, Any]] = []
    try:
        rows += _table_indicators(warehouse, since, schema)
    except WarehouseError as exc:  # a locked warehouse is itself an indicator: go on without it
        log.warning(f"fetch indicators unavailable ({exc}); scoring lock waits and breakers")
    if warehouse_path:
        waits = read_lock_waits(warehouse_path)
        if since is not None:
            waits = waits[waits["at"] >= pd.Timestamp(aware(since))]
        for w in waits.itertuples():
            rows.append(
                {"at": w.at, "subject": WAREHOUSE_SUBJECT, "metric": LOCK_WAIT, "value": w.waited_s}
            )
            rows.append(
                {
                    "at": w.at,
                    "subject": WAREHOUSE_SUBJECT,
                    "metric": LOCK_TIMEOUT,
                    "value": bool(w.timed_out),
                }
            )
    if store is not None:
        at = now or utcnow()
        for b in CircuitBreakers(store).all().itertuples():
            if b.name.startswith("source:"):
                value = b.state != "closed"
                rows.append({"at": at, "subject": b.name, "metric": BREAKER_OPEN, "value": value})
    return observations_frame(rows)


# ------------------------------------------------------------------------------------------
# scoring and acting
# ------------------------------------------------------------------------------------------


def scorer_or_baseline(load: Callable[[], Scorer | None], logger: Any = None) -> Scorer:
    """The trained model from ``load``, or the baseline rule (with a warning) when it cannot be
    loaded (no model registered yet, a tracking server down, a broken artifact)."""
    logger = logger or log
    try:
        model = load()
    except Exception as exc:  # any loading failure falls back; the reason is logged
        logger.warning(
            f"failure predictor unavailable ({type(exc).__name__}: {exc}); "
            "using the baseline rule (current error rate)"
        )
        return BaselineRule()
    if model is None:
        logger.warning("no failure predictor registered; using the baseline rule")
        return BaselineRule()
    return model


def score_now(
    observations: pd.DataFrame, scorer: Scorer, cfg: FeatureConfig, *, now: datetime
) -> pd.DataFrame:
    """Each subject's features and failure probability at ``now`` (columns ``subject``,
    ``at``, the features, ``p``, ``warn``)."""
    feats = feature_frame(observations, [pd.Timestamp(aware(now))], cfg)
    p = scorer.predict_proba(feats) if len(feats) else []
    feats = feats.assign(p=p)
    return feats.assign(warn=feats["p"] >= scorer.threshold)


@dataclass
class PredictionOutcome:
    """What one evaluation found and did.

    Attributes:
        scores: every subject's features and probability.
        actions: the actions taken (one dict each, as recorded in the op event's detail).
        notifications: ``warning`` notifications to deliver.
    """

    scores: pd.DataFrame
    actions: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)


def _recently_acted(store: CoordinationStore, subject: str, since: datetime) -> bool:
    ev = op_events(store, since=since, kinds=[PREDICTED_FAILURE_ACTION])
    return bool(len(ev) and (ev["subject"] == subject).any())


def act_on_predictions(
    store: CoordinationStore,
    scores: pd.DataFrame,
    *,
    horizon_s: float,
    now: datetime | None = None,
    cooldown: timedelta = timedelta(minutes=5),
    model: str = "model",
    run_id: str | None = None,
    act: bool = True,
    watermark: str | None = None,
) -> PredictionOutcome:
    """Act on every subject whose ``warn`` is set: trip a source's breaker, lower the writing
    jobs' concurrency for the warehouse (an override the healing rules restore after quiet
    runs); record each action and prepare a warning. With ``act=False`` only the warning is
    prepared (warn-only: the default of the sensor, see :data:`ACT_SETTING`).

    A source whose breaker is already open, or a subject acted on within ``cooldown``, is left
    alone (no duplicate action, no repeated page).
    """
    now = now or utcnow()
    out = PredictionOutcome(scores=scores)
    breakers = CircuitBreakers(store)
    for row in scores[scores["warn"]].itertuples():
        subject = str(row.subject)
        p = round(float(row.p), 4)
        detail: dict[str, Any] = {
            "probability": p,
            "horizon_s": horizon_s,
            "model": model,
            "indicators": {
                k: round(float(getattr(row, k)), 4)
                for k in ("lat_growth", "err_recent", "facts_drop", "lock_wait_recent")
            },
        }
        if _recently_acted(store, subject.split(":", 1)[-1], now - cooldown):
            continue
        if not act:
            # One warning per subject per cooldown, not one every tick.
            settings, stamp = OpsSettings(store), f"prediction:warned:{subject}"
            last = settings.get(stamp)
            if last and now - datetime.fromisoformat(str(last)) < cooldown:
                continue
            settings.set(stamp, now.isoformat(), reason="predicted failure warning sent")
            kind = "source" if subject.startswith("source:") else "job"
            subj = subject.split(":", 1)[-1] if kind == "source" else WAREHOUSE_SUBJECT
            detail |= {"action": "none (warn-only)"}
            out.notifications.append(_warning(subject, kind, subj, p, horizon_s, detail, now))
            continue
        if subject.startswith("source:"):
            host = subject.split(":", 1)[1]
            name = f"source:{host}"
            if breakers.state(name).state == "open":
                continue
            reason = f"predicted failure within {horizon_s:.0f} s (p={p:.2f}, {model})"
            breakers.trip(name, reason, now=now)
            detail |= {"action": "trip_breaker", "breaker": name}
            kind, subj = "source", host
        elif subject == WAREHOUSE_SUBJECT:
            lowered = {}
            overrides = Overrides(store)
            for job, default in WRITING_JOBS.items():
                OpsSettings(store).max_parallel(job, default)  # remember the job's default
                with store.transaction() as conn:
                    change = overrides.lower_concurrency(
                        conn, job, incident_id=f"prediction:{p}", watermark=watermark, now=now
                    )
                lowered[job] = change.after
            detail |= {"action": "lower_concurrency", "max_parallel": lowered}
            kind, subj = "job", WAREHOUSE_SUBJECT
        else:
            continue
        record_op_event(
            store,
            PREDICTED_FAILURE_ACTION,
            subject_kind=kind,
            subject=subj,
            at=now,
            run_id=run_id,
            detail=detail,
        )
        out.actions.append({"subject": subject, **detail})
        out.notifications.append(_warning(subject, kind, subj, p, horizon_s, detail, now))
    return out


def _warning(
    subject: str,
    kind: str,
    subj: str,
    p: float,
    horizon_s: float,
    detail: dict[str, Any],
    now: datetime,
) -> Notification:
    """The early-warning notification of one prediction."""
    alert = Alert(
        rule=RULE,
        kind="anomaly",
        severity="warning",
        subject_kind=kind,
        subject=subj,
        value=p,
        threshold=None,
        message=f"{subject} is predicted to fail within {horizon_s:.0f} s (p={p:.2f}); "
        f"action: {detail['action']}",
        at=now,
    )
    return Notification(kind, subj, "warning", (alert,), (f"{RULE}-{alert.fingerprint}",), now)


def run_prediction(
    store: CoordinationStore,
    scorer: Scorer,
    *,
    warehouse: TableReader | None,
    warehouse_path: str | None,
    cfg: FeatureConfig,
    now: datetime | None = None,
    lookback: timedelta = timedelta(minutes=15),
    model: str = "model",
    act: bool | None = None,
    watermark: str | None = None,
) -> PredictionOutcome:
    """Read the indicators, score every subject now and act on the warnings (or only warn:
    ``act`` defaults to the operational setting :data:`ACT_SETTING`, off). ``watermark`` is the
    newest run now (``healing.newest_run_id``): a lowered concurrency counts quiet runs only
    after it."""
    if act is None:
        act = setting_on(OpsSettings(store).get(ACT_SETTING, False))
    now = now or utcnow()
    obs = read_indicators(
        warehouse, store, warehouse_path=warehouse_path, since=now - lookback, now=now
    )
    scores = score_now(obs, scorer, cfg, now=now)
    return act_on_predictions(
        store, scores, horizon_s=cfg.horizon_s, now=now, model=model, act=act, watermark=watermark
    )


__all__ = [
    "ACT_SETTING",
    "WAREHOUSE_SUBJECT",
    "PredictionOutcome",
    "act_on_predictions",
    "indicators_from_tables",
    "lock_wait_ledger",
    "read_indicators",
    "read_lock_waits",
    "record_lock_wait",
    "run_prediction",
    "score_now",
    "scorer_or_baseline",
]
