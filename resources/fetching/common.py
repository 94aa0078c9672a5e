"""What the HTTP and browser routes share: the HTML media types, the user agents they send,
and the checks of a response's headers (status to outcome, media type, announced length)."""

from __future__ import annotations

from typing import Any

HTML_TYPES = ("text/html", "application/xhtml+xml")
USER_AGENT = "orchestration-project-agent/0.1 (+research)"
# The browser says it is a browser (as every crawler that renders pages does: "Mozilla/5.0
# (compatible; …)"), keeping the agent's token so that robots.txt and site owners can tell.
BROWSER_USER_AGENT = f"Mozilla/5.0 (compatible; {USER_AGENT})"


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
