"""The agent runtime: agents are roles with typed tools; every action is recorded.

An ``Agent`` runs inside a Dagster op (the body of an asset or of an op in a graph-backed
asset). It calls ``Tool`` objects through ``Agent.use`` and records its choices through
``Agent.record_decision``; the ``ActionRecorder`` keeps each action — tool call, message or
decision — with its inputs, output summary, duration, cost and outcome. The recorder writes the
actions to the run's log as they happen and summarises them as asset metadata; the asset stores
the full list in the warehouse (``agent_actions``), where the operations group and the router
read them.

Tools describe their arguments with a JSON schema (``input_schema``), the same shape that MCP
tools declare, so an MCP server's tools can be wrapped as ``Tool`` objects without changing
agents.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

_SUMMARY_CHARS = 300


def summarise(value: Any, limit: int = _SUMMARY_CHARS) -> str:
    """A short, JSON-ish rendering of a tool's input or output for the action record."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class AgentAction:
    """One recorded agent action."""

    action_id: str
    run_id: str
    agent: str
    role: str
    kind: str  # "tool_call" | "message" | "decision"
    name: str  # tool name, topic or decision name
    inputs: str
    output: str
    started_at: datetime
    duration_s: float
    cost_usd: float
    outcome: str  # "ok" | "error" | an outcome word the tool reports (e.g. "timeout")
    error: str | None = None
    route: str | None = None
    task_id: str | None = None


class ActionRecorder:
    """Collects the actions of every agent in a step; thread-safe.

    Args:
        run_id: the Dagster run id (or any id for work outside Dagster).
        log: optional callable receiving one line per action (e.g. ``context.log.info``).
    """

    def __init__(self, run_id: str = "local", log: Callable[[str], None] | None = None) -> None:
        self.run_id = run_id
        self._log = log
        self._actions: list[AgentAction] = []
        self._lock = threading.Lock()

    def add(self, action: AgentAction) -> AgentAction:
        """Store an action and log it."""
        with self._lock:
            self._actions.append(action)
        if self._log is not None:
            extra = f" route={action.route}" if action.route else ""
            err = f" error={action.error}" if action.error else ""
            self._log(
                f"[{action.agent}/{action.role}] {action.kind} {action.name} -> {action.outcome}"
                f" in {action.duration_s * 1000:.0f} ms{extra}{err}"
            )
        return action

    @property
    def actions(self) -> list[AgentAction]:
        """A copy of the recorded actions, in order."""
        with self._lock:
            return list(self._actions)

    def to_frame(self) -> pd.DataFrame:
        """The actions as a DataFrame (the ``agent_actions`` table's rows)."""
        rows = [asdict(a) for a in self.actions]
        cols = list(AgentAction.__dataclass_fields__)
        return pd.DataFrame(rows, columns=cols)

    def summary(self) -> dict[str, Any]:
        """Counts, outcomes, time and cost per agent and tool: asset metadata."""
        df = self.to_frame()
        if df.empty:
            return {"actions": 0}
        by_tool = (
            df.groupby(["agent", "kind", "name", "outcome"])
            .agg(count=("action_id", "size"), total_s=("duration_s", "sum"))
            .reset_index()
        )
        return {
            "actions": int(len(df)),
            "tool_calls": int((df["kind"] == "tool_call").sum()),
            "decisions": int((df["kind"] == "decision").sum()),
            "messages": int((df["kind"] == "message").sum()),
            "errors": int((df["outcome"] != "ok").sum()),
            "cost_usd": float(df["cost_usd"].sum()),
            "by_tool": by_tool.to_dict("records"),
        }


@dataclass
class ToolResult:
    """What a tool returns: a value, plus the facts the recorder needs."""

    value: Any
    outcome: str = "ok"
    cost_usd: float = 0.0
    route: str | None = None
    error: str | None = None


class Tool(ABC):
    """A typed capability an agent may use.

    Subclasses set ``name``, ``description`` and ``input_schema`` (a JSON schema of the keyword
    arguments, as MCP tools declare) and implement ``run``.
    """

    name: str = "tool"
    description: str = ""
    input_schema: dict[str, Any] = {"type": "object", "properties": {}}

    @abstractmethod
    def run(self, **kwargs: Any) -> ToolResult:
        """Do the work; return a ``ToolResult`` (raise only for programming errors)."""

    def validate(self, arguments: dict[str, Any]) -> None:
        """Check required arguments and unknown names against ``input_schema``."""
        props = self.input_schema.get("properties", {})
        missing = [k for k in self.input_schema.get("required", []) if k not in arguments]
        unknown = [k for k in arguments if props and k not in props]
        if missing or unknown:
            raise ToolArgumentError(
                f"tool {self.name}: missing arguments {missing}, unknown arguments {unknown}"
            )


