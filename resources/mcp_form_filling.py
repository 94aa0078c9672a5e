"""Form filling through the Playwright MCP server's tools, and a router between the two routes.

:class:`McpFormFiller` creates CRM accounts like :class:`~resources.form_filling.BrowserFormFiller`
(same settings, same ``onboard(records, mapping)``, same :class:`OnboardingResult` per record, same
YAML mapping), but its agent sees and drives the browser only through MCP tools:
``browser_snapshot`` to observe, the accessibility tree to choose a control by role and
accessible name, ``browser_fill_form`` / ``browser_select_option`` / ``browser_type`` /
``browser_click`` / ``browser_file_upload`` / ``browser_wait_for`` to act, and a fresh snapshot
to verify (:class:`~orchestration_project.agents.mcp_loop.FormWalker`). Every call is an
``Agent.use`` and so a recorded agent action (``recorder`` argument).

Shared with the direct route, by import: the record checks and the skipping of repeated keys
(``BrowserFormFiller.onboard``, which calls this class's ``_run``), the CRM lookup before every
customer and every retry (an existing account is reported ``exists``, never created twice; a
lost confirmation is found by the lookup), the URL policy's verdicts, and the meaning of each
status. Validation errors are read back from the snapshot (the summary box and each control
marked invalid, with the message beside it) and mapped to record fields with
``FormMapping.field_for_label``, the direct route's rule.

:class:`RoutedFormFiller` holds both routes and picks one per batch (``FORM_ROUTE``):
``direct`` (the default: measured faster and lighter, ``benchmarks/mcp_vs_playwright.py``),
``mcp``, or ``auto`` (direct first; the other route when one cannot start: no Chromium for
Playwright, no Node.js / npm package or no server for MCP).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any, Literal

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from orchestration_project.agents.mcp_loop import (
    FormWalker,
    WalkBlocked,
    WalkFailed,
    WalkFatal,
    WalkRejected,
    WalkState,
    WalkTransient,
)
from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.customer_onboarding.mapping import (
    FieldValue,
    FormMapping,
    OnboardingResult,
    RecordValues,
)
from resources.fetching.chromium import BrowserNotAvailableError
from resources.form_filling import (  # the direct route's CRM semantics, shared
    BrowserFormFiller,
    CrmBatch,
    CrmFailedError,
    CrmFatalError,
)
from resources.playwright_mcp import McpSession, McpUnavailableError, PlaywrightMcp, caller_for

__all__ = ["FORM_ROUTES", "McpFormFiller", "RoutedFormFiller"]

FORM_ROUTES = ("direct", "mcp", "auto")


class McpFormFiller(BrowserFormFiller):
    """A browser agent that creates CRM accounts through the Playwright MCP server's tools,
    from the same YAML form mapping as :class:`BrowserFormFiller` (no CRM-specific code).

    Same settings and results as the direct route. ``contexts`` is the number of MCP sessions
    working in parallel (each a server and a Chromium of its own when started here; one
    browser context each on a remote server). ``fill_mode``: ``batched`` fills a page in one
    ``browser_fill_form`` call; ``locators`` sets control by control (``browser_type``,
    ``browser_select_option``, ``browser_click``). ``mcp_url`` connects to a running server
    (streamable HTTP) instead of starting one. ``screenshot_dir`` is not used by this route.
    One ``onboard`` call at a time per instance (the recorder is kept for the batch).
    """

    contexts: int = Field(default=1, ge=1, le=8, description="MCP sessions in parallel.")
    mcp_url: str | None = Field(
        default=None, description="A running server's streamable HTTP endpoint (production)."
    )
    mcp_settle_ms: int | None = Field(
        default=100,
        description="The server's --timeout-settle, the wait after each action (server default "
        "500 ms; None keeps it). The CRM's pages are server-rendered: a page is done when its "
        "navigation is, and every page is verified in a fresh snapshot anyway.",
    )
    mcp_upload_dir: str | None = Field(
        default=None, description="With mcp_url: a folder the server can read, for uploads."
    )
    verify: bool = Field(default=True, description="Re-snapshot and check each page's values.")

    _recorder: ActionRecorder | None = PrivateAttr(default=None)

    def mcp(self) -> PlaywrightMcp:
        """The MCP server settings this filler uses (its policy and Chromium).

        Returns:
            A ``PlaywrightMcp`` with this resource's allow-lists and time limits.
        """
        return PlaywrightMcp(
            url=self.mcp_url,
            chromium_path=self.chromium_path,
            headless=self.headless,
            allowed_domains=list(self.allowed_domains),
            allow_private_hosts=list(self.allow_private_hosts),
            timeout_s=max(30.0, self.timeout_s * 3),
            action_timeout_ms=int(self.timeout_s * 1000),
            navigation_timeout_ms=int(self.timeout_s * 1000),
            settle_ms=self.mcp_settle_ms,
            upload_dir=self.mcp_upload_dir,
            extra_args=["--user-agent", self.user_agent],
        )

    def onboard(
        self,
        records: list[dict[str, Any]],
        mapping: FormMapping | str | Path,
        *,
        recorder: ActionRecorder | None = None,
    ) -> list[OnboardingResult]:
        """Create an account for every record that has none yet, through MCP tools.

        Args:
            records: customers in the record schema of
                :mod:`orchestration_project.customer_onboarding.mapping`.
            mapping: the CRM's form mapping, or a path / packaged name (``"demo_crm"``).
            recorder: where the agents' actions go (every tool call, with inputs, outcome and
                latency); a new one if None.

        Returns:
            One result per record, in the order of ``records``; never fewer.

        Raises:
            MappingError: ``mapping`` names a file that is not a valid mapping.
            McpUnavailableError: the MCP server cannot be started or reached.
        """
        self._recorder = recorder or ActionRecorder()
        return super().onboard(records, mapping)

    # BrowserFormFiller.onboard checks the records and calls this with the ones to do
    async def _run(  # type: ignore[override]
        self,
        todo: list[tuple[int, RecordValues]],
        results: list[OnboardingResult | None],
        mapping: FormMapping,
    ) -> None:
        recorder = self._recorder or ActionRecorder()
        batch = CrmBatch(self, mapping, self.policy())
        refusal = await batch.verdict(batch.url(mapping.start.path))
        if refusal:
            for i, rv in todo:
                results[i] = OnboardingResult(rv.key, "failed", errors=[refusal])
            return
        n = min(self.contexts, len(todo))
        server = self.mcp()
        sessions: list[McpSession] = []
        try:
            # each session's server starts in a thread of its own: they start in parallel
            opened = await asyncio.gather(
                *(asyncio.to_thread(server.open_session) for _ in range(n)),
                return_exceptions=True,
            )
            sessions = [s for s in opened if isinstance(s, McpSession)]
            failure = next((e for e in opened if isinstance(e, BaseException)), None)
            if failure is not None:
                raise failure
            queue: asyncio.Queue[tuple[int, RecordValues]] = asyncio.Queue()
            for item in todo:
                queue.put_nowait(item)
            limits = httpx.Limits(max_connections=max(4, n * 2))
            async with httpx.AsyncClient(
                timeout=self.timeout_s, follow_redirects=False, limits=limits
            ) as http:
                batch.http = http
                workers = [_McpWorker(self, batch, s, k, recorder) for k, s in enumerate(sessions)]
                await asyncio.gather(*(w.work(queue, results) for w in workers))
        finally:
            await asyncio.gather(*(asyncio.to_thread(s.close) for s in sessions))
        for i, rv in todo:
            if results[i] is None:
                results[i] = OnboardingResult(rv.key, "failed", errors=["not processed"])


class _McpWorker:
    """One MCP session (one browser page), signing in once and onboarding customer after
    customer."""

    def __init__(
        self,
        cfg: McpFormFiller,
        batch: CrmBatch,
        session: McpSession,
        number: int,
        recorder: ActionRecorder,
    ) -> None:
        self.cfg, self.b, self.session = cfg, batch, session
        self.agent = cfg.mcp().agent(
            session,
            name=f"mcp-onboarding-{number}",
            role="account_creator",
            goal="create one CRM account per customer from the form mapping",
            recorder=recorder,
        )
        self.walker = FormWalker(
            caller_for(self.agent),
            batch.mapping,
            base_url=batch.base,
            username=cfg.username,
            password=cfg.password,
            fill_mode="batched" if cfg.fill_mode == "batched" else "per_control",
            verify=cfg.verify,
            wait_s=cfg.timeout_s,
        )

    def _values(self, rv: RecordValues) -> dict[str, list[FieldValue]]:
        """The record's values with file paths staged where the server may read them."""
        out: dict[str, list[FieldValue]] = {}
        for page, values in rv.pages.items():
            out[page] = [
                FieldValue(fv.field, self.session.stage_file(str(fv.value)))
                if fv.field.kind == "file"
                else fv
                for fv in values
            ]
        return out

    async def onboard(self, rv: RecordValues) -> OnboardingResult:
        """One customer, with retries; never raises."""
        b, m = self.b, self.b.mapping
        res = OnboardingResult(external_ref=rv.key, status="failed")
        state = WalkState()
        started = time.perf_counter()
        blocked_before = len(self.session.blocked)
        try:
            values = self._values(rv)

            async def attempt() -> tuple[str, str | None]:
                return await asyncio.to_thread(self.walker.attempt, values, state)

            await b.with_retries(rv.key, res, state, attempt, transient=(WalkTransient,))
        except WalkRejected as exc:
            res.status, res.errors = "rejected", exc.errors
            res.field_errors = {}
            for label, message in exc.field_labels.items():
                f = m.field_for_label(label)
                res.field_errors[f.key if f else label] = message
            res.errors = [f"{k}: {v}" for k, v in res.field_errors.items()] + [
                e for e in exc.errors if not any(e.startswith(f"{lb}: ") for lb in exc.field_labels)
            ]
        except WalkBlocked as exc:
            res.errors.append(f"stopped by the URL policy: {exc}")
        except (CrmFailedError, WalkFailed) as exc:
            res.errors.append(str(exc))
        except (CrmFatalError, WalkFatal) as exc:
            b.fatal = b.fatal or str(exc)
            res.errors.append(str(exc))
        except McpUnavailableError as exc:
            b.fatal = b.fatal or str(exc)
            res.errors.append(str(exc))
        except Exception as exc:  # a crashed server, a bug: this customer fails, not the batch
            res.errors.append(f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}")
        res.duration_s = time.perf_counter() - started
        res.notes = state.notes
        res.blocked_requests = list(dict.fromkeys(self.session.blocked[blocked_before:]))
        return res

    async def work(
        self,
        queue: asyncio.Queue[tuple[int, RecordValues]],
        results: list[OnboardingResult | None],
    ) -> None:
        """Onboard customers from the queue until it is empty."""
        while True:
            try:
                index, rv = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            results[index] = await self.onboard(rv)


