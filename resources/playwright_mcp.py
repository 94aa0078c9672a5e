"""The :class:`PlaywrightMcp` resource: Microsoft's Playwright MCP server as agent tools.

Locally (the default) each session starts the server from the project's own npm install
(``node_modules/@playwright/mcp``, pinned in ``package.json``; ``./scripts/install`` runs
``npm ci``) over stdio, headless, with an in-memory profile, Debian's Chromium and its own
workspace folder (its current directory: uploads are staged there, its files are written
there). In production it connects to a running server over streamable HTTP
(``PLAYWRIGHT_MCP_URL``, e.g. ``http://playwright-mcp:8931/mcp``). Either way the session lists
the server's tools and wraps each as the project's :class:`~orchestration_project.agents.runtime.Tool`
with the server's own description and JSON input schema (25 tools by default), so agents call
them through ``Agent.use`` and every call is recorded (inputs, outcome, latency).

Why a thread: the MCP Python SDK is async (anyio task groups that must be entered and left by
one task) while the agents and resources call tools synchronously, from Dagster ops and from
worker threads. A :class:`McpSession` therefore owns a private event loop on a dedicated daemon
thread; one task on it holds the transport and the ``ClientSession`` open for the session's
life, and each synchronous call submits a coroutine to that loop and waits for its result
(``asyncio.run_coroutine_threadsafe``). Calls are serialised per session: one session drives one
browser page, and two agents clicking on the same page at once would race.

The URL policy, three layers deep (the crawler's :class:`~resources.url_policy.UrlPolicy`):

1. before ``browser_navigate`` (and ``browser_tabs`` with a URL) the URL is checked here, and a
   refused one never reaches the server;
2. the server gets ``--allowed-origins`` (from ``allowed_domains``) and ``--blocked-origins``
   (cloud metadata hosts, plus ``blocked_origins``), which abort off-list requests, links and
   sub-resources in the browser; its own help says they "do not affect redirects", and they
   do not (checked in ``tests/resources/test_playwright_mcp.py``), so
3. with a server started here, Chromium's traffic goes through a
   :class:`~resources.form_filling.PolicyProxy` on loopback (``--proxy-server``) that checks every
   request and every redirect hop against the policy and answers refused ones with 403; and
   after every call the page URL the server reports is checked again: a click that lands off
   the allow-list makes the call's outcome ``blocked``, and the agent stops that item.

``file://`` pages are refused by the policy (and by the server unless
``--allow-unrestricted-file-access``, which is never passed); private, loopback and link-local
addresses only when ``allow_private_hosts`` names them, exactly as ``UrlPolicy`` decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field, PrivateAttr

from orchestration_project.agents.mcp_loop import McpResponse, parse_response
from orchestration_project.agents.runtime import ActionRecorder, Agent, Tool, ToolResult
from resources.fetching.chromium import CHROMIUM_ARGS
from resources.form_filling import PolicyProxy
from resources.url_policy import METADATA_HOSTS, BlockedUrlError, UrlPolicy

__all__ = [
    "DEFAULT_TOOL_COUNT",
    "McpSession",
    "McpTool",
    "McpUnavailableError",
    "PlaywrightMcp",
    "allowed_origins",
    "caller_for",
]

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "@playwright/mcp"
DEFAULT_TOOL_COUNT = 25  # the server's tools without --caps (0.0.83)
INSTALL_HINT = (
    "install the Playwright MCP server with ./scripts/install (npm ci in the repository, from "
    "package-lock.json), or set PLAYWRIGHT_MCP_URL to a running server"
)
_T = TypeVar("_T")


class McpUnavailableError(RuntimeError):
    """The Playwright MCP server cannot be started or reached; the message says why and how to
    fix it."""


def allowed_origins(allowed_domains: list[str] | tuple[str, ...]) -> list[str]:
    """The server's ``--allowed-origins`` entries for a URL policy's allow-list.

    ``host:port`` becomes the http and https origins of that port; a bare host any port of it
    (``http://host:*``); ``*.example.com`` the domain and its subdomains (host globs).

    Args:
        allowed_domains: ``UrlPolicy.allowed_domains`` entries.

    Returns:
        Origins and host globs as ``--allowed-origins`` takes them (empty: no restriction).
    """
    out: list[str] = []
    for entry in allowed_domains:
        e = entry.strip().lower().rstrip(".")
        if not e:
            continue
        if e.startswith("*."):
            out += [e[2:], e]
        elif e.count(":") == 1 and not e.startswith("["):
            out += [f"http://{e}", f"https://{e}"]
        else:
            out += [f"http://{e}:*", f"https://{e}:*", e]
    return list(dict.fromkeys(out))


class _LoopThread:
    """An asyncio event loop running on its own daemon thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run ``coro`` on the loop and wait for its result (from any other thread)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("McpSession called from its own event-loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and join the thread."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class McpSession:
    """One connection to a Playwright MCP server (one browser context), callable synchronously.

    Made by :meth:`PlaywrightMcp.open_session`; ``close()`` ends it (and the server it started).

    Attributes:
        tools_spec: the server's tools as the SDK lists them (name, description, input schema).
        workspace: the server's workspace folder (a server started here), else None.
        refused: every request the policy proxy refused, as sentences, in order (Chromium's
            own background requests included).
        blocked: every call the policy stopped (a refused navigation, a page off the list).
        server_info: the server's name and version.
    """

    def __init__(
        self,
        *,
        connect: Callable[[str | None], contextlib.AbstractAsyncContextManager[Any]],
        policy: UrlPolicy,
        timeout_s: float,
        use_proxy: bool,
        workspace: Path | None,
        upload_dir: Path | None,
    ) -> None:
        self._connect, self.policy, self.timeout_s = connect, policy, timeout_s
        self._use_proxy = use_proxy
        self.workspace, self._upload_dir = workspace, upload_dir
        self._loop: _LoopThread | None = None
        self._session: Any = None
        self._stop: asyncio.Event | None = None
        self._owner: Any = None
        self._lock = threading.Lock()
        self.tools_spec: list[Any] = []
        self.refused: list[str] = []
        self.blocked: list[str] = []
        self.server_info = ""
        self.proxy_url: str | None = None
        self.broken: str | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> McpSession:
        """Connect (start the server when it is ours), initialise, list the tools.

        Raises:
            McpUnavailableError: the server cannot be started or does not answer.
        """
        self._loop = _LoopThread("playwright-mcp")
        ready: asyncio.Future[None] = self._loop.loop.create_future()

        async def owner() -> None:
            self._stop = asyncio.Event()
            proxy: PolicyProxy | None = None
            try:
                async with contextlib.AsyncExitStack() as stack:
                    from mcp.client.session import ClientSession

                    if self._use_proxy:
                        proxy = PolicyProxy(
                            self._verdict, timeout_s=self.timeout_s, on_refused=self.refused.append
                        )
                        self.proxy_url = await proxy.start()
                    read, write = await stack.enter_async_context(self._connect(self.proxy_url))
                    session = await stack.enter_async_context(ClientSession(read, write))
                    init = await asyncio.wait_for(session.initialize(), self.timeout_s * 3)
                    self.server_info = f"{init.server_info.name} {init.server_info.version}"
                    tools, cursor = [], None
                    while True:
                        page = (
                            await session.list_tools(cursor)
                            if cursor
                            else await session.list_tools()
                        )
                        tools += page.tools
                        cursor = getattr(page, "next_cursor", None)
                        if not cursor:
                            break
                    self.tools_spec, self._session = tools, session
                    ready.set_result(None)
                    await self._stop.wait()
            except BaseException as exc:  # anyio groups wrap failures: report the first cause
                if not ready.done():
                    ready.set_exception(McpUnavailableError(_first_error(exc)))
                else:
                    self.broken = _first_error(exc)
            finally:
                self._session = None
                if proxy is not None:
                    await proxy.close()

        async def begin() -> None:
            self._owner = asyncio.ensure_future(owner())
            await asyncio.wait_for(asyncio.shield(ready), self.timeout_s * 4)

        try:
            self._loop.run(begin())
        except McpUnavailableError:
            self.close()
            raise
        except TimeoutError:
            self.close()
            raise McpUnavailableError(
                f"the Playwright MCP server did not answer within {self.timeout_s * 4:g} s"
            ) from None
        return self

    def close(self) -> None:
        """End the session; a server started here exits, with its browser."""
        loop = self._loop
        if loop is None:
            return
        self._loop = None

        async def finish() -> None:
            if self._stop is not None:
                self._stop.set()
            if self._owner is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._owner, 20)

        with contextlib.suppress(Exception):
            loop.run(finish(), 30)
        loop.stop()
        if self.workspace is not None:
            shutil.rmtree(self.workspace, ignore_errors=True)

    def __enter__(self) -> McpSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls ----------------------------------------------------------------------------------

    async def _verdict(self, url: str) -> str | None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.policy.check, url)
        except BlockedUrlError as exc:
            return str(exc)
        return None

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run a coroutine on the session's event loop (e.g. an async HTTP lookup).

        Args:
            coro: the coroutine.
            timeout: seconds to wait (None: ``timeout_s``).

        Returns:
            Its result.
        """
        if self._loop is None:
            raise McpUnavailableError("the MCP session is closed")
        return self._loop.run(coro, self.timeout_s if timeout is None else timeout)

    def call(self, name: str, arguments: dict[str, Any] | None = None) -> McpResponse:
        """Call one tool on the server, unchecked (see :meth:`call_checked`).

        Returns:
            The answer read: page URL, title, status, snapshot, modal state, error.

        Raises:
            McpUnavailableError: the session is closed or broken.
            TimeoutError: no answer within ``timeout_s``.
        """
        if self._session is None or self._loop is None:
            raise McpUnavailableError(self.broken or "the MCP session is closed")
        session = self._session

        async def go() -> Any:
            return await session.call_tool(name, arguments or {})

        with self._lock:
            result = self._loop.run(go(), self.timeout_s)
        text = "\n".join(getattr(c, "text", "") for c in result.content if hasattr(c, "text"))
        return parse_response(text, is_error=bool(result.is_error))

    def call_checked(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        """A tool call behind the URL policy: a refused navigation is not sent; a page that ends
        up off the allow-list (or refused requests during the call) make the outcome
        ``blocked``; no answer within ``timeout_s`` makes it ``timeout``.

        Returns:
            A ``ToolResult`` whose value is the :class:`McpResponse` (None when not sent).
        """
        url = arguments.get("url") if name in ("browser_navigate", "browser_tabs") else None
        if isinstance(url, str) and url:
            try:
                self.policy.check(url)
            except BlockedUrlError as exc:
                self.blocked.append(str(exc))
                return ToolResult(value=None, outcome="blocked", error=str(exc), route="mcp")
        refused_before = len(self.refused)
        try:
            response = self.call(name, arguments)
        except TimeoutError:
            error = f"{name} did not answer within {self.timeout_s:g} s"
            answer = McpResponse(text="", is_error=True, error=error)
            return ToolResult(value=answer, outcome="timeout", error=error, route="mcp")
        refused = self.refused[refused_before:]
        page = response.page_url or ""
        blocked: str | None = None
        if page and not page.startswith(("about:", "chrome-error:")):
            try:
                self.policy.check(page)
            except BlockedUrlError as exc:
                blocked = f"the page went off the allow-list: {exc}"
        if blocked is None and page.startswith("chrome-error:"):
            blocked = "the browser refused to load the page (the server's allowed origins)"
        if blocked is None and refused and response.page_title == "Refused by the URL policy":
            blocked = refused[-1]
        if blocked is not None:
            self.blocked.append(blocked)
            response.blocked = blocked
            return ToolResult(value=response, outcome="blocked", error=blocked, route="mcp")
        if response.is_error:
            return ToolResult(
                value=response, outcome="error", error=(response.error or "")[:500], route="mcp"
            )
        return ToolResult(value=response, route="mcp")

    def stage_file(self, path: str | Path) -> str:
        """A copy of ``path`` where the server may read it (its workspace's ``uploads``; the
        server refuses files outside its workspace), named by content so uploads keep their
        file name.

        Returns:
            The path to pass to ``browser_file_upload``.
        """
        src = Path(path)
        folder = self._upload_dir or (self.workspace / "uploads" if self.workspace else None)
        if folder is None:
            return str(src)
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
        dest = folder / digest / src.name
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        return str(dest)

    def tools(self) -> dict[str, Tool]:
        """Every server tool as a project ``Tool`` (its own name, description and schema)."""
        return {spec.name: McpTool(self, spec) for spec in self.tools_spec}


class McpTool(Tool):
    """One Playwright MCP tool as an agent ``Tool``: the server's name, description and JSON
    input schema; each call goes through :meth:`McpSession.call_checked`."""

    def __init__(self, session: McpSession, spec: Any) -> None:
        self.session = session
        self.name = spec.name
        self.description = spec.description or ""
        self.input_schema = dict(spec.input_schema or {"type": "object", "properties": {}})

    def run(self, **kwargs: Any) -> ToolResult:
        """Call the tool on the server."""
        return self.session.call_checked(self.name, kwargs)


def _first_error(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the Playwright MCP server failed: {type(exc).__name__}: {text[:300]}"


class PlaywrightMcp(dg.ConfigurableResource):
    """Microsoft's Playwright MCP server (npm ``@playwright/mcp``) as typed, recorded agent tools.

    ``session()`` starts a server over stdio (or connects to ``url`` over streamable HTTP) for a
    block of work; in an op, ``run_session()`` keeps one open for the run and
    ``teardown_after_execution`` closes it. ``tools(session)`` wraps the server's tools as
    ``Tool`` objects and ``agent(...)`` gives an ``Agent`` holding them, whose every call is
    recorded. The URL policy applies before, during and after each call (module docstring).
    """

    url: str | None = Field(
        default=None,
        description="Streamable HTTP endpoint of a running server (PLAYWRIGHT_MCP_URL, e.g. "
        "http://playwright-mcp:8931/mcp); None: start one over stdio per session.",
    )
    package_dir: str = Field(
        default=str(ROOT), description="Folder whose node_modules holds @playwright/mcp."
    )
    node: str = Field(default="node", description="The Node.js executable.")
    chromium_path: str | None = Field(default=None, description="Chromium; None: find it.")
    headless: bool = Field(default=True, description="Run Chromium without a window.")
    allowed_domains: list[str] = Field(
        default=[], description="host, *.domain or host:port entries; empty: any public host."
    )
    allow_private_hosts: list[str] = Field(
        default=[], description="Private/loopback hosts allowed anyway (local development)."
    )
    blocked_origins: list[str] = Field(
        default=[], description="Origins the server blocks besides cloud metadata hosts."
    )
    policy_proxy: bool = Field(
        default=True,
        description="Send the started server's browser traffic through the URL-policy proxy "
        "(checks redirect hops, which --allowed-origins does not).",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Time allowed per tool call.")
    action_timeout_ms: int = Field(default=5000, description="The server's --timeout-action.")
    navigation_timeout_ms: int = Field(
        default=15000, description="The server's --timeout-navigation."
    )
    settle_ms: int | None = Field(
        default=None,
        description="The server's --timeout-settle (wait after each action; server default "
        "500 ms); None: the server's default.",
    )
    upload_dir: str | None = Field(
        default=None,
        description="With a remote server: a folder it can read, where uploads are staged.",
    )
    extra_args: list[str] = Field(default=[], description="More server flags (e.g. --caps).")

    _run_session: McpSession | None = PrivateAttr(default=None)
    _run_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def policy(self) -> UrlPolicy:
        """The URL policy every navigation and page is checked against.

        Returns:
            The crawler's ``UrlPolicy`` with this resource's allow-lists.
        """
        return UrlPolicy(tuple(self.allowed_domains), tuple(self.allow_private_hosts))

    def server_args(self, *, output_dir: str, proxy_url: str | None = None) -> list[str]:
        """The flags a server started here gets.

        Args:
            output_dir: its ``--output-dir``.
            proxy_url: the policy proxy, if any.

        Returns:
            The command-line arguments after the CLI script.
        """
        from resources.fetching import BrowserFetcher

        exe = BrowserFetcher(executable_path=self.chromium_path).executable()
        args = ["--isolated", "--no-sandbox", "--executable-path", exe]
        args += ["--output-dir", output_dir, "--image-responses", "omit"]
        args += ["--timeout-action", str(self.action_timeout_ms)]
        args += ["--timeout-navigation", str(self.navigation_timeout_ms)]
        if self.settle_ms is not None:
            args += ["--timeout-settle", str(self.settle_ms)]
        if self.headless:
            args.append("--headless")
        origins = allowed_origins(self.allowed_domains)
        if origins:
            args += ["--allowed-origins", ";".join(origins)]
        blocked = [*sorted(METADATA_HOSTS), "169.254.169.254", *self.blocked_origins]
        args += ["--blocked-origins", ";".join(blocked)]
        if proxy_url:
            args += ["--proxy-server", proxy_url]
        return [*args, *self.extra_args]

    def cli(self) -> str:
        """The server's CLI script in the project's npm install.

        Raises:
            McpUnavailableError: the package is not installed.
        """
        script = Path(self.package_dir) / "node_modules" / PACKAGE / "cli.js"
        if not script.is_file():
            raise McpUnavailableError(f"{PACKAGE} is not installed ({script}): {INSTALL_HINT}")
        return str(script)

    def open_session(self) -> McpSession:
        """A started session (call ``close()``, or use :meth:`session`).

        Raises:
            McpUnavailableError: the server cannot be started or reached.
        """
        if self.url:
            return self._http_session()
        node = shutil.which(self.node)
        if node is None:
            raise McpUnavailableError(f"Node.js ({self.node}) is not on the PATH: {INSTALL_HINT}")
        cli = self.cli()
        workspace = Path(tempfile.mkdtemp(prefix="playwright-mcp-"))
        (workspace / "out").mkdir()
        # the crawler's Chromium flags (no background networking, no WebRTC UDP) and no
        # autofill lookups: fewer requests of Chromium's own for the policy to refuse
        launch = {"args": [*CHROMIUM_ARGS, "--autofill-server-url=http://127.0.0.1:1/"]}
        config = workspace / "config.json"
        config.write_text(json.dumps({"browser": {"launchOptions": launch}}), encoding="utf-8")

        def connect(proxy_url: str | None) -> contextlib.AbstractAsyncContextManager[Any]:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            flags = self.server_args(output_dir=str(workspace / "out"), proxy_url=proxy_url)
            args = [cli, "--config", str(config), *flags]
            params = StdioServerParameters(command=node, args=args, cwd=str(workspace))
            log = (workspace / "server.log").open("a", encoding="utf-8")
            return _closing(stdio_client(params, errlog=log), log)

        session = McpSession(
            connect=connect,
            policy=self.policy(),
            timeout_s=self.timeout_s,
            use_proxy=self.policy_proxy,
            workspace=workspace,
            upload_dir=None,
        )
        try:
            return session.start()
        except McpUnavailableError as exc:
            log = workspace / "server.log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            shutil.rmtree(workspace, ignore_errors=True)
            raise McpUnavailableError(f"{exc}{'; server said: ' + tail if tail else ''}") from None

    def _http_session(self) -> McpSession:
        url = str(self.url)

        def connect(proxy_url: str | None) -> contextlib.AbstractAsyncContextManager[Any]:
            from mcp.client.streamable_http import streamable_http_client

            return streamable_http_client(url)

        return McpSession(
            connect=connect,
            policy=self.policy(),
            timeout_s=self.timeout_s,
            use_proxy=False,  # the server's browser is not ours: its own flags apply
            workspace=None,
            upload_dir=Path(self.upload_dir) if self.upload_dir else None,
        ).start()

    @contextlib.contextmanager
    def session(self) -> Iterator[McpSession]:
        """A session for a block of work; the server started for it stops afterwards."""
        s = self.open_session()
        try:
            yield s
        finally:
            s.close()

    def run_session(self) -> McpSession:
        """The session of the current run (started on first use, closed at teardown)."""
        with self._run_lock:
            if self._run_session is None or self._run_session.broken:
                self._run_session = self.open_session()
            return self._run_session

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the run's session (and the server started for it)."""
        with self._run_lock:
            if self._run_session is not None:
                self._run_session.close()
                self._run_session = None

    def tools(self, session: McpSession) -> dict[str, Tool]:
        """The server's tools as agent ``Tool`` objects, by name.

        Args:
            session: an open session.

        Returns:
            One ``McpTool`` per server tool, with the server's JSON input schema.
        """
        return session.tools()

    def agent(
        self,
        session: McpSession,
        *,
        name: str,
        role: str,
        goal: str,
        recorder: ActionRecorder | None = None,
    ) -> Agent:
        """An agent holding the server's tools; its every call is recorded.

        Args:
            session: an open session.
            name: the agent's name.
            role: its role.
            goal: its goal.
            recorder: where its actions go (a new one if None).

        Returns:
            The agent.
        """
        return Agent(
            name=name,
            role=role,
            goal=goal,
            tools=session.tools(),
            recorder=recorder or ActionRecorder(),
        )


@contextlib.asynccontextmanager
async def _closing(cm: contextlib.AbstractAsyncContextManager[Any], log: Any) -> Any:
    try:
        async with cm as streams:
            yield streams
    finally:
        log.close()


def caller_for(agent: Agent) -> Callable[..., McpResponse]:
    """A tool caller for :class:`~orchestration_project.agents.mcp_loop.FormWalker`: each call
    goes through ``agent.use`` (so it is recorded) and returns the server's answer, read; a
    navigation the policy refused before sending comes back as a blocked answer."""

    def call(tool: str, /, **arguments: Any) -> McpResponse:
        result = agent.use(tool, **arguments)
        if result.value is None:
            return McpResponse(text="", is_error=True, error=result.error, blocked=result.error)
        return result.value

    return call
