"""Process definitions: a long-running process described in YAML, checked by pydantic.

A process is a list of steps. Each step has a kind:

* ``task`` — a person decides (``outcomes``, e.g. approve / reject). The task goes to its
  ``assignee`` (a role from ``roles`` or a person's name), is due after ``sla``, and when
  overdue climbs its ``escalations`` one level at a time (notify people, reassign it, give it
  more time). ``distinct_from`` names earlier steps whose deciders may not decide this one
  (four eyes).
* ``decision`` — the engine routes by the conditions of ``next``, no person involved.
* ``action`` — the instance waits for the system (an asset, e.g. the payment export) to
  complete the step.
* ``end`` — the instance ends with ``outcome``.

``next`` is an ordered list of ``{when: <condition>, goto: <step>}``; the first whose condition
holds wins, and the last one must have no ``when`` (the otherwise branch), so an instance can
never get stuck. Conditions are small Python-like expressions (``amount < auto_approve_below
and currency == 'EUR'``, ``outcome == 'reject'``) over the instance's data, the process's
``params`` and ``outcome`` (the last task's decision); they are parsed at load time and
evaluated without ``eval``.

YAML is read with YAML 1.2 booleans: only ``true``/``false`` are booleans, so ``NO`` (Norway),
``no``, ``on`` and ``off`` stay strings (YAML 1.1 would silently turn them into booleans).
Errors name the file, the place (``steps[2].assignee``) and what is wrong.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "PROCESSES_DIR",
    "Condition",
    "ConditionError",
    "Escalation",
    "ProcessDefinition",
    "ProcessDefinitionError",
    "Step",
    "Transition",
    "bundled_processes",
    "load_process",
    "parse_duration",
    "parse_process",
]

PROCESSES_DIR = Path(__file__).resolve().parent / "processes"
_ID = r"^[a-z][a-z0-9_]*$"


class ProcessDefinitionError(ValueError):
    """A process definition that cannot be used, with every problem and where it is."""


class ConditionError(ValueError):
    """A condition that cannot be parsed or evaluated."""


# -- YAML with 1.2 booleans -----------------------------------------------------------------------


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader whose only booleans are true/false (YAML 1.2), not yes/no/on/off."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


# -- durations ------------------------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)")


def parse_duration(value: Any) -> timedelta:
    """A duration from YAML: a number of minutes, or text such as ``90s``, ``30m``, ``4h``,
    ``2d``, ``1d 4h``.

    Raises:
        ValueError: anything else (a boolean, a negative or zero duration, unknown units).
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"a duration, not the boolean {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) * 60
    elif isinstance(value, str):
        text = value.strip().lower()
        parts = _PART.findall(text)
        if not parts or _PART.sub("", text).strip():
            raise ValueError(f"{value!r} is not a duration such as 90s, 30m, 4h, 2d or 1d 4h")
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"a duration (minutes or text such as 4h), not {type(value).__name__}")
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {value!r}")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


# -- conditions -----------------------------------------------------------------------------------

_CMP = {
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class Condition:
    """A parsed condition: comparisons, ``and``/``or``/``not``, names, literals and lists of
    literals. Anything else (calls, attributes, subscripts) is refused when parsed."""

    def __init__(self, text: str) -> None:
        """Parse ``text``.

        Raises:
            ConditionError: a syntax error or a construct conditions do not allow.
        """
        self.text = text
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise ConditionError(f"condition {text!r} is not valid: {exc.msg}") from None
        self._check(tree.body)
        self._tree = tree.body
        self.names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)})

    def _check(self, node: ast.AST) -> None:
        if isinstance(node, ast.BoolOp | ast.UnaryOp | ast.Compare):
            if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not | ast.USub):
                raise ConditionError(f"condition {self.text!r}: operator not allowed")
            if isinstance(node, ast.Compare) and any(type(op) not in _CMP for op in node.ops):
                raise ConditionError(f"condition {self.text!r}: comparison not allowed")
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, ast.cmpop | ast.boolop | ast.unaryop):
                    self._check(child)
        elif isinstance(node, ast.List | ast.Tuple):
            for elt in node.elts:
                self._check(elt)
        elif isinstance(node, ast.Name | ast.Constant):
            return
        else:
            kind = type(node).__name__
            raise ConditionError(f"condition {self.text!r}: {kind} is not allowed in a condition")

    def evaluate(self, context: Mapping[str, Any]) -> bool:
        """Whether the condition holds for ``context`` (names -> values).

        Raises:
            ConditionError: a name missing from the context, or values that do not compare.
        """
        try:
            return bool(self._eval(self._tree, context))
        except ConditionError:
            raise
        except TypeError as exc:
            raise ConditionError(f"condition {self.text!r}: {exc}") from None

    def _eval(self, node: ast.AST, ctx: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in ctx:
                raise ConditionError(f"condition {self.text!r}: unknown name {node.id!r}")
            return ctx[node.id]
        if isinstance(node, ast.List | ast.Tuple):
            return [self._eval(e, ctx) for e in node.elts]
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, ctx)
            return (not value) if isinstance(node.op, ast.Not) else -value
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                return all(self._eval(v, ctx) for v in node.values)
            return any(self._eval(v, ctx) for v in node.values)
        assert isinstance(node, ast.Compare)
        left = self._eval(node.left, ctx)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self._eval(comparator, ctx)
            if not _CMP[type(op)](left, right):
                return False
            left = right
        return True

    def __repr__(self) -> str:
        """The condition's text."""
        return f"Condition({self.text!r})"


