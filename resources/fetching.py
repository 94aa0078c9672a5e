"""Safe web fetching for agents: a plain HTTP fetcher and a real browser (Playwright on
Chromium), both behind the same ``UrlPolicy``, time-outs and size caps.

Neither fetcher raises for what a web page does wrong: every problem becomes a ``FetchResult``
outcome with a clear error (``timeout``, ``too_large``, ``not_found``, ``http_error``,
``redirect_loop``, ``too_many_redirects``, ``non_html``, ``blocked``, ``error``), so one bad
page never stops a crawl.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

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
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-quic",
]


@dataclass
class FetchResult:
    """What fetching one URL produced, by one route."""

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


def _status_outcome(status: int) -> str | None:
    if status == 404 or status == 410:
        return "not_found"
    if status >= 400:
        return "http_error"
    return None


class HttpFetcher(dg.ConfigurableResource):
    """Plain HTTP fetching for agents: allow-list and address policy on every hop, manual
    redirects with loop detection, a total deadline per page and a response size cap."""

    timeout_s: float = Field(default=5.0, description="Total time allowed per page.")
    max_bytes: int = Field(default=2_000_000, description="Largest body read (bytes).")
    max_redirects: int = Field(default=5, description="Redirect hops followed.")
    user_agent: str = Field(default="orchestration-project-agent/0.1", description="User-Agent.")
    allowed_domains: list[str] = Field(default=[], description="Allow-list; empty: any public.")
    allow_private_hosts: list[str] = Field(default=[], description="Internal hosts allowed.")
    max_concurrency: int = Field(default=8, description="Parallel requests in fetch_many.")

    def policy(self) -> UrlPolicy:
        """The URL policy these settings describe."""
        return UrlPolicy(tuple(self.allowed_domains), tuple(self.allow_private_hosts))

    def fetch(self, url: str, *, any_text: bool = False) -> FetchResult:
        """Fetch one page; never raises for what the page or network does."""
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
                        return done("timeout", error=f"no answer within {self.timeout_s} s")
                    with client.stream("GET", current, timeout=remaining) as resp:
                        if resp.is_redirect:
                            nxt = urljoin(current, resp.headers.get("location", ""))
                            if nxt in seen:
                                redirects.append(nxt)
                                return done(
                                    "redirect_loop",
                                    status=resp.status_code,
                                    error=f"redirect loop back to {nxt}",
                                )
                            seen.add(nxt)
                            redirects.append(nxt)
                            current = nxt
                            continue
                        return self._read(resp, done, deadline, any_text)
                return done("too_many_redirects", error=f"more than {self.max_redirects} redirects")
        except httpx.TimeoutException:
            return done("timeout", error=f"no answer within {self.timeout_s} s")
        except httpx.HTTPError as exc:
            return done("error", error=f"{type(exc).__name__}: {exc}")

    def _read(self, resp: httpx.Response, done: Any, deadline: float, any_text: bool) -> Any:
        status = resp.status_code
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        bad = _status_outcome(status)
        if bad:
            return done(bad, status=status, content_type=ctype, error=f"HTTP {status}")
        wanted = ctype.startswith("text/") if any_text else ctype in HTML_TYPES
        length = int(resp.headers.get("content-length") or 0)
        if not wanted:
            return done(
                "non_html",
                status=status,
                content_type=ctype,
                size_bytes=length,
                error=f"content type {ctype or 'unknown'} is not HTML",
            )
        if length > self.max_bytes:
            return done(
                "too_large",
                status=status,
                content_type=ctype,
                size_bytes=length,
                error=f"{length} bytes announced, cap {self.max_bytes}",
            )
        body = bytearray()
        for chunk in resp.iter_bytes():
            body += chunk
            if len(body) > self.max_bytes:
                return done(
                    "too_large",
                    status=status,
                    content_type=ctype,
                    size_bytes=len(body),
                    error=f"body exceeds {self.max_bytes} bytes",
                )
            if time.perf_counter() > deadline:
                return done(
                    "timeout",
                    status=status,
                    content_type=ctype,
                    size_bytes=len(body),
                    error="body still arriving at the deadline",
                )
        text = body.decode(resp.encoding or "utf-8", errors="replace")
        return done("ok", status=status, content_type=ctype, html=text, size_bytes=len(body))

    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Fetch several pages concurrently; results in input order."""
        if not urls:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(urls))) as pool:
            return list(pool.map(self.fetch, urls))

    def fetch_text(self, url: str) -> str | None:
        """Any text document (e.g. robots.txt), or None when it cannot be had."""
        r = self.fetch(url, any_text=True)
        return r.html if r.ok else None


class BrowserNotAvailableError(RuntimeError):
    """No Chromium executable could be found."""


