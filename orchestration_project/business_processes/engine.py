"""The process engine: start an instance, complete a system step, decide or reassign a task,
escalate overdue tasks. Every command reads the instance's projected state, works out the
events that follow (moving through decision steps by their conditions until a person or the
system must act, or the process ends) and appends them in one transaction; the new state is
their fold. A command that lost a race with another writer on the same instance is retried
on the fresh state.

The clock is injected (``clock``), so SLAs and escalations are tested without sleeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestration_project.business_processes.definition import Condition, ProcessDefinition
from orchestration_project.business_processes.events import ConcurrencyError, EventStore
from orchestration_project.business_processes.projection import NewEvent, apply, iso, parse_iso

__all__ = [
    "EscalationNotice",
    "InstanceExists",
    "NotAllowed",
    "ProcessEngine",
    "ProcessError",
    "TaskClosed",
    "UnknownInstance",
]

MAX_AUTOMATIC_STEPS = 200
RETRIES = 5


class ProcessError(RuntimeError):
    """A command the process does not allow in the instance's current state."""


class NotAllowed(ProcessError):
    """The person may not do this (not an assignee, four-eyes rule, unknown person)."""


class TaskClosed(ProcessError):
    """The task was already decided (perhaps by someone else a moment ago)."""


class InstanceExists(ProcessError):
    """An instance with this id was started before."""


class UnknownInstance(ProcessError, KeyError):
    """No instance or task with this id."""


