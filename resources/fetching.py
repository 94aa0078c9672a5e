"""Safe web fetching for agents: a plain HTTP fetcher and a real browser (Playwright on
Chromium), both behind the same ``UrlPolicy``, time-outs and size caps.

Scraped content is data, never instructions: these fetchers only bring pages back. Neither
raises for what a web page or the network does wrong: every problem becomes a ``FetchResult``
outcome with a clear error (``timeout``, ``too_large``, ``not_found``, ``http_error``,
``redirect_loop``, ``too_many_redirects``, ``non_html``, ``blocked``, ``error``), so one bad page
never stops a crawl.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import dagster as dg
import httpx
from pydantic import Field

from resources.url_policy import BlockedUrlError, UrlPolicy

__all__ = [
    "BlockedUrlError",
    "BrowserFetcher",
    "BrowserNotAvailableError",
    "BrowserSession",
    "FetchResult",
    "HttpFetcher",
    "UrlPolicy",
    "find_chromium",
]

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "orchestration-project-agent/0.1 (+research)"
# The browser says it is a browser (as every crawler that renders pages does: "Mozilla/5.0
# (compatible; …)"), keeping the agent's token so that robots.txt and site owners can tell.
BROWSER_USER_AGENT = f"Mozilla/5.0 (compatible; {USER_AGENT})"
OUTCOMES = (
    "ok",
    "timeout",
    "too_large",
    "http_error",
    "not_found",
    "redirect_loop",
    "too_many_redirects",
    "non_html",
    "blocked",
    "error",
)


@dataclass
class FetchResult:
    """What fetching one URL produced, by one route.

    Attributes:
        url: the URL asked for.
        final_url: the URL after redirects (the refused hop when a redirect was blocked).
        route: ``"http"`` or ``"browser"``.
        outcome: one of ``OUTCOMES``.
        status: the last HTTP status seen, if any.
        content_type: the media type without parameters, if a response came.
        html: the page (for the browser the rendered DOM), only for an ``ok`` HTML page.
        size_bytes: bytes of the document read (or announced, when refused for its size/type).
        elapsed_s: wall time spent.
        error: a human-readable explanation when the outcome is not ``ok``.
        redirects: every redirect target, in order.
        blocked_requests: requests of the page refused by the URL policy (browser only).
    """

    url: str
    final_url: str
    route: str
    outcome: str
    status: int | None = None
    content_type: str | None = None
    html: str | None = None
    size_bytes: int = 0
    elapsed_s: float = 0.0
    error: str | None = None
    redirects: list[str] = field(default_factory=list)
    blocked_requests: int = 0

    @property
    def ok(self) -> bool:
        """Whether the page was fetched and is HTML."""
        return self.outcome == "ok"


def status_outcome(status: int) -> str | None:
    """The outcome an HTTP error status means (None for a success status).

    Args:
        status: the HTTP status code.

    Returns:
        ``"not_found"`` for 404/410, ``"http_error"`` for other codes from 400, else None.
    """
    if status in (404, 410):
        return "not_found"
    if status >= 400:
        return "http_error"
    return None


def status_error(status: int, url: str) -> str:
    """A sentence for an HTTP error status.

    Args:
        status: the HTTP status code.
        url: the URL that answered it.

    Returns:
        The explanation.
    """
    if status in (404, 410):
        return f"HTTP {status}: the page {url} does not exist"
    return f"HTTP {status}: the server refused or failed to serve {url}"


def media_type(headers: Any) -> str:
    """The lower-case media type of a response's Content-Type header (``""`` if none)."""
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def announced_length(headers: Any) -> int | None:
    """The Content-Length header as an int, None when absent or malformed."""
    try:
        n = int(headers.get("content-length") or "")
    except ValueError:
        return None
    return n if n >= 0 else None


