"""Gradual rollouts: the stage decisions, their evidence, and the rollback path.

``rollout_decisions`` starts the rollouts declared in ``orchestration_project/evolution/
rollouts.yaml``, decides the current stage of every running one from the per-unit observations
the rolled-out steps record (``evolution.rollout_observations``; extraction rule sets: per page),
writes the new state to the coordination store (which the steps read their canary share from)
and keeps every decision with its evidence (``evolution.rollout_decisions``). A rollback opens
an incident through incident response (``Healer.on_alert``) and sends an alert.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from orchestration_project.evolution.compat import RenamedFields
from orchestration_project.evolution.rollout import (
    OBSERVATIONS_SCHEMA,
    OBSERVATIONS_TABLE,
    RolloutState,
    StageDecision,
    apply_decision,
    decide_stage,
    load_rollouts,
)
from orchestration_project.operations.alerting import Alert, Notification
from orchestration_project.operations.healing import Healer
from resources.alerting import AlertingResource
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir, png_markdown
from resources.rollout import RolloutStateConflict, RolloutStates
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema

GROUP = "evolution"
JOB_NAME = "rollout_job"
OBSERVATIONS = dg.AssetKey(OBSERVATIONS_TABLE)

rollout_observations = dg.AssetSpec(
    OBSERVATIONS,
    group_name=GROUP,
    deps=["extracted_facts"],
    kinds={"duckdb"},
    metadata=in_schema(OBSERVATIONS_SCHEMA),
    description="One row per rollout and unit: the latest observation of every unit of a "
    "running rollout (its stage, arm and version, and what it gave under that version — for "
    "extraction rule sets, per page: check outcome, quarantine rate, share of facts below the "
    "review confidence, trusted facts kept, extraction seconds, with their covariates). "
    "Written by the rolled-out steps as they run (extracted_facts for rule sets); what "
    "rollout_decisions judges each stage on.",
)
ROLLBACK_RULE = "rollout_rollback"
DECISION_COLUMNS = [
    "decision_id",
    "rollout_id",
    "step",
    "stage",
    "percent",
    "decision",
    "next_percent",
    "status_after",
    "current_version",
    "candidate_version",
    "reason",
    "units_current",
    "units_candidate",
    "srm_p_value",
    "evidence",
    "incident_id",
    "decided_at",
    "decision_seconds",
    "run_id",
]


class RolloutConfig(RenamedFields, dg.Config):
    """Which rollouts are declared."""

    rollouts_file: str = Field(
        default="",
        description="YAML file of declared rollouts; empty: "
        "orchestration_project/evolution/rollouts.yaml.",
    )


def _observations(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists(OBSERVATIONS_TABLE, schema=OBSERVATIONS_SCHEMA):
        return pd.DataFrame()
    return warehouse.read_table(OBSERVATIONS_TABLE, schema=OBSERVATIONS_SCHEMA)


def _row(
    state_before: RolloutState,
    state_after: RolloutState,
    d: StageDecision,
    incident_id: str | None,
    run_id: str,
) -> dict[str, Any]:
    spec = state_before.spec
    return {
        "decision_id": f"{spec.rollout_id}:{d.stage}:{d.decided_at.isoformat()}",
        "rollout_id": spec.rollout_id,
        "step": spec.step,
        "stage": d.stage,
        "percent": d.percent,
        "decision": d.decision,
        "next_percent": d.next_percent,
        "status_after": state_after.status,
        "current_version": spec.current_version,
        "candidate_version": spec.candidate_version,
        "reason": d.reason,
        "units_current": d.units["current"],
        "units_candidate": d.units["candidate"],
        "srm_p_value": d.srm_p_value,
        "evidence": json.dumps(d.evidence, default=str),
        "incident_id": incident_id,
        "decided_at": d.decided_at.replace(tzinfo=None),
        "decision_seconds": d.seconds,
        "run_id": run_id,
    }


def _num(x: Any) -> str:
    return "–" if x is None or (isinstance(x, float) and x != x) else f"{x:.4g}"


def evidence_markdown(decisions: list[StageDecision]) -> str:
    """The evidence of ``decisions`` as a Markdown table (one row per rollout and metric)."""
    lines = [
        "| rollout | stage | metric | current n / mean / sd | candidate n / mean / sd | "
        "difference | improvement bounds | margin | p (non-inferior) | p (worse) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for d in decisions:
        for e in d.evidence:
            c, k = e["current"], e["candidate"]
            lines.append(
                f"| {d.rollout_id} | {d.percent} % | {e['metric']} ({e['direction']}) | "
                f"{c['n']} / {_num(c['mean'])} / {_num(c['sd'])} | "
                f"{k['n']} / {_num(k['mean'])} / {_num(k['sd'])} | {_num(e['difference'])} | "
                f"[{_num(e['lower'])}, {_num(e['upper'])}] | {_num(e['margin'])} | "
                f"{_num(e['p_noninferior'])} | {_num(e['p_worse'])} | **{e['verdict']}** |"
            )
        if not d.evidence:
            lines.append(f"| {d.rollout_id} | {d.percent} % | – | | | | | | | | {d.reason} |")
    return "\n".join(lines)


def _chart(decisions: list[StageDecision], history: pd.DataFrame, path: Path) -> Path:
    """Left: each decided metric's improvement and its one-sided bounds in units of its margin
    (non-inferior when the lower bound is right of -1). Right: each rollout's canary share over
    its decisions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    labels, mids, los, his, colors = [], [], [], [], []
    palette = {"non_inferior": "#2ca02c", "worse": "#d62728", "inconclusive": "#7f7f7f"}
    for d in decisions:
        for e in d.evidence:
            m = float(e["margin"]) or 1.0
            lo = e["lower"] if e["lower"] is not None else -3.0 * m
            hi = e["upper"] if e["upper"] is not None else 3.0 * m
            labels.append(f"{d.rollout_id} @{d.percent}%: {e['metric']}")
            mids.append(float(e["improvement"]) / m)
            los.append(max(float(lo) / m, -5.0))
            his.append(min(float(hi) / m, 5.0))
            colors.append(palette.get(e["verdict"], "#7f7f7f"))
    for i, (mid, lo, hi, col) in enumerate(zip(mids, los, his, colors, strict=True)):
        ax.plot([lo, hi], [i, i], color=col, lw=2)
        ax.plot([max(min(mid, 5.0), -5.0)], [i], "o", color=col)
    ax.axvline(-1.0, color="#d62728", ls="--", lw=1, label="-margin")
    ax.axvline(0.0, color="#333333", lw=0.8)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("improvement of the candidate, in margins (bounds: one-sided 1 - alpha)")
    ax.set_title("evidence of this run's decisions", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 1.12), frameon=False)
    if len(history):
        for rid, h in history.groupby("rollout_id", sort=True):
            h = h.sort_values("decided_at")
            xs = list(range(len(h) + 1))
            ys = [int(h["percent"].iloc[0])] + [int(v) for v in h["next_percent"]]
            (line,) = ax2.step([*xs, xs[-1] + 0.5], [*ys, ys[-1]], where="post", label=str(rid))
            ax2.plot(xs, ys, "o", color=line.get_color(), ms=4)
            for x, dec in zip(xs[1:], h["decision"], strict=True):
                if dec == "rollback":
                    ax2.plot([x], [0], "x", color="#d62728", ms=9)
        ax2.legend(fontsize=7, loc="center left")
        ax2.set_xticks(range(int(history.groupby("rollout_id").size().max()) + 1))
    ax2.set_ylim(-5, 105)
    ax2.set_xlabel("decision")
    ax2.set_ylabel("canary share, %")
    ax2.set_title("stages of every rollout (x: rollback)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _rollback_notification(state: RolloutState, d: StageDecision) -> Notification:
    alert = Alert(
        rule=ROLLBACK_RULE,
        kind="threshold",
        severity="critical",
        subject_kind="rollout",
        subject=state.rollout_id,
        value=float(d.percent),
        threshold=None,
        message=f"rolled back {state.spec.step} {state.spec.candidate_version} -> "
        f"{state.spec.current_version} at {d.percent} %: {d.reason}",
        at=d.decided_at,
    )
    return Notification(
        "rollout",
        state.rollout_id,
        "critical",
        (alert,),
        (f"{ROLLBACK_RULE}-{alert.fingerprint}",),
        d.decided_at,
    )


@dg.asset(
    group_name=GROUP,
    kinds={"python", "duckdb"},
    metadata=in_schema(GROUP),
    deps=[rollout_observations],
    pool=WAREHOUSE_POOL,
)
def rollout_decisions(
    context: dg.AssetExecutionContext,
    config: RolloutConfig,
    coordination: CoordinationResource,
    warehouse: Warehouse,
    alerting: AlertingResource,
    reports_dir: ReportsDir,
) -> dg.Output[pd.DataFrame]:
    """Every stage decision of every gradual rollout, with its evidence — one row per rollout
    and decision (``promote``, ``hold``, ``rollback``, or ``start``).

    The declared rollouts (``rollouts.yaml``) start at their first stage; the current stage of
    each running rollout is decided from the per-unit observations of that stage, both arms from
    the same period: every metric's non-inferiority test (one-sided, Welch or sequential, margin
    from the spec) decides ``promote`` (next stage; into 100 % the candidate becomes current),
    ``hold`` (too few units, a sample-ratio mismatch or an inconclusive metric) or ``rollback``
    (a metric significantly worse). The new state goes to the coordination store, where the
    rolled-out steps read their canary share; a rollback also opens an incident and sends a
    critical alert. Evidence per metric: both arms' n, mean and sd, the difference, the bounds,
    the margin, both p-values and the verdict.
    """
    now = datetime.now(UTC)
    specs = load_rollouts(config.rollouts_file or None)
    states = RolloutStates.of(coordination)
    rows: list[dict[str, Any]] = []
    for s in states.start_declared(specs.values(), now=now):
        context.log.info(f"rollout {s.rollout_id} started at {s.percent} %")
        rows.append(
            {
                "decision_id": f"{s.rollout_id}:start",
                "rollout_id": s.rollout_id,
                "step": s.spec.step,
                "stage": 0,
                "percent": 0,
                "decision": "start",
                "next_percent": s.percent,
                "status_after": s.status,
                "current_version": s.spec.current_version,
                "candidate_version": s.spec.candidate_version,
                "reason": f"declared rollout started: {s.spec.candidate_version} on "
                f"{s.percent} % of the {s.spec.unit_kind}s",
                "units_current": 0,
                "units_candidate": 0,
                "srm_p_value": 1.0,
                "evidence": "[]",
                "incident_id": None,
                "decided_at": now.replace(tzinfo=None),
                "decision_seconds": 0.0,
                "run_id": context.run_id,
            }
        )
    started = {r["rollout_id"] for r in rows}
    observations = _observations(warehouse)
    decided: list[StageDecision] = []
    incidents: list[str] = []
    for state in states.all():
        if not state.active or state.rollout_id in started:
            continue
        current = states.versioned(state.rollout_id)
        if current is None:
            continue
        state, row_version = current
        d = decide_stage(state, observations, now=now)
        after = apply_decision(state, d)
        try:
            states.save(after, expected_version=row_version)
        except RolloutStateConflict:
            context.log.warning(f"rollout {state.rollout_id} was decided concurrently; skipped")
            continue
        incident_id = None
        if d.decision == "rollback":
            healer = Healer(coordination.store())
            note = _rollback_notification(state, d)
            incident = healer.on_alert(
                subject_kind="rollout",
                subject=state.rollout_id,
                severity="critical",
                message=note.text(),
                at=d.decided_at,
                rule=ROLLBACK_RULE,
            )
            incident_id = incident.incident_id if incident is not None else None
            if incident_id:
                incidents.append(incident_id)
            alerting.deliver([note], logger=context.log)
        context.log.info(f"rollout {state.rollout_id} at {d.percent} %: {d.decision} ({d.reason})")
        decided.append(d)
        rows.append(_row(state, after, d, incident_id, context.run_id))
    new = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    previous = (
        warehouse.read_table("rollout_decisions", schema=GROUP)
        if warehouse.table_exists("rollout_decisions", schema=GROUP)
        else pd.DataFrame(columns=DECISION_COLUMNS)
    )
    parts = [p for p in (previous, new) if len(p)]
    table = (
        pd.concat(parts, ignore_index=True).drop_duplicates("decision_id", keep="last")
        if parts
        else new
    )
    history = table[table["decision"].isin(["promote", "rollback"])]
    stages = {
        s.rollout_id: {
            "status": s.status,
            "canary_percent": s.percent,
            "current_version": s.current_version,
            "candidate_version": s.spec.candidate_version,
            "holds_this_stage": s.holds,
        }
        for s in states.all()
    }
    meta: dict[str, Any] = {
        "decisions_this_run": dg.MetadataValue.json(
            {d.rollout_id: {"stage_percent": d.percent, "decision": d.decision} for d in decided}
        ),
        "current_stage": dg.MetadataValue.json(stages),
        "decisions_total": len(table),
        "incidents_opened": dg.MetadataValue.json(incidents),
        "decision_seconds_max": max((d.seconds for d in decided), default=0.0),
        "reasons": dg.MetadataValue.md(
            "\n".join(
                f"- **{d.rollout_id}** @ {d.percent} %: {d.decision} — {d.reason}" for d in decided
            )
            or "(no running rollout)"
        ),  # fmt: skip
    }
    if decided:
        meta["evidence"] = dg.MetadataValue.md(evidence_markdown(decided))
        chart = _chart(decided, history, reports_dir.folder("evolution") / "rollouts.png")
        meta["chart"] = png_markdown(chart, "rollout evidence and stages")
    return dg.Output(table, metadata=meta)
