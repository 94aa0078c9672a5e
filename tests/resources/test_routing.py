"""The routing resource: the bandit router wired to the circuit breakers in the store."""

from __future__ import annotations

from pathlib import Path

from orchestration_project.agents.coordination import CoordinationStore
from orchestration_project.agents.routing import BanditRouter, RuleRouter
from orchestration_project.operations.healing.breakers import CircuitBreakers
from resources.routing import RoutingResource, route_breaker

SITE = "http://127.0.0.1:8702"


def test_the_rule_strategy_is_the_baseline_router(tmp_path: Path) -> None:
    store = CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")
    router = RoutingResource(strategy="rule").router(store)
    assert type(router) is RuleRouter and not router.retry_failed_route
    assert router.choose(f"{SITE}/p/1")[0] == "http"


def test_an_open_breaker_takes_the_route_away_from_the_bandit(tmp_path: Path) -> None:
    store = CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")
    router = RoutingResource().router(store)
    assert isinstance(router, BanditRouter)
    assert route_breaker("http", SITE) == "route:http:127.0.0.1:8702"
    CircuitBreakers(store).trip(route_breaker("http", SITE), "operator: HTTP blocked")
    choices = [router.choose(f"{SITE}/p/{i}") for i in range(20)]
    assert {route for route, _ in choices} == {"browser"}
    assert all("breaker open on http" in why for _, why in choices)
    # other sites keep both routes
    assert router.choose("http://127.0.0.1:8703/")[0] == "http"


def test_the_bandits_evidence_opens_the_routes_breaker(tmp_path: Path) -> None:
    store = CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")
    router = RoutingResource().router(store)
    breakers = CircuitBreakers(store)
    name = route_breaker("http", SITE)
    for i in range(3):
        router.record(f"{SITE}/p/{i}", "http", ok=True)
        router.record(f"{SITE}/p/{i}", "http", ok=False)
    assert breakers.state(name).state == "closed"  # mixed outcomes: no evidence
    for i in range(3):
        router.record(f"{SITE}/q/{i}", "http", ok=False)
    state = breakers.state(name)
    assert state.state == "open" and "[bandit-ts-v1] http succeeds" in (state.reason or "")
    assert router.choose(f"{SITE}/r")[0] == "browser"
