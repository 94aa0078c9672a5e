"""Scripted user journeys, described declaratively in YAML.

A journey file holds ``defaults`` and a list of ``journeys``; each journey names the site it
starts on and a list of steps, one mapping of one key each::

    journeys:
      - name: find_a_product            # snake_case: it names the journey's asset check
        site: shop                      # relative URLs are on this site
        description: A visitor finds a product from the home page.
        steps:
          - navigate: /                                  # a path, or {slug}/path, or a URL
          - click: {role: link, name: Products}          # exact accessible name by default
          - expect_url: ^/products$                      # a regex searched in path + query
          - fill: {Search products: aura}                # accessible label -> value
          - expect_text: Aura Thermostat                 # text on the page ...
          - expect_text: {pattern: '\\$\\d+\\.\\d{2}'}   # ... or a regex
          - capture: {name: price, pattern: '(\\$[\\d,.]+)'}   # kept in the journey's result
          - wait_for: Order confirmed                    # text a script adds later

``fail_on`` (journey or defaults) lists the finding kinds that fail a journey besides a failed
step (:data:`FINDING_KINDS`; by default console errors and failed requests).
:func:`parse_journeys` checks everything and says exactly what is wrong and where.

Journeys name the sites they walk, so they live with those sites, not in this package (product
code names no site): the demo world's are ``orchestration_project/demo_world/qa_journeys.yaml``
(a test scans the product code for the evaluation sites' names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "DEFAULT_FAIL_ON",
    "FINDING_KINDS",
    "STEP_KINDS",
    "Journey",
    "JourneyError",
    "Step",
    "load_journeys",
    "parse_journeys",
]

STEP_KINDS = ("navigate", "click", "fill", "expect_text", "expect_url", "capture", "wait_for")
FINDING_KINDS = (
    "step_failed",
    "console_error",
    "failed_request",
    "broken_link",
    "slow_page",
    "a11y_change",
)
DEFAULT_FAIL_ON = ("console_error", "failed_request")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,60}$")
_ROLE = re.compile(r"^[a-z]+$")


class JourneyError(ValueError):
    """A journey file that cannot be used; the message names the journey and step."""


@dataclass(frozen=True)
class Step:
    """One step of a journey.

    Attributes:
        kind: one of :data:`STEP_KINDS`.
        arg: ``navigate``/``wait_for``: the URL or text; ``click``: ``{role, name, exact}``;
            ``fill``: label -> value; ``expect_text``: ``{text}`` or ``{pattern}``;
            ``expect_url``: the regex; ``capture``: ``{name, pattern}``.
    """

    kind: str
    arg: Any

    def describe(self) -> str:
        """The step as one short line (for results and error messages)."""
        a = self.arg
        if self.kind == "click":
            return f"click {a['role']} {a['name']!r}"
        if self.kind == "fill":
            return "fill " + ", ".join(a)
        if self.kind == "expect_text":
            return f"expect text {a.get('text') or '/' + a['pattern'] + '/'!r}"
        if self.kind == "capture":
            return f"capture {a['name']}"
        return f"{self.kind.replace('_', ' ')} {a!s}"


@dataclass(frozen=True)
class Journey:
    """A scripted user journey.

    Attributes:
        name: snake_case identifier (the asset check ``journey_<name>`` is named after it).
        site: the slug of the site relative URLs belong to.
        description: what the journey proves, in a sentence.
        steps: the steps, in order.
        fail_on: finding kinds that fail the journey (besides a failed step).
    """

    name: str
    site: str
    description: str
    steps: tuple[Step, ...]
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    tags: tuple[str, ...] = field(default_factory=tuple)


def _step(raw: Any, where: str) -> Step:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise JourneyError(f"{where}: a step is a mapping with one key, one of {STEP_KINDS}")
    [(kind, arg)] = raw.items()
    if kind not in STEP_KINDS:
        raise JourneyError(f"{where}: unknown step {kind!r} (steps: {', '.join(STEP_KINDS)})")
    if kind in ("navigate", "wait_for", "expect_url"):
        if not isinstance(arg, str) or not arg.strip():
            raise JourneyError(f"{where}: {kind} takes a non-empty string")
        if kind == "expect_url":
            _regex(arg, where)
        return Step(kind, arg.strip())
    if kind == "click":
        if not isinstance(arg, dict) or not {"role", "name"} <= set(arg):
            raise JourneyError(f"{where}: click takes {{role: ..., name: ...}}")
        extra = set(arg) - {"role", "name", "exact"}
        if extra:
            raise JourneyError(f"{where}: click does not take {', '.join(sorted(extra))}")
        role, name = str(arg["role"]), str(arg["name"])
        if not _ROLE.match(role) or not name.strip():
            raise JourneyError(f"{where}: click needs an ARIA role (link, button…) and a name")
        return Step(kind, {"role": role, "name": name, "exact": bool(arg.get("exact", True))})
    if kind == "fill":
        if not isinstance(arg, dict) or not arg:
            raise JourneyError(f"{where}: fill takes a mapping of field label to value")
        for label, value in arg.items():
            if not isinstance(value, str | int | float | bool):
                raise JourneyError(f"{where}: the value of {label!r} must be text or a boolean")
        return Step(kind, {str(k): v for k, v in arg.items()})
    if kind == "expect_text":
        if isinstance(arg, str) and arg.strip():
            return Step(kind, {"text": arg})
        if isinstance(arg, dict) and set(arg) == {"pattern"}:
            _regex(str(arg["pattern"]), where)
            return Step(kind, {"pattern": str(arg["pattern"])})
        raise JourneyError(f"{where}: expect_text takes a text or {{pattern: <regex>}}")
    # capture
    if not isinstance(arg, dict) or set(arg) != {"name", "pattern"}:
        raise JourneyError(f"{where}: capture takes {{name: ..., pattern: <regex>}}")
    if _regex(str(arg["pattern"]), where).groups != 1:
        raise JourneyError(f"{where}: a capture pattern needs exactly one group")
    if not _NAME.match(str(arg["name"])):
        raise JourneyError(f"{where}: a capture name is snake_case")
    return Step(kind, {"name": str(arg["name"]), "pattern": str(arg["pattern"])})


def _regex(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise JourneyError(f"{where}: {pattern!r} is not a regular expression ({exc})") from None


def _fail_on(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(k, str) for k in raw):
        raise JourneyError(f"{where}: fail_on is a list of finding kinds")
    unknown = [k for k in raw if k not in FINDING_KINDS]
    if unknown:
        raise JourneyError(
            f"{where}: unknown finding kinds {unknown} (kinds: {', '.join(FINDING_KINDS)})"
        )
    return tuple(raw)


def parse_journeys(text: str, *, sites: set[str] | None = None) -> list[Journey]:
    """Read a journey file.

    Args:
        text: the YAML.
        sites: the site slugs journeys may start on (None: any).

    Returns:
        The journeys, in file order.

    Raises:
        JourneyError: unreadable YAML, a missing or unknown key, a bad step, a duplicate name.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JourneyError(f"the journey file is not YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("journeys"), list):
        raise JourneyError("the journey file needs a list under 'journeys'")
    unknown = set(doc) - {"defaults", "journeys"}
    if unknown:
        raise JourneyError(f"unknown keys at the top of the file: {', '.join(sorted(unknown))}")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"fail_on"}:
        raise JourneyError("defaults may only set fail_on")
    default_fail = _fail_on(defaults.get("fail_on", list(DEFAULT_FAIL_ON)), "defaults")
    out: list[Journey] = []
    for i, raw in enumerate(doc["journeys"], start=1):
        where = f"journey {i}"
        if not isinstance(raw, dict):
            raise JourneyError(f"{where}: a journey is a mapping")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise JourneyError(f"{where}: name must be snake_case (it names an asset check)")
        where = f"journey {name!r}"
        extra = set(raw) - {"name", "site", "description", "steps", "fail_on", "tags"}
        if extra:
            raise JourneyError(f"{where}: unknown keys {', '.join(sorted(extra))}")
        if any(j.name == name for j in out):
            raise JourneyError(f"{where}: the name is used twice")
        site = raw.get("site")
        if not isinstance(site, str) or not site:
            raise JourneyError(f"{where}: site (the slug relative URLs belong to) is required")
        if sites is not None and site not in sites:
            raise JourneyError(
                f"{where}: unknown site {site!r} (sites: {', '.join(sorted(sites))})"
            )
        steps = raw.get("steps")
        if not isinstance(steps, list) or not steps:
            raise JourneyError(f"{where}: steps must be a non-empty list")
        parsed = tuple(_step(s, f"{where}, step {k}") for k, s in enumerate(steps, start=1))
        if parsed[0].kind != "navigate":
            raise JourneyError(f"{where}: the first step must be navigate")
        fail_on = _fail_on(raw["fail_on"], where) if "fail_on" in raw else default_fail
        out.append(
            Journey(
                name=name,
                site=site,
                description=str(raw.get("description") or ""),
                steps=parsed,
                fail_on=fail_on,
                tags=tuple(str(t) for t in raw.get("tags") or ()),
            )
        )
    return out


def load_journeys(path: str | Path, *, sites: set[str] | None = None) -> list[Journey]:
    """The journeys of a file (see :func:`parse_journeys`)."""
    return parse_journeys(Path(path).read_text(encoding="utf-8"), sites=sites)
