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


def test_the_breaker_gate_reads_the_store_once_per_ttl_and_forgets_on_a_trip(
    tmp_path: Path,
) -> None:
    from resources.routing import BreakerGate

    store = CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")
    breakers = CircuitBreakers(store)
    now = [100.0]
    gate = BreakerGate(breakers, ttl_s=2.0, clock=lambda: now[0])
    assert gate(SITE, "http")
    breakers.trip(route_breaker("http", SITE), "tripped elsewhere")
    assert gate(SITE, "http")  # the answer read 0 s ago is reused
    now[0] += 2.5
    assert not gate(SITE, "http")  # read again after the ttl
    CircuitBreakers(store).trip(route_breaker("browser", SITE), "by the router")
    assert gate(SITE, "browser") is False  # never read before: read now
    gate.forget(SITE, "browser")
    assert gate(SITE, "browser") is False
