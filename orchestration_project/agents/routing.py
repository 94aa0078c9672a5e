"""Routes: alternative ways to do a task, and the router that picks one per task.

For fetching a page the routes are plain HTTP (cheap, fast, no JavaScript) and a rendered
browser page (slow, sees what JavaScript writes). The default router is a rule with memory: try
HTTP first, escalate to the browser when the HTTP copy of a page needs JavaScript, and once most
pages of a site have needed the browser, go to the browser directly. Every attempt is recorded
(``FetchAttempt``) — the history a learned router trains on later.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ml.bandit import RouteBandit
from orchestration_project.agents.planning import site_of

ROUTE_HTTP = "http"
ROUTE_BROWSER = "browser"
ROUTE_MCP = "mcp"  # the Playwright MCP server's browser: a second route that runs JavaScript
JS_ROUTES = (ROUTE_BROWSER, ROUTE_MCP)


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
    retry_failed_route = False  # a page whose HTTP route failed is not tried in the browser

    def __init__(self, *, min_observations: int = 3, browser_first_rate: float = 0.8) -> None:
        self.min_observations = min_observations
        self.browser_first_rate = browser_first_rate
        self._seen: dict[str, int] = defaultdict(int)
        self._js: dict[str, int] = defaultdict(int)

    def choose(self, url: str) -> tuple[str, str]:
        """The route for ``url`` and the reason for it."""
        site = site_of(url)
        why = self.needs_browser(url)
        if why:
            return ROUTE_BROWSER, why
        n, js = self._seen[site], self._js[site]
        return ROUTE_HTTP, f"plain HTTP first ({js}/{n} pages of this site needed JavaScript)"

    def observe(self, url: str, *, needs_javascript: bool) -> None:
        """Learn from one page whether its site renders with JavaScript."""
        site = site_of(url)
        self._seen[site] += 1
        self._js[site] += int(needs_javascript)

    def needs_browser(self, url: str) -> str | None:
        """Why pages of ``url``'s site go to the browser directly, or None."""
        site = site_of(url)
        n, js = self._seen[site], self._js[site]
        if n >= self.min_observations and js / n >= self.browser_first_rate:
            return f"{js}/{n} pages of {site} needed JavaScript"
        return None

    def record(self, url: str, route: str, *, ok: bool) -> None:
        """Learn the outcome of one attempt by ``route`` (the rule learns nothing from it)."""


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


def default_bandit(
    *,
    http_cost: float = 1.0,
    browser_cost: float = 4.0,
    value: float = 10.0,
    discount: float = 0.85,
    seed: int = 0,
    mcp_cost: float | None = None,
) -> RouteBandit:
    """The fetch-route bandit with the rule's knowledge as its prior.

    With ``mcp_cost`` the Playwright MCP server's browser is a third arm (prior 1 : 1, like the
    browser); at 8 (``benchmarks/mcp_vs_playwright.py``: an MCP navigation costs about twice a
    direct one) it is explored rarely and takes the JavaScript pages when the browser fails.

    HTTP starts at 4 : 1 (successes : failures; plain HTTP works for most sites), the browser at
    1 : 1; a browser fetch costs 4 HTTP fetches, a fetched page is worth 10. Chosen by
    simulation (a healthy site, then HTTP failing with each failed page retried in the
    browser), between exploring the browser on a healthy site and leaving a failing route fast:
    a healthy site's first 18 pages explore the browser in 6.5 % of crawls (a Chromium start
    each time), and a failing HTTP route keeps a median of 7 (p90 10) decisions. With browser
    cost 3 the exploration rate is 26 % for a switch after 5; with 5, 2.5 % for 10.
    """
    routes: tuple[str, ...] = (ROUTE_HTTP, ROUTE_BROWSER)
    costs = {ROUTE_HTTP: http_cost, ROUTE_BROWSER: browser_cost}
    successes = {ROUTE_HTTP: 4.0, ROUTE_BROWSER: 1.0}
    failures = {ROUTE_HTTP: 1.0, ROUTE_BROWSER: 1.0}
    if mcp_cost is not None:
        routes += (ROUTE_MCP,)
        costs[ROUTE_MCP] = mcp_cost
        successes[ROUTE_MCP], failures[ROUTE_MCP] = 1.0, 1.0
    return RouteBandit(
        routes=routes,
        costs=costs,
        value=value,
        discount=discount,
        prior_successes=successes,
        prior_failures=failures,
        seed=seed,
    )