class ToolArgumentError(ValueError):
    """A tool was called with arguments its schema does not accept."""


class FunctionTool(Tool):
    """A tool made from a plain function returning a ``ToolResult`` or a value."""

    def __init__(
        self,
        name: str,
        fn: Callable[..., Any],
        *,
        description: str = "",
        input_schema: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.description = description or (fn.__doc__ or "").strip()
        self.input_schema = input_schema or {"type": "object", "properties": {}}
        self._fn = fn

    def run(self, **kwargs: Any) -> ToolResult:
        """Call the function; wrap a plain return value in a ``ToolResult``."""
        out = self._fn(**kwargs)
        return out if isinstance(out, ToolResult) else ToolResult(value=out)


@dataclass
class Agent:
    """A role with a goal and tools; every action it takes is recorded."""

    name: str
    role: str
    goal: str
    tools: dict[str, Tool] = field(default_factory=dict)
    recorder: ActionRecorder = field(default_factory=ActionRecorder)

    def record(
        self,
        kind: str,
        name: str,
        *,
        inputs: Any = None,
        output: Any = None,
        started_at: datetime | None = None,
        duration_s: float = 0.0,
        cost_usd: float = 0.0,
        outcome: str = "ok",
        error: str | None = None,
        route: str | None = None,
        task_id: str | None = None,
    ) -> AgentAction:
        """Record one action of this agent (the other ``record_*`` methods use this)."""
        return self.recorder.add(
            AgentAction(
                action_id=uuid.uuid4().hex,
                run_id=self.recorder.run_id,
                agent=self.name,
                role=self.role,
                kind=kind,
                name=name,
                inputs=summarise(inputs),
                output=summarise(output),
                started_at=started_at or datetime.now(UTC),
                duration_s=duration_s,
                cost_usd=cost_usd,
                outcome=outcome,
                error=error,
                route=route,
                task_id=task_id,
            )
        )

    def use(self, tool_name: str, *, task_id: str | None = None, **arguments: Any) -> ToolResult:
        """Call one of the agent's tools and record the call (errors are recorded, then raised)."""
        if tool_name not in self.tools:
            raise ToolArgumentError(f"agent {self.name} has no tool {tool_name!r}")
        tool = self.tools[tool_name]
        tool.validate(arguments)
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            result = tool.run(**arguments)
        except Exception as exc:
            self.record(
                "tool_call",
                tool_name,
                inputs=arguments,
                started_at=started,
                duration_s=time.perf_counter() - t0,
                outcome="error",
                error=f"{type(exc).__name__}: {exc}",
                task_id=task_id,
            )
            raise
        self.record(
            "tool_call",
            tool_name,
            inputs=arguments,
            output=result.value,
            started_at=started,
            duration_s=time.perf_counter() - t0,
            cost_usd=result.cost_usd,
            outcome=result.outcome,
            error=result.error,
            route=result.route,
            task_id=task_id,
        )
        return result

    def record_decision(
        self,
        name: str,
        choice: Any,
        *,
        inputs: Any = None,
        rationale: str = "",
        duration_s: float = 0.0,
        started_at: datetime | None = None,
        task_id: str | None = None,
    ) -> None:
        """Record a decision taken elsewhere (e.g. by a conflict resolver)."""
        self.record(
            "decision",
            name,
            inputs=inputs,
            output={"choice": choice, "rationale": rationale},
            started_at=started_at,
            duration_s=duration_s,
            task_id=task_id,
        )

    def record_message(self, topic: str, key: str, payload: Any, *, count: int = 1) -> None:
        """Record messages this agent published to the bus."""
        self.record("message", topic, inputs={"key": key, "count": count}, output=payload)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a block of the agent's own work, recorded as a ``work`` action."""
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        outcome, error = "ok", None
        try:
            yield
        except Exception as exc:
            outcome, error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.record(
                "work",
                name,
                started_at=started,
                duration_s=time.perf_counter() - t0,
                outcome=outcome,
                error=error,
            )