class RoutedFormFiller(dg.ConfigurableResource):
    """Both form-filling routes behind one ``onboard(records, mapping)``, chosen per batch.

    The rule (``route``, ``FORM_ROUTE``): ``direct`` (default) fills through Playwright in the
    Python process (faster per customer and lighter on CPU); ``mcp`` through the Playwright
    MCP server's tools; ``auto`` tries direct and falls back to MCP when the direct route
    cannot start (no Chromium for Playwright), and to direct when MCP cannot (no Node.js, no
    npm package, no server at ``PLAYWRIGHT_MCP_URL``) — a route that started and then failed
    customers is not retried on the other, which could create accounts twice. The route used
    is recorded as a decision (``recorder``) and kept in ``last_route``.
    """

    direct: BrowserFormFiller = Field(description="The direct Playwright route.")
    mcp: McpFormFiller = Field(description="The Playwright MCP route.")
    route: Literal["direct", "mcp", "auto"] = Field(
        default="direct", description="direct | mcp | auto (FORM_ROUTE)."
    )

    _last_route: str | None = PrivateAttr(default=None)

    @property
    def contexts(self) -> int:
        """Parallel browser contexts (MCP sessions) of the route ``route`` names first."""
        return self.mcp.contexts if self.route == "mcp" else self.direct.contexts

    @property
    def last_route(self) -> str | None:
        """The route the last ``onboard`` call used."""
        return self._last_route

    def onboard(
        self,
        records: list[dict[str, Any]],
        mapping: FormMapping | str | Path,
        *,
        recorder: ActionRecorder | None = None,
    ) -> list[OnboardingResult]:
        """Create an account for every record that has none yet, by the configured route.

        Args:
            records: customers in the record schema.
            mapping: the CRM's form mapping, or a path / packaged name.
            recorder: where agent actions go (the MCP route's tool calls, the route decision).

        Returns:
            One result per record, in input order.

        Raises:
            BrowserNotAvailableError, McpUnavailableError: the chosen route cannot start (with
                ``auto``: neither can).
        """
        recorder = recorder or ActionRecorder()
        ensure = getattr(self.direct, "ensure_crm", None)  # the demo CRM, served locally
        if callable(ensure):
            ensure()
        order = {"direct": ["direct"], "mcp": ["mcp"], "auto": ["direct", "mcp"]}[self.route]
        if self.route == "auto" and not _mcp_installed(self.mcp):
            order = ["direct"]
        failures: list[str] = []
        for name in order:
            t0 = time.perf_counter()
            try:
                if name == "direct":
                    out = self.direct.onboard(records, mapping)
                else:
                    out = self.mcp.onboard(records, mapping, recorder=recorder)
            except (BrowserNotAvailableError, McpUnavailableError) as exc:
                failures.append(f"{name}: {exc}")
                continue
            self._last_route = name
            _decide(recorder, name, self.route, failures, time.perf_counter() - t0)
            return out
        _decide(recorder, None, self.route, failures, 0.0)
        error = failures[-1] if failures else "no route"
        if order[-1] == "mcp":
            raise McpUnavailableError(f"no form-filling route could start: {'; '.join(failures)}")
        raise BrowserNotAvailableError(f"no form-filling route could start: {error}")


def _mcp_installed(mcp: McpFormFiller) -> bool:
    if mcp.mcp_url:
        return True
    with contextlib.suppress(McpUnavailableError):
        mcp.mcp().cli()
        return True
    return False


def _decide(
    recorder: ActionRecorder, chosen: str | None, rule: str, failures: list[str], seconds: float
) -> None:
    router = Agent(name="form-router", role="router", goal="pick a route", recorder=recorder)
    router.record_decision(
        "form_route",
        chosen,
        inputs={"rule": rule},
        rationale="; ".join(failures) or f"FORM_ROUTE={rule}",
        duration_s=seconds,
    )
