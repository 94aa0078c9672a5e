"""The journey runner on the real demo world through the real Playwright MCP server: what each
way of breaking a page on purpose looks like to a journey, and what a healthy page still
reports."""

from __future__ import annotations

import dataclasses

from orchestration_project.demo_world import QA_JOURNEYS_PATH
from orchestration_project.demo_world.data import SITES
from orchestration_project.site_qa.journeys import Journey, load_journeys
from orchestration_project.site_qa.links import HttpLinkChecker
from orchestration_project.site_qa.runner import JourneyResult, JourneyRunner
from tests.orchestration_project.site_qa.conftest import Qa

JOURNEYS = {j.name: j for j in load_journeys(QA_JOURNEYS_PATH, sites={s.slug for s in SITES})}


def run(qa: Qa, journey: Journey, *, slow_page_ms: float = 5000.0) -> JourneyResult:
    links = HttpLinkChecker(qa.links.policy)  # a run's cache: links are checked once per run
    runner = JourneyRunner(
        qa.call, sites=qa.world.sites, slow_page_ms=slow_page_ms, link_checker=links
    )
    try:
        return runner.run(journey)
    finally:
        links.close()


def kinds(result: JourneyResult) -> dict[str, str]:
    return {f.kind: f.severity for f in result.findings}


def test_a_healthy_product_journey_passes_and_still_reports_the_sites_own_dead_link(
    healthy: Qa,
) -> None:
    result = run(healthy, JOURNEYS["find_a_product"])

    assert result.passed, result.error
    assert result.captures == {"price": "$39.00"}
    assert [s.ok for s in result.steps] == [True] * 7
    assert [p.key for p in result.pages] == ["01 /", "02 /products", "04 /products/room-sensor"]
    # The home page's hero image is on a CDN off the allow-list: the policy blocked it (info).
    # The product list links the 1st-generation Aura, which is gone (404): a broken link, a
    # warning (not in the journey's fail_on).
    assert kinds(result) == {"blocked_request": "info", "broken_link": "warning"}
    [dead] = [f for f in result.findings if f.kind == "broken_link"]
    assert dead.detail.endswith("/products/aura-thermostat-gen1: 404") and dead.step == 2


def test_a_script_error_fails_the_journey_as_a_console_error(healthy: Qa) -> None:
    healthy.world.break_page("nestwell", "/store/contact", "console_error")
    result = run(healthy, JOURNEYS["contact_form"])

    assert result.status == "failed" and result.failed_step is None  # every step worked
    [error] = [f for f in result.findings if f.kind == "console_error"]
    assert error.severity == "error" and error.step == 1
    assert "this page was broken on purpose" in error.detail
    assert result.error.startswith("console_error at step 1: Error: demo world")


def test_a_server_error_fails_the_step_that_reached_it(healthy: Qa) -> None:
    healthy.world.break_page("nestwell", "/store/checkout", "server_error")
    result = run(healthy, JOURNEYS["checkout"])

    assert result.status == "failed" and result.failed_step == 5
    assert result.error.startswith("step 5 (click link 'Checkout'):")
    assert result.error.endswith("/store/checkout answered HTTP 500")
    assert kinds(result)["failed_request"] == "error"
    assert len(result.steps) == 5  # the journey stopped there


def test_a_removed_button_fails_the_journey_that_needs_it(healthy: Qa) -> None:
    healthy.world.break_page("nestwell", "/store", "remove_buttons")
    result = run(healthy, JOURNEYS["compare_prices"])

    assert result.failed_step == 3
    assert "has no button named 'Search'" in result.error


def test_a_broken_link_is_a_warning_unless_the_journey_fails_on_it(healthy: Qa) -> None:
    healthy.world.break_page("nestwell", "/store/compare", "broken_link")
    result = run(healthy, JOURNEYS["compare_prices"])
    assert result.passed
    [link] = [f for f in result.findings if f.kind == "broken_link"]
    assert link.severity == "warning"
    assert link.detail.startswith("link 'Delivery information' -> ")
    assert link.detail.endswith("/store/delivery-information: 404")

    strict = dataclasses.replace(JOURNEYS["compare_prices"], fail_on=("broken_link",))
    assert run(healthy, strict).status == "failed"


def test_a_page_slower_than_the_threshold_is_a_slow_page(healthy: Qa) -> None:
    healthy.world.break_page("nestwell", "/store/compare", "slow", seconds=1.0)
    result = run(healthy, JOURNEYS["compare_prices"], slow_page_ms=900)

    assert result.passed  # slow is a warning by default
    [slow] = [f for f in result.findings if f.kind == "slow_page"]
    assert slow.step == 6 and slow.severity == "warning"  # the click on "Compare prices"
    assert slow.detail.startswith("/store/compare took ")
    assert slow.detail.endswith(" ms (threshold 900 ms)")
    assert [p.load_ms > 1000 for p in result.pages] == [False, False, True]