@dataclass(frozen=True)
class EscalationNotice:
    """An overdue task escalated one level: who is told, who holds it now.

    Attributes:
        instance_id, task_id, process, step, title: the task.
        level: the escalation level reached (1 = first).
        severity: ``info``, ``warning`` or ``critical`` (from the YAML).
        notify: the people to notify (roles expanded).
        reassigned_to: the new assignee, or None.
        overdue_minutes: how late the task was.
        due_at: the new due time (ISO), or None.
        at: when it was escalated (ISO).
    """

    instance_id: str
    task_id: str
    process: str
    step: str
    title: str
    level: int
    severity: str
    notify: tuple[str, ...]
    reassigned_to: str | None
    overdue_minutes: float
    due_at: str | None
    at: str

    @property
    def message(self) -> str:
        """One sentence for people."""
        moved = f", reassigned to {self.reassigned_to}" if self.reassigned_to else ""
        return (
            f"{self.title} ({self.instance_id}) is {self.overdue_minutes:.0f} min overdue: "
            f"escalation level {self.level}{moved}"
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ProcessEngine:
    """Runs process instances over an :class:`EventStore`.

    Args:
        events: the event store.
        definitions: the processes, by name (or a list of them).
        clock: the current time (injectable; default the wall clock, UTC).
    """

    def __init__(
        self,
        events: EventStore,
        definitions: Mapping[str, ProcessDefinition] | Iterable[ProcessDefinition],
        *,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Keep the store, the definitions and the clock."""
        self.events = events
        defs = definitions.values() if isinstance(definitions, Mapping) else definitions
        self.definitions: dict[str, ProcessDefinition] = {d.name: d for d in defs}
        self.clock = clock
        self._conditions: dict[str, Condition] = {}

    # -- helpers --------------------------------------------------------------------------------

    def definition(self, process: str) -> ProcessDefinition:
        """The definition of ``process``.

        Raises:
            ProcessError: an unknown process.
        """
        try:
            return self.definitions[process]
        except KeyError:
            raise ProcessError(
                f"unknown process {process!r}; known: {sorted(self.definitions)}"
            ) from None

    def _condition(self, text: str) -> Condition:
        cond = self._conditions.get(text)
        if cond is None:
            cond = self._conditions[text] = Condition(text)
        return cond

    def _route(self, d: ProcessDefinition, step_id: str, state: dict[str, Any]) -> tuple[str, str]:
        ctx = {**d.params, **state["data"], "outcome": state["last_outcome"]}
        for t in d.step(step_id).next:
            if t.when is None or self._condition(t.when).evaluate(ctx):
                return t.goto, t.when or "otherwise"
        raise ProcessError(f"{d.name}.{step_id}: no transition applies")  # unreachable: validated

    def _enter(
        self,
        d: ProcessDefinition,
        state: dict[str, Any],
        step_id: str,
        now: datetime,
        out: list[NewEvent],
    ) -> dict[str, Any]:
        """Enter ``step_id`` and move on through decision steps; append the events to ``out``."""
        at = iso(now)
        sid = state["instance_id"]

        def emit(kind: str, payload: dict[str, Any], actor: str = "engine") -> None:
            nonlocal state
            ev = NewEvent(kind, payload, actor, at)
            out.append(ev)
            state = apply(state, ev, sid)

        for _ in range(MAX_AUTOMATIC_STEPS):
            step = d.step(step_id)
            emit("step_entered", {"step": step.id, "kind": step.kind})
            if step.kind == "decision":
                goto, rule = self._route(d, step.id, state)
                emit("decision_taken", {"step": step.id, "goto": goto, "when": rule})
                step_id = goto
                continue
            if step.kind == "task":
                emit(
                    "task_opened",
                    {
                        "task_id": f"T{uuid.uuid4().hex[:15]}",
                        "step": step.id,
                        "title": step.title_or_id,
                        "assignee": step.assignee,
                        "due_at": iso(now + step.sla) if step.sla else None,
                    },
                )
            elif step.kind == "end":
                emit("instance_ended", {"step": step.id, "outcome": step.outcome})
            return state
        raise ProcessError(f"{d.name}: more than {MAX_AUTOMATIC_STEPS} automatic steps (a loop)")

    def _command(
        self, instance_id: str, build: Callable[[dict[str, Any] | None], list[NewEvent]]
    ) -> dict[str, Any]:
        """Run ``build`` on the fresh state and append its events; retried on a lost race."""
        for attempt in range(RETRIES):
            state = self.events.state(instance_id)
            new = build(state)
            try:
                self.events.append(
                    instance_id, new, expected_seq=state["seq"] if state else 0, state=state
                )
            except ConcurrencyError:
                if attempt == RETRIES - 1:
                    raise
                continue
            out: Any = state
            for e in new:
                out = apply(out, e, instance_id)
            return out
        raise AssertionError("unreachable")

    def _open_task(self, task_id: str) -> tuple[str, dict[str, Any]]:
        row = self.events.task(task_id)
        if row is None:
            raise UnknownInstance(f"no task {task_id!r}")
        return row["instance_id"], row

    # -- commands -------------------------------------------------------------------------------

    def start(
        self,
        process: str,
        instance_id: str,
        data: Mapping[str, Any],
        *,
        actor: str = "system",
        exist_ok: bool = False,
    ) -> dict[str, Any]:
        """Start an instance of ``process`` with ``data`` and run it to its first wait.

        Args:
            process: the process name.
            instance_id: the caller's id for it (e.g. ``invoice:<vendor>:<number>``); starting
                the same id twice is refused, so a re-run never starts a second instance.
            data: JSON-ready facts the conditions and the inbox see.
            actor: who started it.
            exist_ok: return the existing instance instead of raising.

        Raises:
            InstanceExists: the id was started before (and not ``exist_ok``).
        """
        d = self.definition(process)

        def build(state: dict[str, Any] | None) -> list[NewEvent]:
            if state is not None:
                raise InstanceExists(f"instance {instance_id} exists")
            now = self.clock()
            out = [
                NewEvent(
                    "instance_started",
                    {"process": d.name, "version": d.version, "data": dict(data)},
                    actor,
                    iso(now),
                )
            ]
            first = apply(None, out[0], instance_id)
            self._enter(d, first, d.first_step, now, out)
            return out

        try:
            return self._command(instance_id, build)
        except InstanceExists:
            if not exist_ok:
                raise
            state = self.events.state(instance_id)
            assert state is not None
            return state

    def complete_step(
        self,
        instance_id: str,
        step: str,
        *,
        data: Mapping[str, Any] | None = None,
        actor: str = "system",
    ) -> dict[str, Any]:
        """The system finished the action step ``step`` (adding ``data``); move on.

        Raises:
            UnknownInstance: no such instance.
            ProcessError: the instance is not waiting at that action step.
        """

        def build(state: dict[str, Any] | None) -> list[NewEvent]:
            if state is None:
                raise UnknownInstance(f"no instance {instance_id!r}")
            d = self.definition(state["process"])
            if state["step"] != step or state["waiting"] != "system":
                raise ProcessError(
                    f"{instance_id} is at {state['step']!r} ({state['status']}), not waiting "
                    f"for the system at {step!r}"
                )
            now = self.clock()
            ev = NewEvent(
                "action_completed", {"step": step, "data": dict(data or {})}, actor, iso(now)
            )
            out = [ev]
            after = apply(state, ev, instance_id)
            goto, _ = self._route(d, step, after)
            self._enter(d, after, goto, now, out)
            return out

        return self._command(instance_id, build)

    def decide(self, task_id: str, outcome: str, *, by: str, reason: str = "") -> dict[str, Any]:
        """``by`` decides the task ``task_id`` with ``outcome`` (and why); the instance moves on.

        A reason is required for every outcome but the step's first (e.g. a rejection).

        Raises:
            UnknownInstance: no such task.
            TaskClosed: the task was decided already.
            NotAllowed: ``by`` is not the assignee (or one of its role), or decided an earlier
                step this one must be decided by someone else than (four eyes).
            ProcessError: an outcome the step does not offer, or a missing reason.
        """
        instance_id, _ = self._open_task(task_id)

        def build(state: dict[str, Any] | None) -> list[NewEvent]:
            assert state is not None
            d = self.definition(state["process"])
            task = state["tasks"][task_id]
            if task["status"] != "open":
                raise TaskClosed(
                    f"task {task_id} was already decided ({task['outcome']} by "
                    f"{task['decided_by']})"
                )
            step = d.step(task["step"])
            if outcome not in step.outcomes:
                raise ProcessError(f"{outcome!r} is not one of {step.outcomes} for {step.id}")
            if not d.may_act(by, task["assignee"]):
                raise NotAllowed(f"{by} may not decide a task assigned to {task['assignee']}")
            for other in state["tasks"].values():
                if other["step"] in step.distinct_from and other["decided_by"] == by:
                    raise NotAllowed(
                        f"{by} decided {other['step']} of this instance: {step.id} needs "
                        "someone else (four eyes)"
                    )
            if outcome != step.outcomes[0] and not reason.strip():
                raise ProcessError(f"a reason is required to {outcome}")
            now = self.clock()
            ev = NewEvent(
                "task_decided",
                {"task_id": task_id, "step": step.id, "outcome": outcome, "reason": reason},
                by,
                iso(now),
            )
            out = [ev]
            after = apply(state, ev, instance_id)
            goto, _ = self._route(d, step.id, after)
            self._enter(d, after, goto, now, out)
            return out

        return self._command(instance_id, build)

    def reassign(self, task_id: str, to: str, *, by: str, reason: str) -> dict[str, Any]:
        """``by`` hands the open task to ``to`` (a role or a person of the process), saying why.

        Raises:
            UnknownInstance: no such task. TaskClosed: it is decided.
            NotAllowed: ``by`` may not act on it, or ``to`` is nobody the process knows.
            ProcessError: no reason given.
        """
        instance_id, _ = self._open_task(task_id)

        def build(state: dict[str, Any] | None) -> list[NewEvent]:
            assert state is not None
            d = self.definition(state["process"])
            task = state["tasks"][task_id]
            if task["status"] != "open":
                raise TaskClosed(f"task {task_id} was already decided")
            if not d.may_act(by, task["assignee"]):
                raise NotAllowed(f"{by} may not reassign a task assigned to {task['assignee']}")
            people = {p for members in d.roles.values() for p in members}
            if to not in d.roles and to not in people:
                raise NotAllowed(f"{to!r} is neither a role nor a person of {d.name}")
            if not reason.strip():
                raise ProcessError("a reason is required to reassign")
            return [
                NewEvent(
                    "task_reassigned",
                    {"task_id": task_id, "from": task["assignee"], "to": to, "reason": reason},
                    by,
                    iso(self.clock()),
                )
            ]

        return self._command(instance_id, build)

    def escalate_overdue(self, *, now: datetime | None = None) -> list[EscalationNotice]:
        """Escalate every open task past its due time by one level of its step's
        ``escalations`` (notify, reassign, new due time). A task at its last level stays as it
        is (it was escalated as far as the YAML says).

        Returns:
            One notice per escalation made, for the alerting sinks.
        """
        now = now or self.clock()
        notices = []
        for row in self.events.tasks(status="open", due_before=iso(now)):
            d = self.definitions.get(row["process"])
            if d is None:
                continue
            step = d.step(row["step"])
            level = int(row["escalation_level"])
            if level >= len(step.escalations):
                continue
            esc = step.escalations[level]
            extend = esc.extend or step.sla
            due = iso(now + extend) if extend else None
            notify = tuple(dict.fromkeys(p for n in esc.notify for p in d.people(n)))
            overdue = (now - parse_iso(row["due_at"])).total_seconds() / 60
            payload = {
                "task_id": row["task_id"],
                "step": step.id,
                "level": level + 1,
                "severity": esc.severity,
                "notify": list(notify),
                "reassigned_to": esc.reassign_to,
                "due_at": due,
                "overdue_minutes": round(overdue, 2),
            }

            def build(state: dict[str, Any] | None, row: dict = row, payload: dict = payload):
                assert state is not None
                task = state["tasks"][row["task_id"]]
                if task["status"] != "open" or task["escalation_level"] != payload["level"] - 1:
                    return []  # decided or escalated meanwhile
                return [NewEvent("task_escalated", payload, "sla", iso(now))]

            try:
                state = self._command(row["instance_id"], build)
            except ConcurrencyError:
                continue  # the next evaluation sees it again
            task = state["tasks"][row["task_id"]]
            if task["escalation_level"] != level + 1:
                continue
            notices.append(
                EscalationNotice(
                    instance_id=row["instance_id"],
                    task_id=row["task_id"],
                    process=d.name,
                    step=step.id,
                    title=row["title"],
                    level=level + 1,
                    severity=esc.severity,
                    notify=notify,
                    reassigned_to=esc.reassign_to,
                    overdue_minutes=round(overdue, 2),
                    due_at=due,
                    at=iso(now),
                )
            )
        return notices

    # -- queries --------------------------------------------------------------------------------

    def state(self, instance_id: str) -> dict[str, Any]:
        """The instance's current state.

        Raises:
            UnknownInstance: no such instance.
        """
        state = self.events.state(instance_id)
        if state is None:
            raise UnknownInstance(f"no instance {instance_id!r}")
        return state

    def tasks_for(self, user: str, *, status: str | None = "open") -> list[dict[str, Any]]:
        """The tasks ``user`` may act on: assigned to them or to one of their roles."""
        names = {user}
        for d in self.definitions.values():
            names |= {role for role, members in d.roles.items() if user in members}
        return [
            t
            for t in self.events.tasks(status=status, assignees=sorted(names))
            if t["assignee"] == user or self.definition(t["process"]).may_act(user, t["assignee"])
        ]