class BanditRouter(RuleRouter):
    """The rule's JavaScript memory plus a bandit that moves traffic off a failing route.

    A site known to need JavaScript goes to the browser, as with the rule. Otherwise a
    discounted Thompson-sampling bandit (:class:`ml.bandit.RouteBandit`, one posterior per site
    and route, starting from the rule's preference for cheap HTTP) picks among the routes the
    gate allows: an open circuit breaker removes a route. Every attempt's outcome updates the
    bandit; when a route's evidence says it fails (after ``min_outcomes``, a posterior mean
    below ``failing_below`` or three failures in a row), ``on_failing(site, route, reason)`` is
    called once per site and route (again only after the route recovered in between),
    so the caller can open that route's breaker. Every reason names the router's version.

    Args:
        bandit: the bandit (default: :func:`default_bandit`).
        allowed: ``(site, route) -> bool``, e.g. whether the route's breaker allows calls.
        on_failing: called when the bandit's evidence says a route fails for a site.
        failing_below: the posterior mean below which a route counts as failing.
        min_outcomes: outcomes of the route at that site before it can count as failing.
    """

    name = "bandit-ts-v1"
    retry_failed_route = True  # a refusing route (5xx, 403/429, reset) retries the page once

    def __init__(
        self,
        *,
        bandit: RouteBandit | None = None,
        allowed: Callable[[str, str], bool] | None = None,
        on_failing: Callable[[str, str, str], None] | None = None,
        failing_below: float = 0.3,
        min_outcomes: int = 4,
    ) -> None:
        super().__init__()
        self.bandit = bandit or default_bandit()
        self.allowed = allowed
        self.on_failing = on_failing
        self.failing_below = failing_below
        self.min_outcomes = min_outcomes
        self._reported: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def choose(self, url: str) -> tuple[str, str]:
        """The route for ``url`` and the reason for it (prefixed with the router's name)."""
        why = self.needs_browser(url)
        site = site_of(url)
        js_routes = [r for r in self.bandit.routes if r in JS_ROUTES]
        if why and len(js_routes) < 2:
            return ROUTE_BROWSER, f"[{self.name}] {why}"
        # a page that needs JavaScript is for a route that runs it: the bandit picks which
        routes = js_routes if why else self.bandit.routes
        allowed = [r for r in routes if self.allowed is None or self.allowed(site, r)]
        if why and not allowed:
            return ROUTE_BROWSER, f"[{self.name}] {why}; every JavaScript route's breaker open"
        with self._lock:
            decision = self.bandit.choose(site, allowed)
        closed = [r for r in routes if r not in allowed]
        note = f"; breaker open on {', '.join(closed)}" if closed else ""
        js = f"{why}; " if why else ""
        return decision.route, f"[{self.name}] {js}{decision.reason()}{note}"

    def record(self, url: str, route: str, *, ok: bool) -> None:
        """Update the bandit with one attempt's outcome; report a route that now fails."""
        site = site_of(url)
        with self._lock:
            self.bandit.update(site, route, 1.0 if ok else 0.0)
            failing = self.bandit.failing(
                site, route, threshold=self.failing_below, min_outcomes=self.min_outcomes
            )
            arm = self.bandit.arm(site, route)
            report = failing and (site, route) not in self._reported
            if report:
                self._reported.add((site, route))
            elif not failing:
                self._reported.discard((site, route))
        if report and self.on_failing is not None:
            self.on_failing(
                site,
                route,
                f"[{self.name}] {route} succeeds {arm.mean:.0%} of the time at {site} "
                f"(posterior after {arm.n} outcomes)",
            )