def _shutdown_socket(resp: httpx.Response) -> None:
    """Cut a response's connection so a read blocked in another thread returns at once."""
    stream = resp.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class HttpFetcher(dg.ConfigurableResource):
    """Plain HTTP fetching for agents (no JavaScript).

    The URL policy is checked before the first request and on every redirect hop; redirects
    are followed by hand with loop detection; each page has a total deadline (the body
    included) and a size cap; only HTML is downloaded.
    """

    timeout_s: float = Field(default=5.0, description="Total time allowed per page (s).")
    max_bytes: int = Field(default=2_000_000, description="Largest body read (bytes).")
    max_redirects: int = Field(default=5, description="Redirect hops followed.")
    user_agent: str = Field(default=USER_AGENT, description="User-Agent header sent.")
    allowed_domains: list[str] = Field(
        default=[], description="host, *.domain or host:port entries; empty: any public host."
    )
    allow_private_hosts: list[str] = Field(
        default=[], description="Private/loopback hosts allowed anyway (local development)."
    )
    max_concurrency: int = Field(default=8, description="Parallel requests in fetch_many.")

    def policy(self) -> UrlPolicy:
        """The URL policy these settings describe.

        Returns:
            A ``UrlPolicy`` with this resource's allow-lists.
        """
        return UrlPolicy(tuple(self.allowed_domains), tuple(self.allow_private_hosts))

    def fetch(self, url: str, *, any_text: bool = False) -> FetchResult:
        """Fetch one page; never raises for what the page or the network does.

        Args:
            url: the absolute URL.
            any_text: accept any ``text/*`` type instead of HTML only (robots.txt, sitemaps).

        Returns:
            The ``FetchResult`` (route ``"http"``).
        """
        t0 = time.perf_counter()
        deadline = t0 + self.timeout_s
        policy = self.policy()
        current, seen, redirects = url, {url}, []

        def done(outcome: str, **kw: Any) -> FetchResult:
            return FetchResult(
                url=url,
                final_url=current,
                route="http",
                outcome=outcome,
                elapsed_s=time.perf_counter() - t0,
                redirects=redirects,
                **kw,
            )

        late = f"no complete answer within {self.timeout_s:g} s"
        try:
            with httpx.Client(
                headers={"User-Agent": self.user_agent}, follow_redirects=False
            ) as client:
                for _ in range(self.max_redirects + 1):
                    try:
                        policy.check(current)
                    except BlockedUrlError as exc:
                        return done("blocked", error=str(exc))
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0:
                        return done("timeout", error=late)
                    with client.stream("GET", current, timeout=remaining) as resp:
                        if resp.is_redirect:
                            nxt = urljoin(current, resp.headers["location"])
                            redirects.append(nxt)
                            if nxt in seen:
                                current = nxt
                                return done(
                                    "redirect_loop",
                                    status=resp.status_code,
                                    error=f"redirect loop: {nxt} was already visited",
                                )
                            seen.add(nxt)
                            current = nxt
                            continue
                        return self._read(resp, current, done, deadline, any_text)
                return done("too_many_redirects", error=f"more than {self.max_redirects} redirects")
        except httpx.TimeoutException:
            return done("timeout", error=late)
        except Exception as exc:  # network errors, malformed URLs or headers: never raise
            if time.perf_counter() >= deadline:
                return done("timeout", error=late)
            return done("error", error=f"{type(exc).__name__}: {exc}")

    def _read(
        self,
        resp: httpx.Response,
        current: str,
        done: Callable[..., FetchResult],
        deadline: float,
        any_text: bool,
    ) -> FetchResult:
        """Classify a final (non-redirect) response and read its body under the caps."""
        status = resp.status_code
        ctype = media_type(resp.headers)
        bad = status_outcome(status)
        if bad:
            return done(bad, status=status, content_type=ctype, error=status_error(status, current))
        length = announced_length(resp.headers)
        wanted = ctype.startswith("text/") if any_text else ctype in HTML_TYPES
        if not wanted:
            return done(
                "non_html",
                status=status,
                content_type=ctype,
                size_bytes=length or 0,
                error=f"the content type {ctype or '(none)'} is not HTML; body not downloaded",
            )
        if length is not None and length > self.max_bytes:
            return done(
                "too_large",
                status=status,
                content_type=ctype,
                size_bytes=length,
                error=f"{length} bytes announced, more than the cap of {self.max_bytes}",
            )
        # A watchdog cuts the connection at the deadline, so a stalled body cannot hold us.
        watchdog = threading.Timer(
            max(0.0, deadline - time.perf_counter()), _shutdown_socket, [resp]
        )
        watchdog.daemon = True
        watchdog.start()
        body = bytearray()
        try:
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    return done(
                        "too_large",
                        status=status,
                        content_type=ctype,
                        size_bytes=len(body),
                        error=f"the body exceeds the cap of {self.max_bytes} bytes",
                    )
                if time.perf_counter() > deadline:
                    break
        except httpx.HTTPError:
            if time.perf_counter() < deadline:
                raise
        finally:
            watchdog.cancel()
        if time.perf_counter() > deadline:
            return done(
                "timeout",
                status=status,
                content_type=ctype,
                size_bytes=len(body),
                error=f"the body was still arriving after {self.timeout_s:g} s",
            )
        try:
            text = body.decode(resp.encoding or "utf-8", errors="replace")
        except LookupError:  # an unknown charset name
            text = body.decode("utf-8", errors="replace")
        return done("ok", status=status, content_type=ctype, html=text, size_bytes=len(body))

    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Fetch several pages concurrently (``max_concurrency`` threads).

        Args:
            urls: absolute URLs.

        Returns:
            One ``FetchResult`` per URL, in input order.
        """
        if not urls:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(urls)))) as pool:
            return list(pool.map(self.fetch, urls))

    def fetch_text(self, url: str) -> str | None:
        """Any text document, e.g. robots.txt.

        Args:
            url: the absolute URL.

        Returns:
            The decoded text, or None when it cannot be had (any failure or a non-text type).
        """
        r = self.fetch(url, any_text=True)
        return r.html if r.ok else None


# -- the browser ------------------------------------------------------------------------------

INSTALL_HINT = (
    "install Chromium with `sudo apt-get install -y chromium` (Debian/Ubuntu) or set the "
    "CHROMIUM_PATH environment variable to a Chromium executable"
)
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
    # WebRTC would open UDP to any address, unseen by request routing: no UDP without a proxy.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]


class BrowserNotAvailableError(RuntimeError):
    """No usable Chromium: the message says how to install one."""


def find_chromium() -> str:
    """The Chromium to drive.

    Looks at ``$CHROMIUM_PATH``, then /usr/bin/chromium, /usr/bin/chromium-browser,
    /usr/bin/google-chrome, then those names on the PATH.

    Returns:
        The executable's path.

    Raises:
        BrowserNotAvailableError: none found (or CHROMIUM_PATH points nowhere); the message
            names ``sudo apt-get install -y chromium`` and CHROMIUM_PATH.
    """
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env
        raise BrowserNotAvailableError(
            f"CHROMIUM_PATH={env} is not an executable file: {INSTALL_HINT}"
        )
    for cand in CHROMIUM_CANDIDATES:
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotAvailableError(f"No Chromium browser found: {INSTALL_HINT}")


class BrowserFetcher(dg.ConfigurableResource):
    """A real browser for agents: Playwright driving Chromium, several pages in parallel.

    Every request any page makes (documents, scripts, XHR/fetch, images, frames, WebSockets,
    each redirect hop) passes the URL policy or is aborted and counted in
    ``blocked_requests``. The main document is fetched through the route so its size is capped,
    its status and type checked before Chromium renders it, and its redirects checked hop by
    hop. Each batch (``fetch_many`` call) runs in a fresh browser context; ``session()`` keeps
    one browser open for several batches.
    """

    executable_path: str | None = Field(default=None, description="Chromium; None: find it.")
    cdp_endpoint: str | None = Field(
        default=None, description="Remote browser to connect to over CDP instead of launching."
    )
    timeout_s: float = Field(default=10.0, description="Total time allowed per page (s).")
    max_bytes: int = Field(default=2_000_000, description="Largest document rendered (bytes).")
    max_redirects: int = Field(default=5, description="Redirect hops followed.")
    max_concurrency: int = Field(default=4, description="Pages rendered in parallel.")
    settle_ms: int = Field(
        default=500, description="After load, wait up to this long for the network to go idle."
    )
    allowed_domains: list[str] = Field(
        default=[], description="host, *.domain or host:port entries; empty: any public host."
    )
    allow_private_hosts: list[str] = Field(
        default=[], description="Private/loopback hosts allowed anyway (local development)."
    )
    block_resource_types: list[str] = Field(
        default=["image", "media", "font"], description="Sub-resource types never loaded."
    )
    user_agent: str = Field(default=BROWSER_USER_AGENT, description="User-Agent header sent.")

    def policy(self) -> UrlPolicy:
        """The URL policy these settings describe.

        Returns:
            A ``UrlPolicy`` with this resource's allow-lists.
        """
        return UrlPolicy(tuple(self.allowed_domains), tuple(self.allow_private_hosts))

    def executable(self) -> str:
        """The Chromium executable to launch.

        Returns:
            ``executable_path`` if set, else ``find_chromium()``.

        Raises:
            BrowserNotAvailableError: the executable does not exist; the message says the fix.
        """
        if self.executable_path:
            path = self.executable_path
            if not (os.path.isfile(path) and os.access(path, os.X_OK)):
                raise BrowserNotAvailableError(f"No Chromium at {path}: {INSTALL_HINT}")
            return path
        return find_chromium()

    @contextmanager
    def session(self) -> Iterator[BrowserSession]:
        """One browser kept open for several calls (each batch gets a fresh context).

        Yields:
            A ``BrowserSession`` with ``fetch(url)`` and ``fetch_many(urls)``.

        Raises:
            BrowserNotAvailableError: Chromium cannot be found or launched.
        """
        s = BrowserSession(self)
        try:
            yield s
        finally:
            s.close()

    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Render several pages in one short-lived browser.

        Args:
            urls: absolute URLs.

        Returns:
            One ``FetchResult`` per URL (route ``"browser"``), in input order.
        """
        if not urls:
            return []
        with self.session() as s:
            return s.fetch_many(urls)

    def fetch(self, url: str) -> FetchResult:
        """Render one page.

        Args:
            url: the absolute URL.

        Returns:
            Its ``FetchResult`` (route ``"browser"``).
        """
        return self.fetch_many([url])[0]


