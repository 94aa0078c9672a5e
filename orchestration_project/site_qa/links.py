"""Checking the links of a visited page: each target fetched once, behind the URL policy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urljoin

import httpx

__all__ = ["HttpLinkChecker", "Policy"]

Policy = Callable[[str], str | None]
"""A URL policy as a function: the reason a URL is refused, or None when it may be fetched."""

MAX_HOPS = 5


class HttpLinkChecker:
    """Answers "is this link broken?" with a plain HTTP request (HEAD, or GET where HEAD is
    not allowed), following redirects hop by hop, every hop checked against ``policy``.

    Results are cached for the checker's life (one run): a link shared by many pages is
    fetched once.

    Args:
        policy: the URL policy (the same one the browser's tools are behind).
        timeout_s: time allowed per request.
    """

    def __init__(self, policy: Policy, *, timeout_s: float = 3.0) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self._cache: dict[str, int | str] = {}
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=timeout_s,
            follow_redirects=False,
            headers={"User-Agent": "Mozilla/5.0 (site-qa link check)"},
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def allowed(self, url: str) -> bool:
        """Whether the policy lets ``url`` be fetched (links it refuses are not checked)."""
        return self.policy(url) is None

    def status(self, url: str) -> int | str:
        """The final HTTP status of ``url``, or why it could not be fetched (``timeout``,
        ``refused: …``, ``error: …``, ``too many redirects``)."""
        with self._lock:
            if url in self._cache:
                return self._cache[url]
        result = self._fetch(url)
        with self._lock:
            self._cache[url] = result
        return result

    def _fetch(self, url: str) -> int | str:
        for _ in range(MAX_HOPS):
            refused = self.policy(url)
            if refused is not None:
                return f"refused: {refused}"
            try:
                resp = self._client.head(url)
                if resp.status_code in (405, 501):
                    resp = self._client.get(url)
            except httpx.TimeoutException:
                return "timeout"
            except httpx.HTTPError as exc:
                return f"error: {type(exc).__name__}"
            if resp.is_redirect and resp.headers.get("location"):
                url = urljoin(url, resp.headers["location"])
                continue
            return resp.status_code
        return "too many redirects"
