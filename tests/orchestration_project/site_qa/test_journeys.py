"""Journey files: the bundled journeys load, and every malformed file is refused with a message
that names the journey and step at fault."""

from __future__ import annotations

import textwrap

import pytest

from orchestration_project.demo_world import QA_JOURNEYS_PATH
from orchestration_project.demo_world.data import SITES
from orchestration_project.site_qa.journeys import (
    DEFAULT_FAIL_ON,
    JourneyError,
    load_journeys,
    parse_journeys,
)

SLUGS = {s.slug for s in SITES}


def test_the_bundled_journeys_cover_the_four_user_journeys_of_the_roadmap() -> None:
    journeys = load_journeys(QA_JOURNEYS_PATH, sites=SLUGS)
    assert [j.name for j in journeys] == [
        "find_a_product",
        "compare_prices",
        "contact_form",
        "checkout",
    ]
    assert all(j.steps[0].kind == "navigate" for j in journeys)
    assert all(j.fail_on == DEFAULT_FAIL_ON for j in journeys)
    checkout = journeys[-1]
    fill = next(s for s in checkout.steps if s.kind == "fill")
    assert fill.arg["Card number"] == "4242 4242 4242 4242"
    assert checkout.steps[1].describe() == "click button 'Add Nestwell Room Sensor to cart'"


def _journey(steps: str, extra: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(steps).strip(), "      ")
    return f"journeys:\n  - name: j\n    site: nestwell\n{extra}    steps:\n{body}\n"


def test_a_journey_file_may_set_fail_on_per_journey_and_by_default() -> None:
    text = "defaults:\n  fail_on: [broken_link]\n" + _journey("- navigate: /")
    [j] = parse_journeys(text)
    assert j.fail_on == ("broken_link",)
    [j] = parse_journeys(_journey("- navigate: /", "    fail_on: [slow_page, a11y_change]\n"))
    assert j.fail_on == ("slow_page", "a11y_change")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("journeys: [", "is not YAML"),
        ("steps: []", "needs a list under 'journeys'"),
        ("journeys: []\nextra: 1", "unknown keys at the top of the file: extra"),
        ("journeys:\n  - name: Find Product\n    site: nestwell", "name must be snake_case"),
        ("journeys:\n  - name: j\n    steps: [{navigate: /}]", "journey 'j': site"),
        (_journey("- navigate: /", "    browser: chromium\n"), "unknown keys browser"),
        (_journey("- navigate: /").replace("nestwell", "nowhere"), "unknown site 'nowhere'"),
        (_journey("- click: {role: link, name: Home}"), "the first step must be navigate"),
        (_journey("- navigate: /\n- hover: {role: link}"), "journey 'j', step 2: unknown step"),
        (_journey("- navigate: /\n- click: {role: link}"), "step 2: click takes {role"),
        (_journey("- navigate: /\n- click: {role: link, name: X, css: a}"), "does not take css"),
        (_journey("- navigate: /\n- expect_url: '^/(a'"), "step 2: '^/(a' is not a regular"),
        (_journey("- navigate: /\n- capture: {name: p, pattern: '\\d+'}"), "exactly one group"),
        (_journey("- navigate: /\n- fill: {Email: [a, b]}"), "value of 'Email' must be text"),
        (_journey("- navigate: /\n- expect_text: {regex: x}"), "expect_text takes a text"),
        (_journey("- navigate: ''"), "navigate takes a non-empty string"),
        (_journey("- navigate: /", "    fail_on: [typo]\n"), "unknown finding kinds ['typo']"),
        (_journey("- navigate: /") + _journey("- navigate: /")[9:], "the name is used twice"),
        (_journey("- {navigate: /, click: x}"), "a step is a mapping with one key"),
    ],
)
def test_a_malformed_journey_file_is_refused_with_the_place_and_the_reason(
    text: str, message: str
) -> None:
    with pytest.raises(JourneyError) as info:
        parse_journeys(text, sites=SLUGS)
    assert message in str(info.value)