# -- the model ------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Escalation(_Strict):
    """One level of escalation of an overdue task."""

    notify: list[str] = Field(default_factory=list, description="people or roles to notify")
    reassign_to: str | None = Field(default=None, description="role or person; None: keep it")
    extend: Duration | None = Field(
        default=None, description="new time to decide after this level (default: the step SLA)"
    )
    severity: Literal["info", "warning", "critical"] = "warning"


class Transition(_Strict):
    """``goto`` when ``when`` holds (no ``when``: always)."""

    when: str | None = None
    goto: str = Field(pattern=_ID)

    @model_validator(mode="after")
    def _parse(self) -> Transition:
        if self.when is not None:
            Condition(self.when)
        return self

    def condition(self) -> Condition | None:
        """The parsed condition (None: always)."""
        return Condition(self.when) if self.when is not None else None


class Step(_Strict):
    """One step of a process (see the module docstring for the kinds)."""

    id: str = Field(pattern=_ID)
    kind: Literal["task", "decision", "action", "end"]
    title: str = ""
    assignee: str | None = None
    outcomes: list[str] = Field(default_factory=lambda: ["approve", "reject"])
    sla: Duration | None = None
    escalations: list[Escalation] = Field(default_factory=list)
    distinct_from: list[str] = Field(default_factory=list)
    evidence: list[str] = Field(
        default_factory=list, description="data fields the inbox shows first"
    )
    next: list[Transition] = Field(default_factory=list)
    outcome: str | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> Step:
        problems = []
        if self.kind == "task":
            if not self.assignee:
                problems.append("a task needs an assignee (a role or a person)")
            if not self.outcomes:
                problems.append("a task needs at least one outcome")
            if len(set(self.outcomes)) != len(self.outcomes):
                problems.append("outcomes must be distinct")
            if self.escalations and self.sla is None:
                problems.append("escalations need an sla (when the task becomes overdue)")
        else:
            for name in ("assignee", "sla", "escalations", "distinct_from"):
                if getattr(self, name):
                    problems.append(f"{name} is only for task steps")
        if self.kind == "end":
            if self.next:
                problems.append("an end step has no next")
            if not self.outcome:
                problems.append("an end step needs an outcome (e.g. paid, rejected)")
        else:
            if self.outcome:
                problems.append("outcome is only for end steps")
            if not self.next:
                problems.append("needs next (where to go after it)")
            elif self.next[-1].when is not None:
                problems.append(
                    "the last transition of next must have no `when` (the otherwise branch)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def title_or_id(self) -> str:
        """The title, or the id made readable."""
        return self.title or self.id.replace("_", " ").capitalize()


class ProcessDefinition(_Strict):
    """A whole process: its steps, the people of its roles, its parameters and SLA."""

    name: str = Field(pattern=_ID)
    version: int = Field(default=1, ge=1)
    description: str = ""
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    roles: dict[str, list[str]] = Field(default_factory=dict)
    sla: Duration | None = Field(default=None, description="the whole instance's time limit")
    start: str | None = None
    steps: list[Step]

    @model_validator(mode="after")
    def _graph(self) -> ProcessDefinition:
        ids = [s.id for s in self.steps]
        problems = []
        if not ids:
            problems.append("steps: at least one step")
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"steps: duplicate ids {dupes}")
        known = set(ids)
        start = self.start or (ids[0] if ids else None)
        if start is not None and start not in known:
            problems.append(f"start: no step {start!r}")
        for i, s in enumerate(self.steps):
            for j, t in enumerate(s.next):
                if t.goto not in known:
                    problems.append(f"steps[{i}] ({s.id}).next[{j}].goto: no step {t.goto!r}")
            for d in s.distinct_from:
                if d not in known:
                    problems.append(f"steps[{i}] ({s.id}).distinct_from: no step {d!r}")
        if not problems and start is not None:
            by_id = {s.id: s for s in self.steps}
            seen, todo = set(), [start]
            while todo:
                cur = todo.pop()
                if cur in seen:
                    continue
                seen.add(cur)
                todo.extend(t.goto for t in by_id[cur].next)
            unreachable = [i for i in ids if i not in seen]
            if unreachable:
                problems.append(f"steps {unreachable} cannot be reached from {start!r}")
            if not any(by_id[i].kind == "end" for i in seen):
                problems.append("no end step can be reached")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def first_step(self) -> str:
        """Where an instance starts."""
        return self.start or self.steps[0].id

    def step(self, step_id: str) -> Step:
        """The step ``step_id``.

        Raises:
            KeyError: no such step.
        """
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(f"process {self.name!r} has no step {step_id!r}")

    def people(self, assignee: str) -> list[str]:
        """The people an assignee stands for: a role's members, or the person themself."""
        return list(self.roles.get(assignee, [assignee]))

    def may_act(self, user: str, assignee: str) -> bool:
        """Whether ``user`` may decide a task assigned to ``assignee``."""
        return user == assignee or user in self.roles.get(assignee, [])

    def task_steps(self) -> list[Step]:
        """The steps a person decides."""
        return [s for s in self.steps if s.kind == "task"]


