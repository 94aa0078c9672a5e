"""Plain HTTP fetching (no JavaScript): the :class:`HttpFetcher` resource, with the URL policy
checked on every redirect hop, a total deadline per page (body included) and a size cap."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin

import dagster as dg
import httpx
from pydantic import Field

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.common.tls import shared_tls_context
from orchestration_project.operations.healing import OpsSettings
from resources.fetching.common import (
    HTML_TYPES,
    USER_AGENT,
    announced_length,
    media_type,
    status_error,
    status_outcome,
)
from resources.fetching.result import FetchResult
from resources.url_policy import BlockedUrlError, UrlPolicy

TIMEOUT_SETTING = "fetch_timeout_s:http"
"""The operational setting that overrides the HTTP fetch timeout (``HttpFetcher.tuned``)."""


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

    def tuned(self, store: CoordinationStore) -> HttpFetcher:
        """This fetcher with the operational timeout setting ``fetch_timeout_s:http`` applied
        when one was set (a reviewed configuration recommendation writes it), else itself."""
        value = OpsSettings(store).get(TIMEOUT_SETTING)
        if value is None:
            return self
        return self.model_copy(update={"timeout_s": float(value)})

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
                headers={"User-Agent": self.user_agent},
                follow_redirects=False,
                verify=shared_tls_context(),
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