def find_chromium() -> str:
    """The Chromium to drive: $CHROMIUM_PATH, else the usual system locations."""
    env = os.environ.get("CHROMIUM_PATH")
    if env:
        if os.path.exists(env):
            return env
        raise BrowserNotAvailableError(
            f"CHROMIUM_PATH={env} does not exist; install Chromium with "
            "`sudo apt-get install -y chromium` or point CHROMIUM_PATH at a Chromium binary"
        )
    for cand in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"):
        if os.path.exists(cand):
            return cand
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotAvailableError(
        "no Chromium found: install it with `sudo apt-get install -y chromium` (Debian/Ubuntu) "
        "or set CHROMIUM_PATH to a Chromium executable (`./scripts/install` does the former)"
    )


class BrowserFetcher(dg.ConfigurableResource):
    """A real browser for agents: Playwright driving Chromium, several pages in parallel.

    Every request a page makes (the document, scripts, XHR, images, redirects) passes the URL
    policy or is aborted; the main document is fetched through the route so its size is capped
    and its type checked before Chromium renders it.
    """

    executable_path: str | None = Field(default=None, description="Chromium; None: find it.")
    cdp_endpoint: str | None = Field(default=None, description="Remote browser (production).")
    timeout_s: float = Field(default=10.0, description="Time allowed per page.")
    max_bytes: int = Field(default=2_000_000, description="Largest document rendered (bytes).")
    max_redirects: int = Field(default=5, description="Redirect hops followed.")
    max_concurrency: int = Field(default=4, description="Pages rendered in parallel.")
    settle_ms: int = Field(default=500, description="Wait for network idle after load, at most.")
    allowed_domains: list[str] = Field(default=[], description="Allow-list; empty: any public.")
    allow_private_hosts: list[str] = Field(default=[], description="Internal hosts allowed.")
    block_resource_types: list[str] = Field(
        default=["image", "media", "font"], description="Sub-resources never loaded."
    )
    user_agent: str = Field(default="orchestration-project-agent/0.1", description="User-Agent.")

    def policy(self) -> UrlPolicy:
        """The URL policy these settings describe."""
        return UrlPolicy(tuple(self.allowed_domains), tuple(self.allow_private_hosts))

    def executable(self) -> str:
        """The Chromium executable (raises ``BrowserNotAvailableError`` with the fix)."""
        if self.executable_path:
            if not os.path.exists(self.executable_path):
                raise BrowserNotAvailableError(
                    f"Chromium not found at {self.executable_path}; install it with "
                    "`sudo apt-get install -y chromium` or set CHROMIUM_PATH"
                )
            return self.executable_path
        return find_chromium()

    @contextmanager
    def session(self) -> Iterator[BrowserSession]:
        """One browser kept open for several ``fetch_many`` calls."""
        s = BrowserSession(self)
        try:
            yield s
        finally:
            s.close()

    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Render several pages in one browser; results in input order."""
        with self.session() as s:
            return s.fetch_many(urls)

    def fetch(self, url: str) -> FetchResult:
        """Render one page."""
        return self.fetch_many([url])[0]


class BrowserSession:
    """A running browser on a private event loop in its own thread (so it works from Dagster
    ops, from worker threads and beside a running event loop alike)."""

    def __init__(self, cfg: BrowserFetcher) -> None:
        self.cfg = cfg
        self.policy = cfg.policy()
        exe = None if cfg.cdp_endpoint else cfg.executable()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._run(self._start(exe))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _start(self, exe: str | None) -> None:
        from playwright.async_api import async_playwright

        self._pw = await async_playwright().start()
        if self.cfg.cdp_endpoint:
            self._browser = await self._pw.chromium.connect_over_cdp(self.cfg.cdp_endpoint)
        else:
            self._browser = await self._pw.chromium.launch(
                executable_path=exe, headless=True, args=CHROMIUM_ARGS
            )
        self._context = await self._browser.new_context(user_agent=self.cfg.user_agent)
        self._sem = asyncio.Semaphore(self.cfg.max_concurrency)

    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Render pages in parallel (bounded); results in input order."""
        if not urls:
            return []
        return self._run(self._many(urls))

    def fetch(self, url: str) -> FetchResult:
        """Render one page."""
        return self.fetch_many([url])[0]

    async def _many(self, urls: list[str]) -> list[FetchResult]:
        return list(await asyncio.gather(*(self._one(u) for u in urls)))

    async def _one(self, url: str) -> FetchResult:
        async with self._sem:
            t0 = time.perf_counter()
            try:
                self.policy.check(url)
            except BlockedUrlError as exc:
                return FetchResult(url, url, "browser", "blocked", error=str(exc))
            page = await self._context.new_page()
            state: dict[str, Any] = {
                "blocked": 0,
                "final": url,
                "redirects": [],
                "fail": None,
                "status": None,
                "ctype": None,
                "size": 0,
            }
            await page.route("**/*", lambda route, req: self._route(route, req, url, state))
            timeout_ms = self.cfg.timeout_s * 1000
            try:
                resp = await asyncio.wait_for(
                    page.goto(url, timeout=timeout_ms, wait_until="load"),
                    timeout=self.cfg.timeout_s + 1,
                )
                if state["fail"] is None and resp is not None:
                    with contextlib.suppress(Exception):  # still busy: render what is there
                        await page.wait_for_load_state("networkidle", timeout=self.cfg.settle_ms)
                    html = await page.content()
                    status = resp.status
                    bad = _status_outcome(status)
                    return FetchResult(
                        url,
                        state["final"],
                        "browser",
                        bad or "ok",
                        status=status,
                        content_type=state["ctype"],
                        html=None if bad else html,
                        size_bytes=state["size"] or len(html.encode()),
                        elapsed_s=time.perf_counter() - t0,
                        error=f"HTTP {status}" if bad else None,
                        redirects=state["redirects"],
                        blocked_requests=state["blocked"],
                    )
                outcome, err = state["fail"] or ("error", "no response")
            except TimeoutError:
                outcome, err = state["fail"] or (
                    "timeout",
                    f"not loaded within {self.cfg.timeout_s} s",
                )
            except Exception as exc:  # Playwright errors: aborted navigations, crashes
                outcome, err = state["fail"] or (
                    "timeout" if "Timeout" in type(exc).__name__ else "error",
                    str(exc).splitlines()[0][:300],
                )
            finally:
                await page.close()
            return FetchResult(
                url,
                state["final"],
                "browser",
                outcome,
                status=state["status"],
                content_type=state["ctype"],
                size_bytes=state["size"],
                elapsed_s=time.perf_counter() - t0,
                error=err,
                redirects=state["redirects"],
                blocked_requests=state["blocked"],
            )

    async def _route(self, route: Any, request: Any, start_url: str, state: dict) -> None:
        """Every request of the page: policy, resource types, and the capped main document."""
        try:
            is_main = request.is_navigation_request() and request.frame.parent_frame is None
            if not is_main:
                if request.resource_type in self.cfg.block_resource_types:
                    await route.abort()
                elif self.policy.allows(request.url):
                    await route.continue_()
                else:
                    state["blocked"] += 1
                    await route.abort("blockedbyclient")
                return
            await self._main_document(route, request, state)
        except Exception as exc:  # the page closed meanwhile: nothing left to do
            if state["fail"] is None and "closed" not in str(exc).lower():
                state["fail"] = ("error", str(exc).splitlines()[0][:300])

    async def _main_document(self, route: Any, request: Any, state: dict) -> None:
        current, seen = request.url, {request.url}
        timeout_ms = self.cfg.timeout_s * 1000
        for _ in range(self.cfg.max_redirects + 1):
            try:
                self.policy.check(current)
            except BlockedUrlError as exc:
                state["fail"] = ("blocked", str(exc))
                await route.abort("blockedbyclient")
                return
            resp = await route.fetch(url=current, max_redirects=0, timeout=timeout_ms)
            state["status"] = resp.status
            if 300 <= resp.status < 400 and "location" in resp.headers:
                nxt = urljoin(current, resp.headers["location"])
                state["redirects"].append(nxt)
                if nxt in seen:
                    state["fail"] = ("redirect_loop", f"redirect loop back to {nxt}")
                    await route.abort("failed")
                    return
                seen.add(nxt)
                current = nxt
                state["final"] = nxt
                continue
            ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
            state["ctype"] = ctype
            length = int(resp.headers.get("content-length") or 0)
            if ctype not in HTML_TYPES:
                state["fail"] = ("non_html", f"content type {ctype or 'unknown'} is not HTML")
                state["size"] = length
                await route.abort("failed")
                return
            if length > self.cfg.max_bytes:
                state["fail"] = ("too_large", f"{length} bytes announced, cap {self.cfg.max_bytes}")
                state["size"] = length
                await route.abort("failed")
                return
            body = await resp.body()
            state["size"] = len(body)
            if len(body) > self.cfg.max_bytes:
                state["fail"] = ("too_large", f"body exceeds {self.cfg.max_bytes} bytes")
                await route.abort("failed")
                return
            await route.fulfill(response=resp, body=body)
            return
        state["fail"] = ("too_many_redirects", f"more than {self.cfg.max_redirects} redirects")
        await route.abort("failed")

    def close(self) -> None:
        """Close the browser and stop the loop."""

        async def _close() -> None:
            try:
                await self._context.close()
                await self._browser.close()
            finally:
                await self._pw.stop()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()

        try:
            self._run(_close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
