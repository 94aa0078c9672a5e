"""The fetch router with the Playwright MCP server's browser as a third arm."""

from __future__ import annotations

from orchestration_project.agents.routing import (
    JS_ROUTES,
    ROUTE_BROWSER,
    ROUTE_HTTP,
    ROUTE_MCP,
    BanditRouter,
    default_bandit,
)

SITE = "http://127.0.0.1:9001"


def _js_site(router: BanditRouter) -> None:
    for i in range(5):  # every page of the site needed JavaScript
        router.observe(f"{SITE}/p{i}", needs_javascript=True)


def test_without_the_mcp_arm_javascript_pages_go_to_the_browser() -> None:
    router = BanditRouter(bandit=default_bandit(seed=1))
    _js_site(router)
    assert {router.choose(f"{SITE}/x{i}")[0] for i in range(50)} == {ROUTE_BROWSER}
    assert ROUTE_MCP not in router.bandit.routes


def test_with_the_mcp_arm_javascript_pages_go_to_a_route_that_runs_javascript() -> None:
    router = BanditRouter(bandit=default_bandit(seed=1, mcp_cost=8.0))
    assert router.bandit.routes == (ROUTE_HTTP, ROUTE_BROWSER, ROUTE_MCP)
    _js_site(router)
    chosen = [router.choose(f"{SITE}/x{i}") for i in range(200)]
    assert {route for route, _ in chosen} <= set(JS_ROUTES)  # never plain HTTP
    assert all("needed JavaScript" in why for _, why in chosen)
    # the cheaper browser takes most of them while both work
    share_browser = sum(route == ROUTE_BROWSER for route, _ in chosen) / len(chosen)
    assert share_browser > 0.6


def test_when_the_browser_fails_the_mcp_route_takes_the_javascript_pages() -> None:
    router = BanditRouter(bandit=default_bandit(seed=2, mcp_cost=8.0))
    _js_site(router)
    for i in range(12):
        router.record(f"{SITE}/b{i}", ROUTE_BROWSER, ok=False)
        router.record(f"{SITE}/m{i}", ROUTE_MCP, ok=True)
    chosen = [router.choose(f"{SITE}/y{i}")[0] for i in range(100)]
    assert sum(r == ROUTE_MCP for r in chosen) > 80


def test_with_every_javascript_route_closed_the_browser_is_named() -> None:
    router = BanditRouter(
        bandit=default_bandit(seed=3, mcp_cost=8.0),
        allowed=lambda site, route: route == ROUTE_HTTP,
    )
    _js_site(router)
    route, why = router.choose(f"{SITE}/z")
    assert route == ROUTE_BROWSER and "breaker open" in why
