"""Conflict resolution strategies and escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestration_project.agents.coordination import Claim, ConflictResolver
from orchestration_project.agents.coordination.conflicts import STRATEGIES

NOW = datetime(2026, 3, 1, tzinfo=UTC)
PRODUCT = "https://acme.example/products/t3"
BLOG = "https://acme.example/blog/spring-sale"


def test_registry_names_the_three_strategies() -> None:
    assert set(STRATEGIES) == {"reliability_recency", "majority_vote", "role_priority"}
    for name, cls in STRATEGIES.items():
        assert cls.name == name and callable(cls().resolve)
    with pytest.raises(ValueError, match="unknown strategy"):
        ConflictResolver("coin_flip")


def test_a_stale_blog_price_loses_to_the_product_page() -> None:
    claims = [
        Claim((229.0, "USD"), PRODUCT, "product_page", "extractor-1", "extractor", NOW, 0.9),
        Claim(
            (199.0, "USD"),
            BLOG,
            "blog",
            "extractor-2",
            "extractor",
            datetime(2024, 3, 1, tzinfo=UTC),
            0.9,
        ),
    ]
    d = ConflictResolver().resolve(claims)
    assert d.value == (229.0, "USD") and d.strategy == "reliability_recency"
    assert not d.escalated and d.confidence > 0.9
    assert d.rationale.startswith(f"229.0 USD from product page {PRODUCT} (reliability 0.9")
    assert "outweighs 199.0 USD from blog " + BLOG in d.rationale
    assert "published 2024-03-01" in d.rationale and "stale" in d.rationale
    assert set(d.alternatives) == {repr((229.0, "USD")), repr((199.0, "USD"))}
    assert d.alternatives[repr((229.0, "USD"))] == pytest.approx(0.81)
    assert d.claims == claims


def test_scores_follow_reliability_confidence_and_half_life() -> None:
    old = Claim(10.0, "https://a", "product_page", observed_at=NOW - timedelta(days=180))
    new = Claim(12.0, "https://b", "product_page", observed_at=NOW)
    d = ConflictResolver(escalation_threshold=0.0).resolve([old, new])
    assert d.value == 12.0
    assert d.alternatives["10.0"] == pytest.approx(0.45)  # 0.9 × 1.0 × 0.5
    assert d.confidence == pytest.approx(0.9 / 1.35)
    # a longer half-life makes age matter less; custom reliabilities are honoured
    d2 = ConflictResolver(
        escalation_threshold=0.0, half_life_days=10_000, reliability={"product_page": 0.2}
    ).resolve([old, new])
    assert d2.alternatives["10.0"] == pytest.approx(0.2 * 0.5 ** (180 / 10_000), abs=1e-4)
    # several weaker sources can outweigh one strong one
    many = [Claim(5, f"https://r{i}", "review", confidence=0.9) for i in range(3)]
    d3 = ConflictResolver().resolve([Claim(6, "https://p", "product_page"), *many])
    assert d3.value == 5 and "fewer sources" in d3.rationale


def test_a_majority_tie_is_escalated() -> None:
    claims = [Claim("yes", "https://a"), Claim("no", "https://b")]
    d = ConflictResolver("majority_vote").resolve(claims)
    assert d.escalated and "tied" in d.rationale and d.strategy == "majority_vote"
    # the same source twice is one vote: still a tie
    d_dup = ConflictResolver("majority_vote", escalation_threshold=0.0).resolve(
        [*claims, Claim("yes", "https://a")]
    )
    assert d_dup.escalated
    d2 = ConflictResolver("majority_vote", escalation_threshold=0.5).resolve(
        [*claims, Claim("yes", "https://c")]
    )
    assert d2.value == "yes" and not d2.escalated and d2.confidence == pytest.approx(2 / 3)
    assert "https://a" in d2.rationale and "https://b" in d2.rationale
    assert d2.alternatives == {"'yes'": 2.0, "'no'": 1.0}


def test_low_confidence_is_escalated_with_the_reason() -> None:
    claims = [Claim(1.0, "https://a", "review"), Claim(2.0, "https://b", "review")]
    d = ConflictResolver().resolve(claims)
    assert d.escalated and d.confidence == pytest.approx(0.5)
    assert "below 0.60" in d.rationale and "human review" in d.rationale
    # agreement with low confidence is escalated too
    weak = ConflictResolver().resolve([Claim(3, "https://a", confidence=0.4)])
    assert weak.strategy == "agreement" and weak.escalated and weak.confidence == 0.4


def test_role_priority_prefers_the_verifier() -> None:
    claims = [
        Claim(5, "https://a", role="extractor", confidence=0.99),
        Claim(6, "https://b", role="verifier", confidence=0.7),
        Claim(7, "https://c", role="verifier", confidence=0.6),
        Claim(8, "https://d", role="summarizer", confidence=1.0),
    ]
    resolver = ConflictResolver(
        "role_priority", escalation_threshold=0.5, ranking=["verifier", "extractor", "summarizer"]
    )
    d = resolver.resolve(claims)
    assert d.value == 6 and not d.escalated and d.confidence == 0.7
    assert "role 'verifier'" in d.rationale and "role 'extractor' ranks lower" in d.rationale
    assert "7 from https://c (same role, confidence 0.6)" in d.rationale
    strict = ConflictResolver("role_priority", escalation_threshold=0.8, ranking=["verifier"])
    low = strict.resolve(claims)
    assert low.value == 6 and low.escalated and "below 0.80" in low.rationale
    tied = [Claim(1, "https://x", role="verifier"), Claim(2, "https://y", role="verifier")]
    assert ConflictResolver("role_priority").resolve(tied).escalated


def test_agreeing_claims_are_not_a_conflict() -> None:
    d = ConflictResolver().resolve(
        [Claim(3, "https://a", confidence=0.9), Claim(3, "https://b", confidence=0.7)]
    )
    assert d.strategy == "agreement" and d.value == 3 and not d.escalated
    assert d.confidence == 0.9 and d.rationale.startswith("all 2 claims agree")
    with pytest.raises(ValueError):
        ConflictResolver().resolve([])
