"""The roadmap's operational promises as measured figures: an SLO scorecard.

Pure pandas. From the runs (one row per Dagster run), the incidents (time to detect, time to
recover) and the alerts (with their true/false verdicts) it computes:

* workflow completion rate: workflows (a root run and its recoveries) that ended in success,
  over workflows that ended (a workflow still being remedied is not counted either way);
* mean (and p95) time to detect and time to recover, over incidents opened by failures;
* alert false-positive rate: alerts judged false over alerts judged at all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pandas as pd

ROOT_TAG = "orchestration/root_run_id"
SCORECARD_COLUMNS = ["metric", "value", "goal", "comparison", "met", "n", "unit"]


@dataclass(frozen=True)
class SloGoals:
    """The goals each figure is held to (the roadmap's, tightened by the operations issue)."""

    completion_rate: float = 0.999
    mean_time_to_detect_s: float = 60.0
    mean_time_to_recover_s: float = 300.0
    alert_false_positive_rate: float = 0.05


def workflow_outcomes(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per workflow: root run id, job, number of runs, and outcome.

    Args:
        runs: columns run_id, job_name, status, root_run_id and optionally tags (JSON text or
            dict; a ``orchestration/root_run_id`` tag names the root of a sensor-launched
            recovery).

    Returns:
        Columns root, job_name, runs, outcome (``completed`` | ``failed`` | ``in_progress``).
    """
    if runs.empty:
        return pd.DataFrame(columns=["root", "job_name", "runs", "outcome"])

    def root_of(row: pd.Series) -> str:
        tags = row.get("tags")
        if isinstance(tags, str) and tags:
            try:
                tags = json.loads(tags)
            except ValueError:
                tags = {}
        if isinstance(tags, dict) and tags.get(ROOT_TAG):
            return str(tags[ROOT_TAG])
        root = row.get("root_run_id")
        return str(root) if isinstance(root, str) and root else str(row["run_id"])

    df = runs.assign(root=runs.apply(root_of, axis=1))
    out = []
    for root, group in df.groupby("root", sort=False):
        statuses = set(group["status"])
        if "SUCCESS" in statuses:
            outcome = "completed"
        elif statuses & {"STARTED", "QUEUED", "NOT_STARTED", "STARTING", "CANCELING"}:
            outcome = "in_progress"
        else:
            outcome = "failed"
        out.append(
            {
                "root": root,
                "job_name": group["job_name"].iloc[0],
                "runs": len(group),
                "outcome": outcome,
            }
        )
    return pd.DataFrame(out, columns=["root", "job_name", "runs", "outcome"])


def _finite(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce")
    return v[v.notna() & v.map(lambda x: math.isfinite(x) if x == x else False)]


def scorecard(
    runs: pd.DataFrame,
    incidents: pd.DataFrame,
    alerts: pd.DataFrame,
    *,
    goals: SloGoals | None = None,
    still_remediating: set[str] | None = None,
) -> pd.DataFrame:
    """The SLO scorecard.

    Args:
        runs: see :func:`workflow_outcomes`.
        incidents: columns source, status, ttd_s, ttr_s (see ``healing.incidents_frame``).
        alerts: a ``verdict`` column (True = confirmed, False = false positive, NA = unjudged).
        goals: the goals (defaults: the issue's).
        still_remediating: root run ids whose incident is still being remedied; their failed
            runs count as in progress, not as failed workflows.

    Returns:
        One row per figure: metric, value, goal, comparison, met, n, unit.
    """
    goals = goals or SloGoals()
    wf = workflow_outcomes(runs)
    if still_remediating:
        pending = wf["root"].isin(still_remediating) & (wf["outcome"] == "failed")
        wf.loc[pending, "outcome"] = "in_progress"
    ended = wf[wf["outcome"] != "in_progress"]
    completion = float((ended["outcome"] == "completed").mean()) if len(ended) else float("nan")
    failures = incidents[incidents["source"] == "run_failure"] if len(incidents) else incidents
    ttd = _finite(failures["ttd_s"]) if len(failures) else pd.Series(dtype=float)
    ttr = _finite(failures["ttr_s"]) if len(failures) else pd.Series(dtype=float)
    judged = alerts["verdict"].dropna() if len(alerts) and "verdict" in alerts else pd.Series([])
    fp = float((~judged.astype(bool)).mean()) if len(judged) else float("nan")

    def row(metric: str, value: float, goal: float, cmp: str, n: int, unit: str) -> dict:
        met = (value >= goal if cmp == ">=" else value <= goal) if value == value else None
        return {
            "metric": metric,
            "value": value,
            "goal": goal,
            "comparison": cmp,
            "met": met,
            "n": n,
            "unit": unit,
        }

    rows = [
        row("workflow completion rate", completion, goals.completion_rate, ">=", len(ended), ""),
        row(
            "mean time to detect",
            float(ttd.mean()) if len(ttd) else float("nan"),
            goals.mean_time_to_detect_s,
            "<=",
            len(ttd),
            "s",
        ),
        row(
            "p95 time to detect",
            float(ttd.quantile(0.95)) if len(ttd) else float("nan"),
            goals.mean_time_to_detect_s,
            "<=",
            len(ttd),
            "s",
        ),
        row(
            "mean time to recover",
            float(ttr.mean()) if len(ttr) else float("nan"),
            goals.mean_time_to_recover_s,
            "<=",
            len(ttr),
            "s",
        ),
        row(
            "p95 time to recover",
            float(ttr.quantile(0.95)) if len(ttr) else float("nan"),
            goals.mean_time_to_recover_s,
            "<=",
            len(ttr),
            "s",
        ),
        row(
            "alert false-positive rate",
            fp,
            goals.alert_false_positive_rate,
            "<=",
            len(judged),
            "",
        ),
    ]
    return pd.DataFrame(rows, columns=SCORECARD_COLUMNS)