# -- loading --------------------------------------------------------------------------------------


def _where(loc: tuple[Any, ...], raw: Any) -> str:
    """``('steps', 2, 'assignee')`` -> ``steps[2] (approve).assignee``."""
    out, node = "", raw
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            try:
                node = node[part]
                if isinstance(node, dict) and "id" in node:
                    out += f" ({node['id']})"
            except (IndexError, KeyError, TypeError):
                node = None
        elif str(part).startswith("function-") or part in ("tagged-union",):
            continue
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _explain(exc: ValidationError, raw: Any, source: str) -> ProcessDefinitionError:
    lines = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if isinstance(err.get("input"), bool):
            msg += " (a boolean here: quote the value)"
        lines.append(f"  {_where(err['loc'], raw)}: {msg}")
    return ProcessDefinitionError(f"process definition {source} is invalid:\n" + "\n".join(lines))


def parse_process(text: str, *, source: str = "<text>") -> ProcessDefinition:
    """A process definition from YAML text.

    Raises:
        ProcessDefinitionError: the YAML does not parse, is not a mapping, or breaks a rule;
            the message names the source, the place and the problem.
    """
    try:
        raw = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProcessDefinitionError(
            f"process definition {source} is not valid YAML{where}: {problem}"
        ) from None
    if not isinstance(raw, dict):
        raise ProcessDefinitionError(
            f"process definition {source} must be a mapping with name and steps, "
            f"got {type(raw).__name__}"
        )
    try:
        return ProcessDefinition.model_validate(raw)
    except ValidationError as exc:
        raise _explain(exc, raw, source) from None


def load_process(path: str | Path) -> ProcessDefinition:
    """A process definition from a YAML file (see :func:`parse_process`)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProcessDefinitionError(f"process definition {p} cannot be read: {exc}") from None
    return parse_process(text, source=str(p))


def bundled_processes(folder: str | Path | None = None) -> dict[str, ProcessDefinition]:
    """Every ``*.yaml`` process in ``folder`` (default: the bundled ones), by name.

    Raises:
        ProcessDefinitionError: a file is invalid, or two files define the same name.
    """
    out: dict[str, ProcessDefinition] = {}
    for path in sorted(Path(folder or PROCESSES_DIR).glob("*.yaml")):
        definition = load_process(path)
        if definition.name in out:
            raise ProcessDefinitionError(f"process {definition.name!r} is defined twice ({path})")
        out[definition.name] = definition
    return out
