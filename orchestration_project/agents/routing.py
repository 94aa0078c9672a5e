"""Routes: alternative ways to do a task, and the router that picks one per task.

For fetching a page the routes are plain HTTP (cheap, fast, no JavaScript) and a rendered
browser page (slow, sees what JavaScript writes). The default router is a rule with memory: try
HTTP first, escalate to the browser when the HTTP copy of a page needs JavaScript, and once most
pages of a site have needed the browser, go to the browser directly. Every attempt is recorded
(``FetchAttempt``) — the history a learned router trains on later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from orchestration_project.agents.planning import site_of

ROUTE_HTTP = "http"
ROUTE_BROWSER = "browser"


@dataclass
class FetchAttempt:
    """One try at fetching a page by one route."""

    crawl_id: str
    url: str
    site: str
    route: str
    outcome: str
    status: int | None
    size_bytes: int
    latency_s: float
    needs_javascript: bool
    reason: str
    attempted_at: datetime
    error: str | None = None


class RuleRouter:
    """HTTP first; the browser when a page needs JavaScript; per-site memory of that need.

    Args:
        min_observations: pages of a site to see before trusting its JavaScript rate.
        browser_first_rate: share of a site's pages that needed JavaScript above which new pages
            of that site go to the browser directly.
    """

    name = "rule-http-first-v1"
    escalate = True  # an HTTP copy that needs JavaScript is fetched again by the browser

    def __init__(self, *, min_observations: int = 3, browser_first_rate: float = 0.8) -> None:
        self.min_observations = min_observations
        self.browser_first_rate = browser_first_rate
        self._seen: dict[str, int] = defaultdict(int)
        self._js: dict[str, int] = defaultdict(int)

    def choose(self, url: str) -> tuple[str, str]:
        """The route for ``url`` and the reason for it."""
        site = site_of(url)
        n, js = self._seen[site], self._js[site]
        if n >= self.min_observations and js / n >= self.browser_first_rate:
            return ROUTE_BROWSER, f"{js}/{n} pages of {site} needed JavaScript"
        return ROUTE_HTTP, f"plain HTTP first ({js}/{n} pages of this site needed JavaScript)"

    def observe(self, url: str, *, needs_javascript: bool) -> None:
        """Learn from one page whether its site renders with JavaScript."""
        site = site_of(url)
        self._seen[site] += 1
        self._js[site] += int(needs_javascript)


class FixedRouter(RuleRouter):
    """Always the same route (the HTTP-only and browser-only baselines)."""

    def __init__(self, route: str) -> None:
        super().__init__()
        self.route = route
        self.name = f"fixed-{route}"
        self.escalate = False

    def choose(self, url: str) -> tuple[str, str]:
        """Always ``self.route``."""
        return self.route, f"fixed route {self.route}"
