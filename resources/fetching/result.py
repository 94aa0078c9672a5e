""":class:`FetchResult`, what fetching one URL produced by one route, and ``OUTCOMES``, the
outcomes it can have."""

from __future__ import annotations

from dataclasses import dataclass, field

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
