"""The fetch router: which route (plain HTTP, the browser or the Playwright MCP server's browser)
each page of a crawl takes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from orchestration_project.agents.coordination import CoordinationStore
from orchestration_project.agents.routing import BanditRouter, RuleRouter, default_bandit
from orchestration_project.operations.healing.breakers import CircuitBreakers
from resources.fetching.mcp import McpFetcher

__all__ = ["BreakerGate", "RoutingResource", "route_breaker"]


def route_breaker(route: str, site: str) -> str:
    """The circuit breaker of ``route`` at ``site`` (``route:http:<host:port>``), the name the
    canary and the healer use too."""
    return f"route:{route}:{urlsplit(site).netloc or site}"


class RoutingResource(dg.ConfigurableResource):
    """Routes a crawl's pages between plain HTTP and the browser.

    ``bandit`` (the default): the rule's JavaScript memory plus a discounted Thompson-sampling
    bandit per site that moves traffic off a route that starts failing, retries a page whose
    route refused it (5xx, 403/429, a reset connection; not a timeout) in the other route, skips a route whose circuit breaker is open and opens the
    breaker when its own evidence says the route fails. ``rule``: HTTP first, the browser when a
    page needs JavaScript (the baseline). Costs are per call, in the unit of ``value`` (the
    willingness to pay for one fetched page).
    """

    strategy: Literal["bandit", "rule"] = Field(
        default="bandit", description="bandit (learns online) or rule (fixed baseline)"
    )
    http_cost: float = Field(default=1.0, description="cost of one plain-HTTP fetch")
    browser_cost: float = Field(default=4.0, description="cost of one browser fetch")
    value: float = Field(default=10.0, description="willingness to pay for one fetched page")
    discount: float = Field(
        default=0.85, description="forgetting per outcome (1 = remember everything)"
    )
    breaker_ttl_s: float = Field(
        default=2.0, description="how long a route's breaker state is reused between reads"
    )
    mcp: McpFetcher | None = Field(
        default=None,
        description="the Playwright MCP server's browser as a third route (FETCH_ROUTES with "
        "mcp); None: HTTP and the browser only",
    )
    mcp_cost: float = Field(default=8.0, description="cost of one fetch through the MCP server")

    def router(
        self,
        store: CoordinationStore,
        *,
        prior_fn: Callable[[str, str], tuple[float, float] | None] | None = None,
    ) -> RuleRouter:
        """A fresh router for one crawl, wired to the circuit breakers in ``store``.

        Args:
            store: the coordination store (circuit breakers).
            prior_fn: the bandit's prior per (site, route), e.g. from the route model
                ``route_success@champion``; None: the rule's priors. Its ``label`` attribute,
                if any (``route_success/v3``), joins the router's name in every reason.
        """
        if self.strategy == "rule":
            return RuleRouter()
        breakers = CircuitBreakers(store)
        bandit = default_bandit(
            http_cost=self.http_cost,
            browser_cost=self.browser_cost,
            value=self.value,
            discount=self.discount,
            mcp_cost=self.mcp_cost if self.mcp is not None else None,
        )
        bandit.prior_fn = prior_fn
        gate = BreakerGate(breakers, ttl_s=self.breaker_ttl_s)

        def trip(site: str, route: str, why: str) -> None:
            breakers.trip(route_breaker(route, site), why)
            gate.forget(site, route)

        router = BanditRouter(bandit=bandit, allowed=gate, on_failing=trip)
        label = getattr(prior_fn, "label", None)  # e.g. route_success/v3: the model in use
        if label:
            router.name = f"{BanditRouter.name}+{label}"  # every decision's reason names it
        return router


class BreakerGate:
    """Whether a route's breaker lets calls through, read from the store at most once per
    ``ttl_s`` per (site, route): a decision is on the crawl's hot path, a breaker read is a
    database round trip, and a breaker changes state on a scale of minutes.

    Args:
        breakers: the circuit breakers.
        ttl_s: how long an answer is reused.
        clock: monotonic seconds (a test may move it by hand).
    """

    def __init__(
        self,
        breakers: CircuitBreakers,
        *,
        ttl_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.breakers = breakers
        self.ttl_s = ttl_s
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, site: str, route: str) -> bool:
        """Whether ``route`` may be used at ``site`` now."""
        now = self.clock()
        with self._lock:
            hit = self._seen.get((site, route))
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        allowed = self.breakers.allow(route_breaker(route, site))
        with self._lock:
            self._seen[(site, route)] = (now, allowed)
        return allowed

    def forget(self, site: str, route: str) -> None:
        """Drop the remembered answer (the breaker just changed here)."""
        with self._lock:
            self._seen.pop((site, route), None)
