"""Content marketing's domain: briefs (with quarantine), drafts per strategy, channel rules and
the content checks, on a small competitor matrix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from orchestration_project.content_marketing.briefs import (
    DEFAULT_BRIEFS,
    Brief,
    load_briefs,
    parse_brief,
)
from orchestration_project.content_marketing.channels import RULES, render
from orchestration_project.content_marketing.checks import (
    check_outputs,
    known_prices,
    prices_stated,
)
from orchestration_project.content_marketing.strategies import (
    Draft,
    StrategyUnavailable,
    draft,
    market_facts,
    relevant_products,
    templated,
)

MATRIX = pd.DataFrame(
    {
        "brand": ["Nestwell", "Nestwell", "Zephyr", "Ambiently", "Zephyr"],
        "product": [
            "Aura Thermostat",
            "Aura Thermostat Lite",
            "Breeze Thermostat",
            "Halo Thermostat",
            "Smart Vent",
        ],
        "price": [229.0, 149.0, 299.0, 189.99, 69.0],
        "currency": ["USD", "USD", "EUR", "USD", "EUR"],
        "rating": [4.6, 4.2, 4.7, None, 3.4],
        "n_features": [7, 5, 8, 6, 2],
    }
)
BRIEF = Brief(
    brief_id="thermo",
    topic="smart thermostats",
    audience="homeowners",
    cta_text="Compare every model",
    cta_url="https://www.example.com/compare",
    hashtags=("smarthome",),
    banned_words=("guaranteed",),
)


class NoWriter:
    def write(self, **_: object) -> object:
        raise AssertionError("the offline default must not call the LLM strategy's writer")


def test_bundled_briefs_load_and_bad_ones_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    ok, bad = load_briefs([DEFAULT_BRIEFS])
    assert len(ok) >= 2 and not bad
    (tmp_path / "a.yaml").write_text(
        "briefs:\n"
        "  - {brief_id: ok-one, topic: t, audience: a, cta_text: c, cta_url: 'https://x.org/'}\n"
        "  - {brief_id: ok-one, topic: t, audience: a, cta_text: c, cta_url: 'https://x.org/'}\n"
        "  - {brief_id: Bad Id, topic: t, audience: a, cta_text: c, cta_url: 'https://x.org/'}\n"
        "  - {brief_id: no-url, topic: t, audience: a, cta_text: c, cta_url: 'javascript:1'}\n"
        "  - {brief_id: fax, topic: t, audience: a, cta_text: c, cta_url: 'https://x.org/',"
        " channels: [fax]}\n"
        "  - just a string\n"
    )
    (tmp_path / "b.yaml").write_text("briefs: [unclosed\n")
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe brief")
    ok, bad = load_briefs(sorted(tmp_path.glob("*.yaml")))
    assert [b.brief_id for b in ok] == ["ok-one"]
    reasons = [q.reason for q in bad]
    assert len(ok) + len(bad) == 8  # records in = accepted + quarantined
    for expected in (
        "duplicate brief_id",
        "lowercase",
        "not an http(s) URL",
        "unknown channel",
        "a brief is a mapping",
        "unreadable YAML",
    ):
        assert any(expected in r for r in reasons), expected
    with pytest.raises(ValueError, match="missing required field"):
        parse_brief({"brief_id": "x"})


def test_market_facts_draft_states_only_resolved_prices_in_one_currency() -> None:
    assert list(relevant_products(MATRIX, "smart thermostats")["product"]) == [
        "Aura Thermostat",
        "Aura Thermostat Lite",
        "Breeze Thermostat",
        "Halo Thermostat",
    ]
    d = market_facts(BRIEF, MATRIX)
    text = "\n".join(d.paragraphs)
    # USD is the most common currency: the range is within it, from $149.00 to $229.00
    assert "Of the 3 priced in USD, prices run from $149.00" in text and "$229.00" in text
    assert "€" not in text  # no cross-currency comparison
    assert {(c["price"], c["currency"]) for c in d.claims} <= known_prices(MATRIX)
    assert '"Breeze Thermostat"' in text  # best rated, quoted as data
    with pytest.raises(StrategyUnavailable, match="no priced market facts"):
        market_facts(BRIEF, MATRIX.iloc[0:0])


def test_the_llm_strategy_is_skipped_offline_and_unknown_strategies_refused() -> None:
    with pytest.raises(StrategyUnavailable, match="no LLM endpoint configured"):
        draft(BRIEF, "llm", MATRIX, NoWriter(), llm_available=False)
    with pytest.raises(ValueError, match="unknown strategy"):
        draft(BRIEF, "viral", MATRIX, NoWriter(), llm_available=False)


def test_every_strategy_renders_on_every_channel_within_its_rules_and_passes() -> None:
    outputs = [*render(templated(BRIEF), BRIEF), *render(market_facts(BRIEF, MATRIX), BRIEF)]
    assert {o.channel for o in outputs} == {"blog", "email", "social"}
    checked = check_outputs(outputs, {"thermo": BRIEF}, MATRIX)
    assert checked["passed"].all(), checked.drop(columns=["text", "html"]).to_dict("records")
    social = checked[checked["channel"] == "social"]
    assert (social["chars"] <= RULES["social"].max_chars).all()
    blog = checked[(checked["channel"] == "blog") & (checked["strategy"] == "market_facts")]
    assert '<strong><a href="https://www.example.com/compare">' in blog["html"].iloc[0]


def _bad(text: str, channel: str = "blog") -> dict:
    d = Draft("thermo", "llm", "A title", "A summary.", (text,))
    out = [o for o in render(d, BRIEF) if o.channel == channel]
    return check_outputs(out, {"thermo": BRIEF}, MATRIX).iloc[0].to_dict()


GOOD = (
    "Smart thermostats help you save energy at home. They learn when you are away and turn "
    "the heat down. Most models work with the phone you already have. Set one up in minutes "
    "and check how much you use each week. "
) * 2


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        (GOOD + " The Aura Thermostat costs $199.00 today.", "invented_prices", "199.00 USD"),
        (GOOD + " The Aura Thermostat costs $229.00 today.", "invented_prices", ""),
        (
            GOOD + " Write to jane.doe@example.com or call +1 415 555 0100.",
            "personal_data",
            "jane.doe@example.com, +1 415 555 0100",
        ),
        (
            GOOD + " Hello $first_name, see {{product}} [TODO].",
            "placeholders",
            "$first_name, {{product}}, [TODO]",
        ),
        (GOOD + " Savings are guaranteed.", "banned_words", "guaranteed"),
    ],
)
def test_each_content_check_catches_its_defect(text: str, column: str, expected: str) -> None:
    row = _bad(text)
    assert row[column] == expected
    assert row["passed"] is (expected == "")


def test_length_readability_cta_and_hashtag_rules() -> None:
    short = _bad("Too short.")
    assert not short["length_ok"] and not short["passed"]
    dense = _bad(
        (
            "Notwithstanding interoperability considerations, thermoregulatory instrumentation "
            "necessitates comprehensive infrastructural characterisation methodologies. "
        )
        * 6
    )
    assert not dense["readability_ok"] and dense["readability"] < 30
    no_tags = Brief(**{**BRIEF.__dict__, "hashtags": ()})
    out = [o for o in render(templated(no_tags), no_tags) if o.channel == "social"]
    row = check_outputs(out, {"thermo": no_tags}, MATRIX).iloc[0]
    assert row["hashtags_ok"]  # the topic's last word stands in for a missing hashtag
    assert prices_stated("from $1,299.50 or 89.90 EUR, see https://x.org/$5") == [
        (1299.5, "USD"),
        (89.9, "EUR"),
    ]
