"""Process figures for the SLO scorecard, from instance states. Pure functions.

Per process: cycle time p50/p95 of finished instances (minutes, start to end), the share that
finished within SLA (the process's ``sla`` when it has one, else: no task of it was escalated),
the share finished with no person involved, and the manual minutes saved: every step the
engine or the system did that a person would otherwise do, at the configured minutes per step
(``manual_minutes[process][step]``; the key ``intake`` counts once per instance, for reading
and checking the document before the process started). Minutes of steps people still did are
the minutes left; the reduction is saved / (saved + left).

:func:`scorecard_rows` turns the figures into rows shaped like ``ml.slo.scorecard``'s (metric,
value, goal, comparison, met, n, unit), so the operations scorecard can append them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from orchestration_project.business_processes.definition import ProcessDefinition
from orchestration_project.business_processes.projection import parse_iso

__all__ = [
    "MANUAL_MINUTES",
    "ProcessFigures",
    "process_figures",
    "scorecard_rows",
]

MANUAL_MINUTES: Mapping[str, Mapping[str, float]] = {
    "invoice_approval": {
        "intake": 6.0,  # open the PDF, key the fields, find the PO, compare
        "route": 1.0,
        "approval": 4.0,
        "second_approval": 4.0,
        "payment": 3.0,  # enter the payment in the bank export
    },
    "onboarding_exception": {"review": 12.0},
}
WITHIN_SLA_GOAL = 0.95
REDUCTION_GOAL = 0.80  # DESIGN.md: > 80 % less manual process time


@dataclass(frozen=True)
class ProcessFigures:
    """One process's figures (times in minutes; shares in 0..1; NaN when nothing finished)."""

    process: str
    instances: int
    finished: int
    cycle_p50_min: float
    cycle_p95_min: float
    within_sla_share: float
    automated_share: float
    manual_minutes_saved: float
    manual_minutes_left: float
    sla_min: float | None

    @property
    def manual_time_reduction(self) -> float:
        """saved / (saved + left); NaN with no manual minutes configured."""
        total = self.manual_minutes_saved + self.manual_minutes_left
        return self.manual_minutes_saved / total if total else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, the reduction included."""
        return {**asdict(self), "manual_time_reduction": self.manual_time_reduction}


def _minutes(state: Mapping[str, Any]) -> float:
    return (parse_iso(state["ended_at"]) - parse_iso(state["started_at"])).total_seconds() / 60


def process_figures(
    states: Iterable[Mapping[str, Any]],
    definitions: Mapping[str, ProcessDefinition],
    manual_minutes: Mapping[str, Mapping[str, float]] = MANUAL_MINUTES,
) -> list[ProcessFigures]:
    """The figures of every process that has instances, in process-name order.

    Args:
        states: instance states (the projection, ``EventStore.instances()``).
        definitions: the processes by name (for their SLA).
        manual_minutes: minutes a person spends per step, by process and step.
    """
    by_process: dict[str, list[Mapping[str, Any]]] = {}
    for s in states:
        by_process.setdefault(s["process"], []).append(s)
    out = []
    for name in sorted(by_process):
        group = by_process[name]
        d = definitions.get(name)
        sla = d.sla.total_seconds() / 60 if d is not None and d.sla is not None else None
        minutes = manual_minutes.get(name, {})
        finished = [s for s in group if s["status"] == "completed"]
        cycles = np.array([_minutes(s) for s in finished], dtype=float)
        if sla is not None:
            within = [c <= sla for c in cycles]
        else:
            within = [s["escalations"] == 0 for s in finished]
        saved = left = 0.0
        for s in group:
            saved += minutes.get("intake", 0.0)
            for step in s["steps"]:
                if step["left_at"] is None and step["kind"] != "end":
                    continue  # not done yet
                m = minutes.get(step["step"], 0.0)
                if step["kind"] == "task":
                    left += m
                else:
                    saved += m
        nan = float("nan")
        out.append(
            ProcessFigures(
                process=name,
                instances=len(group),
                finished=len(finished),
                cycle_p50_min=float(np.percentile(cycles, 50)) if len(cycles) else nan,
                cycle_p95_min=float(np.percentile(cycles, 95)) if len(cycles) else nan,
                within_sla_share=float(np.mean(within)) if within else nan,
                automated_share=(
                    float(np.mean([s["human_decisions"] == 0 for s in finished]))
                    if finished
                    else nan
                ),
                manual_minutes_saved=round(saved, 2),
                manual_minutes_left=round(left, 2),
                sla_min=sla,
            )
        )
    return out


def scorecard_rows(figures: Iterable[ProcessFigures]) -> pd.DataFrame:
    """Scorecard rows (metric, value, goal, comparison, met, n, unit) for the figures: cycle
    time p50/p95 against the process SLA, the share within SLA (goal 95 %), the share
    automated (no goal), the manual time reduction (goal 80 %) and minutes saved (no goal)."""
    rows = []

    def row(metric: str, value: float, goal: float | None, cmp: str, n: int, unit: str) -> None:
        met = None
        if goal is not None and value == value:
            met = bool(value >= goal if cmp == ">=" else value <= goal)
        rows.append(
            {
                "metric": metric,
                "value": value,
                "goal": float("nan") if goal is None else goal,
                "comparison": cmp,
                "met": met,
                "n": n,
                "unit": unit,
            }
        )

    for f in figures:
        p = f.process
        row(f"{p}: cycle time p50", f.cycle_p50_min, f.sla_min, "<=", f.finished, "min")
        row(f"{p}: cycle time p95", f.cycle_p95_min, f.sla_min, "<=", f.finished, "min")
        row(
            f"{p}: finished within SLA",
            f.within_sla_share,
            WITHIN_SLA_GOAL,
            ">=",
            f.finished,
            "share",
        )
        row(f"{p}: automated, no person", f.automated_share, None, ">=", f.finished, "share")
        row(
            f"{p}: manual time reduction",
            f.manual_time_reduction,
            REDUCTION_GOAL,
            ">=",
            f.instances,
            "share",
        )
        row(f"{p}: manual minutes saved", f.manual_minutes_saved, None, ">=", f.instances, "min")
    return pd.DataFrame(rows, columns=["metric", "value", "goal", "comparison", "met", "n", "unit"])
