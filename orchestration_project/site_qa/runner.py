"""Running a scripted journey through the Playwright MCP server's browser tools.

The runner drives a :class:`~orchestration_project.agents.mcp_loop.ToolCaller` (in Dagster, the
``playwright_mcp`` resource's recorded agent), step by step: ``browser_navigate``,
``browser_click`` and ``browser_fill_form`` on controls found by role and accessible name or
label in the page's ``browser_snapshot``, never by CSS. After every step that can load a page it
looks at the page the way a QA engineer would:

* ``browser_console_messages`` (level error): **console errors**;
* ``browser_network_requests``: **failed requests** (HTTP 4xx/5xx or a network failure);
  requests the URL policy refused are reported as ``blocked_request`` (information: a
  third-party resource the QA browser may not load is not a fault of the site);
* the links of the page (from the snapshot), each checked once per run by a
  :class:`~orchestration_project.site_qa.links.HttpLinkChecker`: **broken links**;
* the time the step took (what the user waited): **slow pages** above ``slow_page_ms``;
* the page's normalised accessibility tree against the journey's last good one:
  **accessibility changes**.

A step that cannot be done (no such control, an expectation not met, an HTTP error page) fails
the journey there; findings of the kinds the journey's ``fail_on`` lists fail it too; others
are reported as warnings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from orchestration_project.agents.mcp_loop import AxNode, McpResponse, Snapshot, ToolCaller
from orchestration_project.site_qa.a11y import diff_snapshots, mask_volatile, normalise_snapshot
from orchestration_project.site_qa.journeys import Journey, Step
from orchestration_project.site_qa.links import HttpLinkChecker, Policy

__all__ = [
    "Finding",
    "console_entries",
    "JourneyResult",
    "JourneyRunner",
    "PageVisit",
    "StepFailed",
    "StepRecord",
]

FILLABLE = {
    "textbox": "textbox",
    "searchbox": "textbox",
    "spinbutton": "textbox",
    "combobox": "combobox",
    "checkbox": "checkbox",
    "radio": "radio",
    "slider": "slider",
}
_REQUEST = re.compile(
    r"^\s*\d+\.\s+\[(?P<method>[A-Z]+)\]\s+(?P<url>\S+)\s+=>\s+\[(?P<what>[^\]]+)\]"
)
_CONSOLE = re.compile(r"^\[(?P<level>[A-Z]+)\]\s+(?P<text>.*)$")
_BLOCKED = ("ERR_BLOCKED_BY_CLIENT", "blocked by the URL policy", "Refused by the URL policy")


class StepFailed(Exception):
    """A step could not be done; the message says what and where."""


@dataclass
class Finding:
    """Something wrong (or worth knowing) that a journey saw.

    Attributes:
        journey: the journey's name.
        kind: ``step_failed``, ``console_error``, ``failed_request``, ``blocked_request``,
            ``broken_link``, ``slow_page`` or ``a11y_change``.
        severity: ``error`` (fails the journey), ``warning`` or ``info``.
        page: the URL of the page it was seen on.
        detail: what exactly, in a sentence.
        step: the 1-based step number it was seen at.
    """

    journey: str
    kind: str
    severity: str
    page: str
    detail: str
    step: int


@dataclass
class PageVisit:
    """A page a journey arrived at.

    Attributes:
        key: the page's baseline key: step number and path with numbers masked.
        url: the page's URL.
        step: the step that loaded it.
        load_ms: how long that step took (the user's wait).
        status: the HTTP status the page reported (200 if none).
        tree: the normalised accessibility tree.
    """

    key: str
    url: str
    step: int
    load_ms: float
    status: int
    tree: list[str] = field(repr=False)


@dataclass
class StepRecord:
    """One step as run: number, description, outcome and time."""

    step: int
    what: str
    ok: bool
    ms: float
    error: str | None = None


@dataclass
class JourneyResult:
    """What one run of a journey found.

    Attributes:
        journey: the journey's name.
        site: its site's slug.
        status: ``passed`` or ``failed``.
        failed_step: the 1-based number of the step that failed (None if none).
        error: why the journey failed, in a sentence (None if it passed).
        started_at: when it started (UTC).
        duration_s: how long it took.
        steps: each step as run.
        pages: the pages it arrived at.
        findings: everything it saw.
        captures: values its ``capture`` steps read.
    """

    journey: str
    site: str
    status: str
    failed_step: int | None
    error: str | None
    started_at: datetime
    duration_s: float
    steps: list[StepRecord]
    pages: list[PageVisit]
    findings: list[Finding]
    captures: dict[str, str]

    @property
    def passed(self) -> bool:
        """Whether the journey passed."""
        return self.status == "passed"

    def counts(self) -> dict[str, int]:
        """Findings by kind."""
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def row(self) -> dict[str, Any]:
        """The result as one table row (steps, findings and captures as lists/dicts)."""
        return {
            "journey": self.journey,
            "site": self.site,
            "status": self.status,
            "failed_step": self.failed_step,
            "error": self.error,
            "started_at": self.started_at,
            "duration_s": round(self.duration_s, 3),
            "steps_run": len(self.steps),
            "pages": len(self.pages),
            "slowest_page_ms": round(max((p.load_ms for p in self.pages), default=0.0), 1),
            **{f"{k}s": self.counts().get(k, 0) for k in COUNTED},
            "steps": [asdict(s) for s in self.steps],
            "captures": dict(self.captures),
        }


COUNTED = ("console_error", "failed_request", "broken_link", "slow_page", "a11y_change")


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def console_entries(text: str) -> list[str]:
    """The messages of a ``browser_console_messages`` answer, one string each: ``[ERROR] …``
    lines, and uncaught page errors (``Error: …`` with their indented stack lines, the first
    stack line kept as the location)."""
    entries: list[list[str]] = []
    for line in text.split("### Result", 1)[-1].splitlines():
        if not line.strip() or line.startswith(("Total messages", "### ", "Note:")):
            continue
        if line[:1].isspace() and entries:
            if len(entries[-1]) < 2:
                entries[-1].append(line.strip())
            continue
        entries.append([line.strip()])
    return [" ".join(e) for e in entries]


class JourneyRunner:
    """Runs journeys through browser tools and reports what they saw.

    Args:
        call: the tool caller (one browser page; calls are made in order).
        sites: site slug -> base URL (``{slug}`` in a URL and a journey's ``site``).
        slow_page_ms: a step that loads a page for longer than this is a slow page.
        link_checker: checks the links of visited pages (None: links are not checked).
        baselines: ``"<journey>|<page key>"`` -> the last good normalised tree.
        policy: the URL policy the browser is behind: a failed request to a URL it refuses is
            ``blocked_request`` (default: the link checker's policy; None: none is).
        clock: seconds, monotonic (tests may pass their own).
    """

    def __init__(
        self,
        call: ToolCaller,
        *,
        sites: Mapping[str, str],
        slow_page_ms: float = 3000.0,
        link_checker: HttpLinkChecker | None = None,
        baselines: Mapping[str, list[str]] | None = None,
        policy: Policy | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.call = call
        self.sites = {k: v.rstrip("/") for k, v in sites.items()}
        self.slow_page_ms = slow_page_ms
        self.links = link_checker
        self.baselines = dict(baselines or {})
        self.policy = policy or (link_checker.policy if link_checker is not None else None)
        self.clock = clock

    # -- one journey -----------------------------------------------------------------------------

    def run(self, journey: Journey) -> JourneyResult:
        """Run ``journey`` from its first step; stop at the first step that fails.

        Returns:
            The result: status, the failed step and why, steps, pages, findings, captures.
        """
        self._journey = journey
        self._snap: Snapshot | None = None
        self._seen: set[tuple[str, str]] = set()
        self._findings: list[Finding] = []
        self._pages: list[PageVisit] = []
        self._captures: dict[str, str] = {}
        records: list[StepRecord] = []
        started_at, t0 = datetime.now(UTC), self.clock()
        failed_step: int | None = None
        error: str | None = None
        for n, step in enumerate(journey.steps, start=1):
            s0 = self.clock()
            try:
                self._step(n, step)
            except StepFailed as exc:
                ms = (self.clock() - s0) * 1000
                records.append(StepRecord(n, step.describe(), False, round(ms, 1), str(exc)))
                failed_step, error = n, f"step {n} ({step.describe()}): {exc}"
                self._find("step_failed", str(exc), n, severity="error")
                break
            records.append(
                StepRecord(n, step.describe(), True, round((self.clock() - s0) * 1000, 1))
            )
        failing = [f for f in self._findings if f.severity == "error"]
        if error is None and failing:
            error = f"{failing[0].kind} at step {failing[0].step}: {failing[0].detail}"
            if len(failing) > 1:
                error += f" (and {len(failing) - 1} more)"
        return JourneyResult(
            journey=journey.name,
            site=journey.site,
            status="failed" if failing else "passed",
            failed_step=failed_step,
            error=error,
            started_at=started_at,
            duration_s=self.clock() - t0,
            steps=records,
            pages=self._pages,
            findings=self._findings,
            captures=self._captures,
        )

    def _find(self, kind: str, detail: str, step: int, *, severity: str | None = None) -> None:
        if severity is None:
            if kind == "blocked_request":
                severity = "info"
            else:
                severity = "error" if kind in self._journey.fail_on else "warning"
        page = self._snap.url if self._snap is not None else ""
        self._findings.append(Finding(self._journey.name, kind, severity, page, detail, step))

    # -- steps ------------------------------------------------------------------------------------

    def url(self, target: str) -> str:
        """A step's URL: absolute, ``{slug}/path`` or a path on the journey's site."""
        m = re.match(r"^\{([a-z0-9_-]+)\}(.*)$", target)
        if m:
            if m.group(1) not in self.sites:
                raise StepFailed(f"no site {m.group(1)!r} is configured")
            return self.sites[m.group(1)] + m.group(2)
        if target.startswith(("http://", "https://")):
            return target
        if self._journey.site not in self.sites:
            raise StepFailed(f"no site {self._journey.site!r} is configured")
        return urljoin(self.sites[self._journey.site] + "/", target)

    def _answer(self, answer: McpResponse, doing: str) -> None:
        if answer.blocked:
            raise StepFailed(f"{doing} was stopped by the URL policy: {answer.blocked}")
        if answer.is_error:
            raise StepFailed(f"{doing} failed: {_norm(answer.error or answer.text)[:300]}")
        if (answer.page_url or "").startswith("chrome-error://"):
            raise StepFailed(f"{doing} led to a page the browser could not load")

    def _step(self, n: int, step: Step) -> None:
        a = step.arg
        if step.kind == "navigate":
            url = self.url(a)
            t0 = self.clock()
            answer = self.call("browser_navigate", url=url)
            if answer.is_error and "interrupted by another navigation" in (answer.error or ""):
                answer = self.call("browser_navigate", url=url)
            ms = (self.clock() - t0) * 1000
            self._answer(answer, f"opening {url}")
            self._arrive(n, ms)
        elif step.kind == "click":
            node = self._control(a["role"], a["name"], a["exact"])
            t0 = self.clock()
            answer = self.call("browser_click", target=node.ref, element=f"{a['role']} {a['name']}")
            ms = (self.clock() - t0) * 1000
            self._answer(answer, f"clicking {a['role']} {a['name']!r}")
            self._arrive(n, ms)
        elif step.kind == "fill":
            fields = [self._field(label, value) for label, value in a.items()]
            answer = self.call("browser_fill_form", fields=fields)
            self._answer(answer, "filling " + ", ".join(a))
        elif step.kind == "wait_for":
            answer = self.call("browser_wait_for", text=a)
            self._answer(answer, f"waiting for {a!r}")
            self._snapshot()
        elif step.kind == "expect_text":
            text = self._text()
            if "text" in a and _norm(a["text"]) not in text:
                raise StepFailed(f"the page does not show {a['text']!r}")
            if "pattern" in a and not re.search(a["pattern"], text):
                raise StepFailed(f"no text on the page matches /{a['pattern']}/")
        elif step.kind == "expect_url":
            parts = urlsplit(self._current().url)
            here = parts.path + (f"?{parts.query}" if parts.query else "")
            if not re.search(a, here):
                raise StepFailed(f"the page is {here!r}, not /{a}/")
        elif step.kind == "capture":
            m = re.search(a["pattern"], self._text())
            if not m:
                raise StepFailed(f"no text on the page matches /{a['pattern']}/ for {a['name']}")
            self._captures[a["name"]] = m.group(1)

    def _current(self) -> Snapshot:
        if self._snap is None:
            raise StepFailed("no page is open")
        return self._snap

    def _text(self) -> str:
        return _norm(" ".join(root.text() for root in self._current().roots))

    def _control(self, role: str, name: str, exact: bool) -> AxNode:
        snap = self._current()
        want = _norm(name)
        found = [
            n
            for n in snap.nodes()
            if n.role == role
            and n.ref
            and (_norm(n.name) == want if exact else want.casefold() in _norm(n.name).casefold())
        ]
        if not found:
            raise StepFailed(f"the page {snap.url} has no {role} named {name!r}")
        if len(found) > 1:
            raise StepFailed(f"the page {snap.url} has {len(found)} {role}s named {name!r}")
        return found[0]

    def _field(self, label: str, value: Any) -> dict[str, Any]:
        snap = self._current()
        want = _norm(label)
        found = [
            n for n in snap.nodes() if n.role in FILLABLE and n.ref and _norm(n.name) == want
        ] or [
            n
            for n in snap.nodes()
            if n.role in FILLABLE and n.ref and _norm(n.name).casefold() == want.casefold()
        ]
        if len(found) != 1:
            what = "no field" if not found else f"{len(found)} fields"
            raise StepFailed(f"the page {snap.url} has {what} labelled {label!r}")
        kind = FILLABLE[found[0].role]
        if kind in ("checkbox", "radio"):
            text = (
                "true" if value is True or str(value).lower() in ("true", "yes", "on") else "false"
            )
        else:
            text = str(value)
        return {"name": label, "type": kind, "target": found[0].ref, "value": text}

    # -- looking at a page -------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        answer = self.call("browser_snapshot")
        self._answer(answer, "reading the page")
        self._snap = Snapshot(answer)
        return self._snap

    def _arrive(self, n: int, load_ms: float) -> None:
        """Look at the page a step loaded: snapshot, console, network, links, time, tree."""
        snap = self._snapshot()
        self._console(n)
        self._network(n)
        page_path = urlsplit(snap.url).path or "/"
        key = f"{n:02d} {mask_volatile(page_path)}"
        tree = normalise_snapshot(snap.response.snapshot or "")
        self._pages.append(PageVisit(key, snap.url, n, round(load_ms, 1), snap.status, tree))
        if load_ms > self.slow_page_ms:
            self._find(
                "slow_page",
                f"{page_path} took {load_ms:.0f} ms (threshold {self.slow_page_ms:.0f} ms)",
                n,
            )
        if snap.status >= 400:
            raise StepFailed(f"{snap.url} answered HTTP {snap.status}")
        self._check_links(snap, n)
        baseline = self.baselines.get(f"{self._journey.name}|{key}")
        if baseline is not None:
            diff = diff_snapshots(baseline, tree)
            if diff.changed:
                self._find("a11y_change", f"{page_path}: {diff.summary()}", n)

    def _console(self, n: int) -> None:
        answer = self.call("browser_console_messages", level="error")
        if answer.is_error:
            return
        for entry in console_entries(answer.text):
            m = _CONSOLE.match(entry)
            if m and m.group("level") != "ERROR":
                continue
            text = _norm(m.group("text") if m else entry)
            if any(b in text for b in _BLOCKED) or ("console", text) in self._seen:
                continue
            self._seen.add(("console", text))
            self._find("console_error", text[:300], n)

    def _network(self, n: int) -> None:
        answer = self.call("browser_network_requests", static=False)
        if answer.is_error:
            return
        for line in answer.text.splitlines():
            m = _REQUEST.match(line)
            if not m:
                continue
            url, what = m.group("url"), m.group("what")
            status = int(what) if what.isdigit() else None
            if status is not None and status < 400:
                continue
            key = (m.group("method"), url + what)
            if key in self._seen:
                continue
            self._seen.add(key)
            rest = _norm(line[m.end() :])
            blocked = any(b in line for b in _BLOCKED) or (
                self.policy is not None and self.policy(url) is not None
            )
            detail = f"{m.group('method')} {url} => {what}{' ' + rest if rest else ''}"
            self._find("blocked_request" if blocked else "failed_request", detail[:300], n)

    def _check_links(self, snap: Snapshot, n: int) -> None:
        if self.links is None:
            return
        targets: dict[str, str] = {}
        for node in snap.nodes():
            href = node.props.get("/url")
            if node.role != "link" or not href:
                continue
            url = urljoin(snap.url, href).split("#", 1)[0]
            if url.startswith(("http://", "https://")) and self.links.allowed(url):
                targets.setdefault(url, _norm(node.name))
        for url, name in targets.items():
            status = self.links.status(url)
            if isinstance(status, int) and status < 400:
                continue
            if ("link", url) in self._seen:
                continue
            self._seen.add(("link", url))
            self._find("broken_link", f"link {name!r} -> {url}: {status}", n)
