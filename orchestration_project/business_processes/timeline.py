"""Audit: an instance's full history as a timeline, read from its events (never from the
projection), as rows, Markdown, or a chart of many instances' steps."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestration_project.business_processes.projection import Event, fold, parse_iso

__all__ = ["describe", "plot_timelines", "timeline_markdown", "timeline_rows"]


def describe(event: Event) -> str:
    """One sentence for an event."""
    p = event.payload
    match event.type:
        case "instance_started":
            return f"started {p['process']} v{p['version']}"
        case "step_entered":
            return f"entered {p['step']} ({p['kind']})"
        case "decision_taken":
            return f"{p['step']}: {p['when']} -> {p['goto']}"
        case "task_opened":
            due = f", due {p['due_at']}" if p.get("due_at") else ""
            return f"task {p['task_id']} '{p['title']}' assigned to {p['assignee']}{due}"
        case "task_decided":
            why = f": {p['reason']}" if p.get("reason") else ""
            return f"{event.actor} decided {p['outcome']} on {p['step']}{why}"
        case "task_reassigned":
            return f"{event.actor} reassigned {p['task_id']} from {p['from']} to {p['to']}: {p['reason']}"
        case "task_escalated":
            moved = f", reassigned to {p['reassigned_to']}" if p.get("reassigned_to") else ""
            notify = ", ".join(p.get("notify") or []) or "nobody"
            return (
                f"SLA breached on {p['step']} ({p['overdue_minutes']:.0f} min late): escalation "
                f"level {p['level']} ({p['severity']}), notified {notify}{moved}"
            )
        case "action_completed":
            extra = ", ".join(f"{k}={v}" for k, v in (p.get("data") or {}).items())
            return f"{p['step']} done by {event.actor}" + (f" ({extra})" if extra else "")
        case "data_updated":
            return "data updated: " + ", ".join(sorted((p.get("data") or {}).keys()))
        case "instance_ended":
            return f"ended: {p['outcome']}"
    return event.type


def timeline_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    """One row per event: seq, at, type, actor, what happened, minutes since the start."""
    if not events:
        return []
    t0 = parse_iso(events[0].at)
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "minutes": round((parse_iso(e.at) - t0).total_seconds() / 60, 1),
            "type": e.type,
            "actor": e.actor,
            "what": describe(e),
        }
        for e in events
    ]


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def timeline_markdown(events: Sequence[Event]) -> str:
    """An instance's history in Markdown: a summary, then every event in order."""
    if not events:
        return "No events.\n"
    stream = events[0].stream
    state = fold(events, stream)
    lines = [
        f"# {stream}",
        "",
        f"- process: {state['process']} v{state['version']}",
        f"- status: {state['status']}"
        + (f", outcome **{state['outcome']}**" if state["outcome"] else f", at {state['step']}"),
        f"- started: {state['started_at']}",
    ]
    if state["ended_at"]:
        minutes = (parse_iso(state["ended_at"]) - parse_iso(state["started_at"])).total_seconds()
        lines.append(f"- ended: {state['ended_at']} ({minutes / 60:.1f} min)")
    lines += [
        f"- human decisions: {state['human_decisions']}, escalations: {state['escalations']}",
        "",
        "| # | at | +min | actor | what |",
        "|---|---|---|---|---|",
    ]
    for r in timeline_rows(events):
        lines.append(
            f"| {r['seq']} | {r['at']} | {r['minutes']} | {_md(r['actor'])} | {_md(r['what'])} |"
        )
    return "\n".join(lines) + "\n"


def plot_timelines(
    states: Iterable[Mapping[str, Any]], path: str | Path, *, limit: int = 30
) -> Path | None:
    """A chart of the steps of up to ``limit`` instances (one bar per step, orange where a
    person decided); returns the PNG's path, or None with nothing to draw."""
    chosen = sorted(states, key=lambda s: s["started_at"])[-limit:]
    if not chosen:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = min(parse_iso(s["started_at"]) for s in chosen)
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(chosen) + 1.5))
    colors = {"task": "#e8833a", "decision": "#4a7fb5", "action": "#5aa469", "end": "#999999"}
    for y, s in enumerate(chosen):
        end_of = s["ended_at"] or s["steps"][-1]["entered_at"]
        for step in s["steps"]:
            start = (parse_iso(step["entered_at"]) - t0).total_seconds() / 3600
            stop = (parse_iso(step["left_at"] or end_of) - t0).total_seconds() / 3600
            ax.barh(y, max(stop - start, 0.02), left=start, color=colors[step["kind"]])
    ax.set_yticks(range(len(chosen)), [s["instance_id"][-28:] for s in chosen], fontsize=7)
    ax.set_xlabel("hours since the first start")
    ax.set_title("Process instances: steps over time (orange: a person decided)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colors.values()]
    ax.legend(handles, list(colors), loc="lower right", fontsize=7)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
