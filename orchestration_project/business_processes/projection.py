"""The projection: an instance's current state, folded from its events. Pure functions.

The state is a JSON-ready dict, so the live projection stored beside the events and one
rebuilt from the events compare with ``==``. Its keys:

``instance_id``, ``process``, ``version``, ``status`` (``active`` or ``completed``),
``step`` (the current step), ``waiting`` (``person``, ``system`` or None), ``outcome`` (the end
step's outcome), ``data``, ``started_at``, ``ended_at``, ``seq`` (events applied), ``tasks``
(task id -> task), ``steps`` (every step entered, in order: step, kind, entered_at, left_at,
by), ``human_decisions`` (how many), ``escalations`` (how many), ``last_outcome``.

A task: ``task_id``, ``instance_id``, ``process``, ``step``, ``title``, ``assignee``,
``status`` (``open`` or ``done``), ``created_at``, ``due_at``, ``escalation_level``,
``outcome``, ``decided_by``, ``decided_at``, ``reason``, ``reassignments``.

Times are ISO 8601 strings in UTC (``2026-12-03T14:05:00.000000+00:00``), which sort as text.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "EVENT_TYPES",
    "Event",
    "NewEvent",
    "apply",
    "fold",
    "iso",
    "parse_iso",
    "replay",
]

EVENT_TYPES = (
    "instance_started",
    "step_entered",
    "decision_taken",
    "task_opened",
    "task_decided",
    "task_reassigned",
    "task_escalated",
    "action_completed",
    "data_updated",
    "instance_ended",
)


def iso(when: datetime) -> str:
    """``when`` as a fixed-width ISO 8601 UTC string (naive times are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="microseconds")


def parse_iso(text: str) -> datetime:
    """The aware datetime of an :func:`iso` string."""
    return datetime.fromisoformat(text)


@dataclass(frozen=True)
class NewEvent:
    """An event about to be appended: what happened, its data, who did it, when."""

    type: str
    payload: dict[str, Any]
    actor: str
    at: str

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")


@dataclass(frozen=True)
class Event:
    """A stored event: its global position, id, stream (the instance) and place in it."""

    position: int
    event_id: str
    stream: str
    seq: int
    type: str
    payload: dict[str, Any] = field(hash=False)
    actor: str
    at: str
    recorded_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "position": self.position,
            "event_id": self.event_id,
            "stream": self.stream,
            "seq": self.seq,
            "type": self.type,
            "payload": self.payload,
            "actor": self.actor,
            "at": self.at,
            "recorded_at": self.recorded_at,
        }


def _close_step(state: dict[str, Any], at: str, by: str | None) -> None:
    if state["steps"] and state["steps"][-1]["left_at"] is None:
        state["steps"][-1]["left_at"] = at
        if by is not None:
            state["steps"][-1]["by"] = by


def apply(state: Mapping[str, Any] | None, event: NewEvent | Event, stream: str) -> dict[str, Any]:
    """The state after ``event`` (a new dict; ``state`` is not changed).

    Raises:
        ValueError: an event that cannot follow ``state`` (e.g. anything before
            ``instance_started``, a decision on a closed task).
    """
    p, at, kind = event.payload, event.at, event.type
    if kind == "instance_started":
        if state is not None:
            raise ValueError(f"instance {stream} was already started")
        return {
            "instance_id": stream,
            "process": p["process"],
            "version": p["version"],
            "status": "active",
            "step": None,
            "waiting": None,
            "outcome": None,
            "data": dict(p.get("data") or {}),
            "started_at": at,
            "ended_at": None,
            "seq": 1,
            "tasks": {},
            "steps": [],
            "human_decisions": 0,
            "escalations": 0,
            "last_outcome": None,
        }
    if state is None:
        raise ValueError(f"{kind} before instance_started in {stream}")
    s = copy.deepcopy(dict(state))
    s["seq"] += 1
    if kind == "step_entered":
        _close_step(s, at, None)
        s["step"] = p["step"]
        s["waiting"] = {"task": "person", "action": "system"}.get(p["kind"])
        s["steps"].append(
            {"step": p["step"], "kind": p["kind"], "entered_at": at, "left_at": None, "by": None}
        )
    elif kind == "decision_taken":
        _close_step(s, at, "engine")
    elif kind == "task_opened":
        s["tasks"][p["task_id"]] = {
            "task_id": p["task_id"],
            "instance_id": stream,
            "process": s["process"],
            "step": p["step"],
            "title": p["title"],
            "assignee": p["assignee"],
            "status": "open",
            "created_at": at,
            "due_at": p.get("due_at"),
            "escalation_level": 0,
            "outcome": None,
            "decided_by": None,
            "decided_at": None,
            "reason": None,
            "reassignments": 0,
        }
    elif kind == "task_decided":
        task = s["tasks"].get(p["task_id"])
        if task is None or task["status"] != "open":
            raise ValueError(f"task {p['task_id']} is not open")
        task.update(
            status="done",
            outcome=p["outcome"],
            decided_by=event.actor,
            decided_at=at,
            reason=p.get("reason") or "",
        )
        s["last_outcome"] = p["outcome"]
        s["human_decisions"] += 1
        _close_step(s, at, event.actor)
    elif kind == "task_reassigned":
        task = s["tasks"][p["task_id"]]
        task["assignee"] = p["to"]
        task["reassignments"] += 1
        if p.get("due_at"):
            task["due_at"] = p["due_at"]
    elif kind == "task_escalated":
        task = s["tasks"][p["task_id"]]
        task["escalation_level"] = p["level"]
        task["due_at"] = p.get("due_at")
        if p.get("reassigned_to"):
            task["assignee"] = p["reassigned_to"]
        s["escalations"] += 1
    elif kind == "action_completed":
        s["data"].update(p.get("data") or {})
        _close_step(s, at, event.actor)
    elif kind == "data_updated":
        s["data"].update(p.get("data") or {})
    elif kind == "instance_ended":
        _close_step(s, at, None)
        s.update(status="completed", waiting=None, outcome=p["outcome"], ended_at=at)
    return s


def fold(
    events: Iterable[NewEvent | Event], stream: str, state: Mapping[str, Any] | None = None
) -> Any:
    """The state after applying ``events`` in order, from ``state`` (None: from nothing)."""
    out: Any = state
    for e in events:
        out = apply(out, e, stream)
    return out


def replay(events: Iterable[Event]) -> dict[str, dict[str, Any]]:
    """Every stream's state from a log of events in position order."""
    states: dict[str, dict[str, Any]] = {}
    for e in events:
        states[e.stream] = apply(states.get(e.stream), e, e.stream)
    return states
