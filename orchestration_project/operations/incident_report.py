"""Post-incident reports: a timeline from the event log and the healer's actions, time to
detect, time to recover, the root-cause class, every action taken and every setting its remedies
changed (overrides, with the rule that undoes them), as Markdown and HTML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import markdown as md_lib

from orchestration_project.operations.healing import Healer, overrides_markdown

_EVENT_TYPES = {
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


_NAMES = {
    dg.DagsterEventType.RUN_START: "run started",
    dg.DagsterEventType.RUN_SUCCESS: "run succeeded",
    dg.DagsterEventType.RUN_FAILURE: "run failed",
}


def _runs_of(actions: Any) -> list[str]:
    runs: list[str] = []
    for _, a in actions.iterrows():
        if a["run_id"]:
            runs.append(a["run_id"])
        launched = (a["detail"] or {}).get("launched_run_id")
        if launched:
            runs.append(launched)
    return list(dict.fromkeys(runs))


def timeline(instance: dg.DagsterInstance, healer: Healer, incident_id: str) -> list[dict]:
    """Every relevant event of the incident's runs and every healer action, in time order."""
    actions = healer.actions(incident_id)
    rows: list[dict] = []
    for run_id in _runs_of(actions):
        for rec in instance.all_logs(run_id, of_type=_EVENT_TYPES):
            ev = rec.dagster_event
            what = _NAMES.get(ev.event_type, ev.event_type.value)
            if ev.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                data = ev.event_specific_data
                what = f"check {data.check_name} {'passed' if data.passed else 'FAILED'}"
            elif ev.event_type == dg.DagsterEventType.STEP_FAILURE:
                err = ev.event_specific_data.error
                while (
                    err is not None and err.cause is not None and err.cls_name.startswith("Dagster")
                ):
                    err = err.cause
                what = f"step failed: {err.cls_name if err else ''}: {(err.message if err else '')[:160]}"
            rows.append(
                {
                    "at": datetime.fromtimestamp(rec.timestamp, UTC),
                    "source": f"run {run_id[:8]}",
                    "step": ev.step_key or "",
                    "what": what.strip(),
                }
            )
    for _, a in actions.iterrows():
        detail = {k: v for k, v in (a["detail"] or {}).items() if k not in ("message",)}
        rows.append(
            {
                "at": a["at"].to_pydatetime(),
                "source": "healer",
                "step": "",
                "what": f"{a['action']} ({a['status']}) {detail if detail else ''}".strip(),
            }
        )
    return sorted(rows, key=lambda r: r["at"])


def write_incident_report(
    instance: dg.DagsterInstance, healer: Healer, incident_id: str, folder: Path
) -> Path:
    """Write ``<folder>/<incident_id>.md`` and ``.html``; returns the Markdown path."""
    inc = healer.incident(incident_id)
    actions = healer.actions(incident_id)
    lines = [
        f"# Incident {inc.incident_id}: {inc.subject_kind} {inc.subject}",
        "",
        "| | |",
        "|---|---|",
        f"| status | **{inc.status}** |",
        f"| severity | {inc.severity} |",
        f"| root-cause class | `{inc.failure_class or 'n/a'}` |",
        f"| error | `{inc.error_class or ''}` in step `{inc.step_key or ''}` |",
        f"| failed at | {inc.failure_at:%Y-%m-%d %H:%M:%S} UTC |",
        f"| time to detect | {inc.time_to_detect_s:.1f} s |",
        "| time to recover | "
        + (
            f"{inc.time_to_recover_s:.1f} s"
            if inc.time_to_recover_s is not None
            else "not recovered"
        )
        + " |",
        f"| re-executions | {inc.attempts} |",
        f"| consistency after recovery | {inc.consistency or 'not verified'} |",
        "",
        "## What happened",
        "",
        (inc.message or "").replace("\n", " ")[:600] or "(no message)",
        "",
        "## Actions taken",
        "",
    ]
    for _, a in actions.iterrows():
        lines.append(f"- {a['at']:%H:%M:%S} **{a['action']}** ({a['status']})")
    lines += [
        "",
        "## Settings changed by its remedies",
        "",
        "Each is an override with its baseline, the rule that undoes it and an expiry; this is "
        "their state when the report was written.",
        "",
        overrides_markdown(healer.overrides.all(incident_id=incident_id), empty="(none)"),
    ]
    lines += ["", "## Timeline", "", "| time (UTC) | source | step | event |", "|---|---|---|---|"]
    for r in timeline(instance, healer, incident_id):
        what = str(r["what"]).replace("|", "/")
        lines.append(f"| {r['at']:%H:%M:%S.%f}"[:-3] + f" | {r['source']} | {r['step']} | {what} |")
    text = "\n".join(lines) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{incident_id}.md"
    path.write_text(text, encoding="utf-8")
    body = md_lib.markdown(text, extensions=["tables"])
    path.with_suffix(".html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Incident {incident_id}</title><style>body{{font-family:system-ui,sans-serif;"
        "margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}td,th{border:1px "
        "solid #ccc;padding:3px 6px}</style></head><body>" + body + "</body></html>",
        encoding="utf-8",
    )
    healer.set_report_path(incident_id, str(path))
    return path


def write_pending_reports(instance: dg.DagsterInstance, healer: Healer, folder: Path) -> int:
    """Write the report of every closed incident that has none yet; returns how many."""
    written = 0
    for inc in healer.incidents(statuses=["recovered", "escalated", "resolved"]):
        if not inc.report_path and inc.closed_at is not None:
            write_incident_report(instance, healer, inc.incident_id, folder)
            written += 1
    return written
