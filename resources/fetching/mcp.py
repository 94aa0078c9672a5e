"""The :class:`McpFetcher` resource: pages rendered by the Playwright MCP server's browser, for
market research on JavaScript pages, with the :class:`~resources.fetching.result.FetchResult`
of the other routes (route ``"mcp"``).

Each URL is opened with ``browser_navigate`` (the URL policy checks it before the call, the
server's allowed origins and the policy proxy during it, the final URL after it), and the
rendered DOM is read with ``browser_evaluate``. A refused URL or redirect hop is ``blocked``;
an HTTP error status ``not_found`` / ``http_error``; a navigation the server gave up on
``timeout``; a document larger than ``max_bytes`` ``too_large``; a non-HTML document
``non_html``. Like the other fetchers it never raises for what a page does.
"""

from __future__ import annotations

import json
import time
from typing import Any

import dagster as dg
from pydantic import Field

from resources.fetching.common import status_error, status_outcome
from resources.fetching.result import FetchResult
from resources.playwright_mcp import McpSession, PlaywrightMcp

__all__ = ["McpFetcher"]

_PAGE_JS = "() => ({html: document.documentElement.outerHTML, type: document.contentType || ''})"


class McpFetcher(dg.ConfigurableResource):
    """A browser route for fetching through the Playwright MCP server (started over stdio per
    batch, or ``mcp_url`` in production), behind the crawler's URL policy; returns the same
    ``FetchResult`` as ``BrowserFetcher`` with route ``"mcp"``."""

    mcp_url: str | None = Field(default=None, description="A running server's /mcp endpoint.")
    allowed_domains: list[str] = Field(
        default=[], description="host, *.domain or host:port entries; empty: any public host."
    )
    allow_private_hosts: list[str] = Field(
        default=[], description="Private/loopback hosts allowed anyway (local development)."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Time allowed per page (s).")
    max_bytes: int = Field(default=2_000_000, description="Largest document kept (bytes).")
    chromium_path: str | None = Field(default=None, description="Chromium; None: find it.")

    def server(self) -> PlaywrightMcp:
        """The MCP server settings (policy, time limits) of this fetcher."""
        return PlaywrightMcp(
            url=self.mcp_url,
            chromium_path=self.chromium_path,
            allowed_domains=list(self.allowed_domains),
            allow_private_hosts=list(self.allow_private_hosts),
            timeout_s=self.timeout_s * 2,
            navigation_timeout_ms=int(self.timeout_s * 1000),
            action_timeout_ms=int(self.timeout_s * 1000),
        )

    def fetch_many(self, urls: list[str]) -> list[FetchResult]:
        """Render several pages, one after another, in one server session.

        Args:
            urls: absolute URLs.

        Returns:
            One ``FetchResult`` per URL (route ``"mcp"``), in input order.

        Raises:
            McpUnavailableError: the server cannot be started or reached.
        """
        if not urls:
            return []
        with self.server().session() as session:
            return [self.fetch_in(session, url) for url in urls]

    def fetch(self, url: str) -> FetchResult:
        """Render one page (a session of its own).

        Args:
            url: the absolute URL.

        Returns:
            Its ``FetchResult``.
        """
        return self.fetch_many([url])[0]

    def fetch_in(self, session: McpSession, url: str) -> FetchResult:
        """Render one page in an open session.

        Args:
            session: an open MCP session.
            url: the absolute URL.

        Returns:
            Its ``FetchResult``; never raises for what the page or network does.
        """
        t0 = time.perf_counter()

        def done(outcome: str, **kw: Any) -> FetchResult:
            return FetchResult(
                url=url,
                final_url=kw.pop("final_url", url),
                route="mcp",
                outcome=outcome,
                elapsed_s=time.perf_counter() - t0,
                **kw,
            )

        nav = session.call_checked("browser_navigate", {"url": url})
        if nav.outcome == "timeout":
            return done("timeout", error=nav.error)
        answer = nav.value
        final = (answer.page_url if answer is not None else None) or url
        if nav.outcome == "blocked":
            return done("blocked", final_url=final, error=nav.error, blocked_requests=1)
        if nav.outcome != "ok":
            text = (nav.error or "").lower()
            outcome = "timeout" if "timeout" in text else "error"
            return done(outcome, final_url=final, error=(nav.error or "")[:300])
        status = answer.http_status or 200
        bad = status_outcome(status)
        if bad:
            return done(bad, final_url=final, status=status, error=status_error(status, final))
        page = session.call_checked("browser_evaluate", {"function": _PAGE_JS})
        data = _result_json(page.value.text if page.value is not None else "")
        if page.outcome != "ok" or not isinstance(data, dict):
            return done("error", final_url=final, status=status, error=page.error or "no DOM")
        html, ctype = str(data.get("html") or ""), str(data.get("type") or "")
        size = len(html.encode("utf-8"))
        if ctype and ctype not in ("text/html", "application/xhtml+xml"):
            return done("non_html", final_url=final, status=status, content_type=ctype)
        if size > self.max_bytes:
            return done("too_large", final_url=final, status=status, size_bytes=size)
        return done(
            "ok",
            final_url=final,
            status=status,
            content_type=ctype or "text/html",
            html=html,
            size_bytes=size,
        )


def _result_json(text: str) -> Any:
    """The JSON value of a ``browser_evaluate`` answer's ``### Result`` section."""
    body = text.split("### Result", 1)[1] if "### Result" in text else ""
    body = body.split("\n### ", 1)[0].strip()
    try:
        return json.loads(body)
    except ValueError:
        return None