@dataclass
class _PageState:
    """What the route handler learnt about one page's navigation."""

    expect: str
    final: str
    nav_pending: bool = False
    main_request: Any = None
    redirect_to: str | None = None
    fail: tuple[str, str] | None = None
    status: int | None = None
    ctype: str | None = None
    size: int = 0
    blocked: int = 0
    redirects: list[str] = field(default_factory=list)


class BrowserSession:
    """A running browser on a private event loop in its own thread.

    The loop thread makes the sync methods work from Dagster ops, from worker threads and
    beside a caller's running event loop alike. Several threads may call at once; a semaphore
    bounds the pages rendered in parallel.

    Args:
        cfg: the ``BrowserFetcher`` settings.

    Raises:
        BrowserNotAvailableError: Chromium cannot be found or launched.
    """

    def __init__(self, cfg: BrowserFetcher) -> None:
        self.cfg = cfg
        self.policy = cfg.policy()
        exe = None if cfg.cdp_endpoint else cfg.executable()
        self._pages: dict[Any, _PageState] = {}
        self._reasons: dict[tuple[str, str, int | None], str | None] = {}
        self._pw: Any = None
        self._browser: Any = None
        self._contexts: set[Any] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="browser-fetcher", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._start(exe))
        except BaseException as exc:
            self.close()
            if isinstance(exc, BrowserNotAvailableError | KeyboardInterrupt):
                raise
            where = cfg.cdp_endpoint or exe
            raise BrowserNotAvailableError(
                f"Chromium could not be started or reached ({where}): "
                f"{str(exc).splitlines()[0][:300]}; {INSTALL_HINT}"
            ) from exc

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _start(self, exe: str | None) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        if self.cfg.cdp_endpoint:
            self._browser = await self._pw.chromium.connect_over_cdp(
                self.cfg.cdp_endpoint, timeout=30_000
            )
        else:
            self._browser = await self._pw.chromium.launch(
                executable_path=exe, headless=True, args=CHROMIUM_ARGS
            )
        self._sem = asyncio.Semaphore(max(1, self.cfg.max_concurrency))

    async def _new_context(self) -> Any:
        """A fresh context (no cookies or storage from earlier batches), fully routed."""
        context = await self._browser.new_context(
            user_agent=self.cfg.user_agent,
            service_workers="block",  # their requests would bypass routing
            accept_downloads=False,
        )
        self._contexts.add(context)
        await context.route("**/*", self._route)
        await context.route_web_socket("**/*", self._route_ws)
        context.on("page", self._on_page)
        return context

    # -- public -------------------------------------------------------------------------------
    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Render pages in parallel (at most ``max_concurrency`` at a time).

        Args:
            urls: absolute URLs.

        Returns:
            One ``FetchResult`` per URL, in input order.
        """
        if not urls:
            return []
        return self._run(self._many(list(urls)))

    def fetch(self, url: str) -> FetchResult:
        """Render one page.

        Args:
            url: the absolute URL.

        Returns:
            Its ``FetchResult``.
        """
        return self.fetch_many([url])[0]

    def close(self) -> None:
        """Close open contexts, the browser and Playwright, then stop the loop thread."""
        if not self._thread.is_alive():
            return

        async def _close() -> None:
            for step in (
                *(c.close for c in list(self._contexts)),
                getattr(self._browser, "close", None),
                getattr(self._pw, "stop", None),
            ):
                if step is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(step(), 15)

        try:
            self._run(_close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            if not self._thread.is_alive():
                self._loop.close()

    # -- pages --------------------------------------------------------------------------------
    async def _many(self, urls: list[str]) -> list[FetchResult]:
        """One batch in its own fresh context, closed afterwards."""
        context = await self._new_context()
        try:
            return list(await asyncio.gather(*(self._one(context, u) for u in urls)))
        finally:
            self._contexts.discard(context)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 15)

    async def _verdict(self, url: str) -> str | None:
        """The policy's refusal of ``url`` as a sentence (None: allowed).

        Name resolution runs off the loop; verdicts are cached per scheme, host and port.
        """
        try:
            parts = urlsplit(url)
            key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
        except ValueError:
            key = None
        if key is None or key not in self._reasons:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.policy.check, url)
                reason = None
            except BlockedUrlError as exc:
                reason = exc.reason
            if key is None:
                return None if reason is None else str(BlockedUrlError(url, reason))
            self._reasons[key] = reason
        reason = self._reasons[key]
        return None if reason is None else str(BlockedUrlError(url, reason))

    async def _one(self, context: Any, url: str) -> FetchResult:
        async with self._sem:
            t0 = time.perf_counter()
            st = _PageState(expect=url, final=url)

            def result(outcome: str, **kw: Any) -> FetchResult:
                return FetchResult(
                    url=url,
                    final_url=st.final,
                    route="browser",
                    outcome=outcome,
                    status=st.status,
                    content_type=st.ctype,
                    size_bytes=st.size,
                    elapsed_s=time.perf_counter() - t0,
                    redirects=st.redirects,
                    blocked_requests=st.blocked,
                    **kw,
                )

            refusal = await self._verdict(url)
            if refusal:
                return result("blocked", error=refusal)
            page = None
            late = f"the page was not rendered within {self.cfg.timeout_s:g} s"
            try:
                page = await context.new_page()
                self._pages[page] = st
                # The time limit starts once the page is open: opening it is our overhead.
                html = await asyncio.wait_for(self._render(page, st), self.cfg.timeout_s)
                if html is not None:
                    return result("ok", html=html)
                outcome, err = st.fail or ("error", "the page could not be loaded")
                return result(outcome, error=err)
            except TimeoutError:
                outcome, err = st.fail or ("timeout", late)
                return result(outcome, error=err)
            except Exception as exc:  # Playwright errors: aborted navigations, crashed pages
                if st.fail:
                    return result(st.fail[0], error=st.fail[1])
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                if "Timeout" in type(exc).__name__ or "timeout" in first.lower():
                    return result("timeout", error=late)
                return result("error", error=f"the browser could not load the page: {first}")
            finally:
                if page is not None:
                    self._pages.pop(page, None)
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(page.close(), 5)

    async def _render(self, page: Any, st: _PageState) -> str | None:
        """Navigate (following redirects hop by hop), settle, and return the DOM or None."""
        deadline = time.perf_counter() + self.cfg.timeout_s
        current, seen = st.expect, {st.expect}
        for _ in range(self.cfg.max_redirects + 1):
            st.expect, st.redirect_to, st.nav_pending = current, None, True
            try:
                ms = max(1.0, (deadline - time.perf_counter()) * 1000)
                resp = await page.goto(current, timeout=ms, wait_until="load")
            except Exception:
                if st.redirect_to is None:
                    raise
                resp = None
            if st.fail:
                return None
            if st.redirect_to is None:
                if resp is None:
                    st.fail = ("error", "the browser got no response")
                    return None
                break
            nxt = st.redirect_to
            st.redirects.append(nxt)
            st.final = nxt
            if nxt in seen:
                st.fail = ("redirect_loop", f"redirect loop: {nxt} was already visited")
                return None
            seen.add(nxt)
            refusal = await self._verdict(nxt)
            if refusal:
                st.fail = ("blocked", f"redirect refused. {refusal}")
                return None
            current = nxt
        else:
            st.fail = ("too_many_redirects", f"more than {self.cfg.max_redirects} redirects")
            return None
        await self._settle(page, min(deadline, time.perf_counter() + self.cfg.settle_ms / 1000))
        return await page.content()

    async def _settle(self, page: Any, until: float) -> None:
        """Let client-side JavaScript render: wait for network idle, at most until ``until``."""
        ms = (until - time.perf_counter()) * 1000
        if ms > 0:
            with contextlib.suppress(Exception):  # still busy: take the DOM as it is
                await page.wait_for_load_state("networkidle", timeout=ms)

    # -- routing ------------------------------------------------------------------------------
    def _state_of(self, request: Any) -> _PageState | None:
        try:
            return self._pages.get(request.frame.page)
        except Exception:  # service-worker or detached-frame requests have no page
            return None

    async def _route(self, route: Any, request: Any) -> None:
        """Every request of every page: policy, resource types, capped main documents."""
        st = self._state_of(request)
        try:
            main = False
            with contextlib.suppress(Exception):
                main = request.is_navigation_request() and request.frame.parent_frame is None
            if main and st is not None and st.nav_pending:  # the navigation _render started
                st.nav_pending, st.main_request = False, request
                await self._main_document(route, request, st)
            else:
                await self._subrequest(route, request, st)
        except Exception as exc:  # the page closed meanwhile, or fetching failed
            with contextlib.suppress(Exception):
                await route.abort("failed")
            text = str(exc).strip()
            mine = st is not None and st.main_request is request and st.fail is None
            if mine and "closed" not in text.lower():
                msg = text.splitlines()[0][:300] if text else type(exc).__name__
                kind = "timeout" if "timeout" in msg.lower() else "error"
                st.fail = (kind, f"fetching the document failed: {msg}")

    async def _main_document(self, route: Any, request: Any, st: _PageState) -> None:
        """Fetch the page's own document: status, type and size checked before rendering.

        A redirect is not passed on (Chromium would follow it without routing the next hop):
        an empty page is served instead and ``_render`` navigates to the checked target itself.
        """
        resp = await route.fetch(max_redirects=0, timeout=self.cfg.timeout_s * 1000)
        st.status = resp.status
        location = resp.headers.get("location")
        if 300 <= resp.status < 400 and location:
            st.redirect_to = urljoin(request.url, location)
            # An empty page ends this navigation cleanly (an abort would commit an error page
            # that races the next navigation).
            await route.fulfill(status=200, content_type="text/html", body="")
            return
        st.ctype = media_type(resp.headers)
        length = announced_length(resp.headers)
        st.size = length or 0
        bad = status_outcome(resp.status)
        if bad:
            st.fail = (bad, status_error(resp.status, request.url))
        elif st.ctype not in HTML_TYPES:
            st.fail = (
                "non_html",
                f"the content type {st.ctype or '(none)'} is not HTML; not rendered",
            )
        elif length is not None and length > self.cfg.max_bytes:
            st.fail = (
                "too_large",
                f"{length} bytes announced, more than the cap of {self.cfg.max_bytes}",
            )
        if st.fail:
            await route.abort("blockedbyclient")
            return
        body = await resp.body()
        st.size = len(body)
        if len(body) > self.cfg.max_bytes:
            st.fail = ("too_large", f"the body exceeds the cap of {self.cfg.max_bytes} bytes")
            await route.abort("blockedbyclient")
            return
        await route.fulfill(response=resp, body=body)

    async def _subrequest(self, route: Any, request: Any, st: _PageState | None) -> None:
        """Any other request: type filter, then policy on the URL and on each redirect hop."""
        if request.resource_type in self.cfg.block_resource_types:
            await route.abort("blockedbyclient")
            return
        url, seen = request.url, {request.url}
        method, post = request.method, request.post_data_buffer
        for _ in range(self.cfg.max_redirects + 1):
            if await self._verdict(url):
                if st is not None:
                    st.blocked += 1
                await route.abort("blockedbyclient")
                return
            resp = await route.fetch(
                url=url,
                method=method,
                post_data=post,
                max_redirects=0,
                timeout=self.cfg.timeout_s * 1000,
            )
            location = resp.headers.get("location")
            if 300 <= resp.status < 400 and location:
                url = urljoin(url, location)
                if url in seen:
                    break
                seen.add(url)
                if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                    method, post = "GET", None
                continue
            length = announced_length(resp.headers)
            if length is not None and length > self.cfg.max_bytes:
                break
            body = await resp.body()
            if len(body) > self.cfg.max_bytes:
                break
            await route.fulfill(response=resp, body=body)
            return
        await route.abort("failed")

    async def _on_page(self, page: Any) -> None:
        """Close pop-ups that pages open (``window.open``): they are not ours to render."""
        with contextlib.suppress(Exception):
            if await page.opener() is not None:
                await page.close()

    async def _route_ws(self, ws: Any) -> None:
        """WebSockets are not seen by ``route``: check them here (ws → http for the policy)."""
        http_url = "http" + ws.url[2:] if ws.url.startswith("ws") else ws.url
        if await self._verdict(http_url):
            await ws.close(code=1008, reason="blocked by the URL policy")
            return
        ws.connect_to_server()
