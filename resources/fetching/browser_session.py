"""A running browser (:class:`BrowserSession`): Playwright on a private event loop in its own
thread, rendering pages in fresh contexts, with every request (documents, sub-resources,
redirect hops, WebSockets) routed through the URL policy and the size and time caps."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from resources.fetching.chromium import CHROMIUM_ARGS, INSTALL_HINT, BrowserNotAvailableError
from resources.fetching.common import (
    HTML_TYPES,
    announced_length,
    media_type,
    status_error,
    status_outcome,
)
from resources.fetching.result import FetchResult
from resources.url_policy import BlockedUrlError

if TYPE_CHECKING:
    from resources.fetching.browser import BrowserFetcher


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
