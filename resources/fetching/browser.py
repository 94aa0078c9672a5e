"""The :class:`BrowserFetcher` resource: a real browser (Playwright driving Chromium) behind
the URL policy; each call runs a :class:`~resources.fetching.browser_session.BrowserSession`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from pydantic import Field

from resources.fetching.browser_session import BrowserSession
from resources.fetching.chromium import INSTALL_HINT, BrowserNotAvailableError, find_chromium
from resources.fetching.common import BROWSER_USER_AGENT
from resources.fetching.result import FetchResult
from resources.url_policy import UrlPolicy


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
