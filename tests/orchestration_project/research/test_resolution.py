"""The research domain's pure steps on tiny hand-made inputs: the quarantine rules, conflict
resolution (with a real SQLite shared context) and the competitor-matrix pivot."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from orchestration_project.agents.coordination import CoordinationStore, SharedContext
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.research.fact_rows import (
    FACT_COLUMNS,
    REVIEW_TEXT,
    fact_id,
    subject_key,
)
from orchestration_project.research.matrix import (
    build_competitor_matrix,
    duplicate_products,
    site_brands,
)
from orchestration_project.research.quarantine import quarantine_facts, quarantine_reason
from orchestration_project.research.resolution import (
    claims_for,
    conflicting_decisions,
    price_check_frame,
    resolve_facts,
)

A = "https://a.example"
B = "https://b.example"


def _fact(**kw: Any) -> dict[str, Any]:
    """A valid price fact row; keywords override columns."""
    row: dict[str, Any] = {
        "fact_id": "",
        "crawl_id": "c1",
        "site": A,
        "kind": "product",
        "subject": "Widget Pro",
        "attribute": "price",
        "value": "229.0",
        "value_num": 229.0,
        "currency": "USD",
        "unit": None,
        "source_url": f"{A}/pricing",
        "page_kind": "pricing",
        "confidence": 0.8,
        "method": "dom",
        "evidence": "",
        "published": None,
        "extra": {},
    }
    row.update(kw)
    if not row["fact_id"]:
        row["fact_id"] = fact_id(
            row["crawl_id"], row["source_url"], row["subject"], row["attribute"], row["value"]
        )
    return row


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Fact rows as the extracted_facts table holds them (``extra`` as JSON)."""
    df = pd.DataFrame(rows, columns=FACT_COLUMNS)
    df["extra"] = df["extra"].map(json.dumps)
    return df


# --- fact rows ------------------------------------------------------------------------------
def test_fact_id_hashes_the_nul_joined_parts_and_subject_key_normalises_names() -> None:
    expected = hashlib.sha256(b"c1\x00http://a/p\x00price\x00229.0\x00None").hexdigest()
    assert fact_id("c1", "http://a/p", "price", 229.0, None) == expected[:24]
    assert len(fact_id("c1")) == 24
    assert subject_key("  Acme   Pro-X!  ") == "acme pro x"
    assert subject_key("Widget\tPRO") == subject_key("widget pro") == "widget pro"


# --- quarantine -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, None),
        ({"attribute": "rating", "value": "4.5", "value_num": 4.5, "currency": None}, None),
        ({"attribute": "feature", "value": "Wi-Fi", "value_num": None, "currency": None}, None),
        ({"source_url": ""}, "no source URL"),
        ({"source_url": None}, "no source URL"),
        ({"subject": "   "}, "no subject"),
        ({"subject": None}, "no subject"),
        ({"confidence": 1.2}, "confidence 1.2 outside [0, 1]"),
        ({"confidence": -0.1}, "confidence -0.1 outside [0, 1]"),
        ({"value": "0", "value_num": 0.0}, "price '0' is not positive"),
        ({"value": "free", "value_num": None}, "price 'free' is not positive"),
        ({"currency": "XYZ"}, "unknown currency 'XYZ'"),
        ({"currency": None}, "unknown currency None"),
        ({"attribute": "rating", "value": "7", "value_num": 7.0}, "rating '7' outside 0..5"),
        ({"attribute": "rating", "value": "?", "value_num": None}, "rating '?' outside 0..5"),
        # the first rule broken wins
        ({"source_url": "", "subject": "", "currency": "XYZ"}, "no source URL"),
    ],
)
def test_quarantine_reason_names_the_first_rule_broken(
    overrides: dict[str, Any], reason: str | None
) -> None:
    assert quarantine_reason(_fact(**overrides)) == reason


def test_quarantine_facts_splits_counts_and_drops_duplicate_fact_ids() -> None:
    ok = _fact(extra={"sentiment": 0.5})
    raw = [
        ok,
        dict(ok),  # the same fact found twice: accepted twice, kept once
        _fact(subject="Widget Lite", value="0", value_num=0.0),
        _fact(subject="Widget Max", currency="XYZ"),
        _fact(subject="Widget Mini", currency="XYZ", value="5.0", value_num=5.0),
    ]
    out = quarantine_facts(raw)
    assert (out.records_in, out.records_accepted, out.records_quarantined) == (5, 2, 3)
    assert list(out.accepted.columns) == FACT_COLUMNS
    assert out.accepted["fact_id"].tolist() == [ok["fact_id"]]
    assert out.accepted["extra"].tolist() == ['{"sentiment": 0.5}']
    assert list(out.quarantined.columns) == [*FACT_COLUMNS, "reason"]
    assert out.quarantined["reason"].tolist() == [
        "price '0' is not positive",
        "unknown currency 'XYZ'",
        "unknown currency 'XYZ'",
    ]
    assert out.reason_counts() == {"unknown currency 'XYZ'": 2, "price '0' is not positive": 1}


def test_quarantine_facts_of_nothing_is_empty_with_the_columns() -> None:
    out = quarantine_facts([])
    assert (out.records_in, out.records_accepted, out.records_quarantined) == (0, 0, 0)
    assert list(out.accepted.columns) == FACT_COLUMNS
    assert out.reason_counts() == {}


# --- resolution -----------------------------------------------------------------------------
def test_claims_take_their_source_kind_from_the_method_and_the_page() -> None:
    group = _frame(
        [
            _fact(method="jsonld", page_kind="blog", value_num=229.004),
            _fact(method="dom", page_kind="pricing", published="2024-05-01"),
            _fact(method="dom", page_kind="other", published="not a date"),
            _fact(method="text", page_kind="blog", published="2022-01-10T08:00:00+02:00"),
            _fact(method="text", page_kind="product"),
            _fact(attribute="rating", value="4.5", value_num=4.5, page_kind="reviews"),
        ]
    )
    claims = claims_for(group)
    assert [c.source_kind for c in claims] == [
        "structured",
        "pricing_page",
        "unknown",
        "blog",
        "unknown",
        "review",
    ]
    assert claims[0].value == (229.0, "USD")
    assert claims[5].value == "4.5"
    assert claims[1].observed_at == datetime(2024, 5, 1, tzinfo=UTC)
    assert claims[2].observed_at is None
    assert claims[3].observed_at == datetime(2022, 1, 10, 6, tzinfo=UTC)
    assert {(c.agent, c.role, c.confidence) for c in claims} == {("extractor", "extractor", 0.8)}


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[SharedContext]:
    store = CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")
    yield SharedContext(store)
    store.dispose()


def _conflicting_facts() -> pd.DataFrame:
    return _frame(
        [
            # Widget Pro: the product page and pricing page say 229, an old blog post 199.
            _fact(
                subject="Widget Pro",
                method="jsonld",
                page_kind="product",
                confidence=0.95,
                source_url=f"{A}/p/pro",
                unit="month",
            ),
            _fact(subject="Widget Pro", source_url=f"{A}/pricing"),
            _fact(
                subject="widget pro",
                method="text",
                page_kind="blog",
                confidence=0.45,
                value="199.0",
                value_num=199.0,
                source_url=f"{A}/blog/launch",
                published="2022-01-10",
            ),
            _fact(
                subject="Widget Pro",
                method="jsonld",
                page_kind="product",
                confidence=0.95,
                attribute="rating",
                value="4.5",
                value_num=4.5,
                currency=None,
                source_url=f"{A}/p/pro",
            ),
            _fact(
                subject="Widget Pro",
                attribute="feature",
                value="Wi-Fi",
                value_num=None,
                currency=None,
                kind="feature",
            ),
            # Widget Lite: one weakly extracted price, too unsure to go unreviewed.
            _fact(subject="Widget Lite", confidence=0.5, value="99.0", value_num=99.0),
            # Ghost: named with a price only in prose, so not a product of its own.
            _fact(subject="Ghost", method="text", page_kind="blog", value_num=10.0),
        ]
    )


def test_resolve_facts_decides_conflicts_writes_the_context_and_records_decisions(
    shared: SharedContext,
) -> None:
    recorder = ActionRecorder("test")
    df = resolve_facts(_conflicting_facts(), shared=shared, recorder=recorder)

    assert df[["subject", "attribute", "value", "currency", "strategy"]].values.tolist() == [
        ["Widget Lite", "price", "99.0", "USD", "agreement"],
        ["Widget Pro", "price", "229.0", "USD", "reliability_recency"],
        ["Widget Pro", "rating", "4.5", None, "agreement"],
    ]
    pro = df.iloc[1]
    # scores: 0.95*0.95 (structured) + 0.9*0.8 (pricing page) = 1.6225 vs 0.4*0.45 (blog)
    assert pro["confidence"] == pytest.approx(1.6225 / 1.8025)
    assert pro["rationale"].startswith(f"229.0 USD from structured data {A}/p/pro")
    assert "outweighs 199.0 USD from blog" in pro["rationale"]
    assert (pro["value_num"], pro["unit"], pro["n_claims"], pro["n_values"]) == (
        229.0,
        "month",
        3,
        2,
    )
    assert json.loads(pro["sources"]) == [f"{A}/blog/launch", f"{A}/p/pro", f"{A}/pricing"]
    assert df["escalated"].tolist() == [True, False, False]
    assert df.iloc[0]["confidence"] == 0.5
    assert df.iloc[2]["value_num"] == 4.5 and df.iloc[2]["n_values"] == 1
    assert set(df["crawl_id"]) == {"c1"}

    conflicts = conflicting_decisions(df)
    assert conflicts["subject"].tolist() == ["Widget Pro"]
    prices = price_check_frame(df)
    assert prices["product_key"].tolist() == [f"{A}|widget lite", f"{A}|widget pro"]

    fact = shared.get("market.c1", f"{A}|widget pro|price")
    assert fact is not None and fact.version == 1
    assert fact.value == {
        "value": 229.0,
        "currency": "USD",
        "strategy": "reliability_recency",
        "rationale": pro["rationale"],
    }
    assert fact.confidence == pytest.approx(pro["confidence"])
    assert [(a.kind, a.name) for a in recorder.actions] == [
        ("decision", "resolve price of Widget Lite"),
        ("decision", "resolve price of Widget Pro"),
        ("decision", "resolve rating of Widget Pro"),
    ]

    # Resolving again decides the same: the context is not rewritten.
    again = resolve_facts(_conflicting_facts(), shared=shared, recorder=ActionRecorder("test"))
    pd.testing.assert_frame_equal(again, df)
    assert shared.get("market.c1", f"{A}|widget pro|price") == fact


def test_resolve_facts_of_nothing_is_an_empty_frame(shared: SharedContext) -> None:
    df = resolve_facts(_frame([]), shared=shared, recorder=ActionRecorder("test"))
    assert df.empty
    assert conflicting_decisions(df).empty
    assert price_check_frame(df).columns.tolist() == [
        "value_num",
        "currency",
        "site",
        "subject",
        "product_key",
    ]


# --- competitor matrix ----------------------------------------------------------------------
def _resolved(rows: list[tuple[str, str, str, float, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "site": site,
                "subject": subject,
                "attribute": attribute,
                "value_num": value,
                "currency": currency,
                "unit": "month" if attribute == "price" else None,
                "confidence": 0.9,
            }
            for site, subject, attribute, value, currency in rows
        ]
    )


def test_matrix_pivots_one_row_per_product_with_features_and_sentiment() -> None:
    resolved = _resolved(
        [
            (B, "Basic Box", "price", 10.0, "EUR"),
            (A, "Widget Pro", "price", 229.0, "USD"),
            (A, "Widget Pro", "rating", 4.5, None),
        ]
    )
    extracted = _frame(
        [
            _fact(subject="widget pro", attribute="feature", value=" Wi-Fi "),
            _fact(subject="Widget Pro", attribute="feature", value="wi-fi"),
            _fact(subject="Widget Pro", attribute="feature", value="Schedules"),
            _fact(subject="Widget Pro", attribute=REVIEW_TEXT, extra={"sentiment": 0.5}),
            _fact(subject="Widget Pro", attribute=REVIEW_TEXT, extra={"sentiment": -0.1}),
            _fact(subject="Widget Pro", attribute=REVIEW_TEXT, extra={}),  # not scored
            _fact(site=B, subject="Basic Box", attribute="feature", value="Wi-Fi"),
            _fact(subject="Not Resolved", attribute="feature", value="Laser"),  # ignored
        ]
    )
    matrix = build_competitor_matrix(resolved, extracted, {A: "Acme"})
    df = matrix.frame

    assert matrix.features == ["schedules", "wi-fi"]
    assert df.columns.tolist() == [
        "site",
        "brand",
        "product",
        "variant",
        "price",
        "price_kind",
        "currency",
        "unit",
        "per",
        "price_confidence",
        "n_features",
        "reviews",
        "sentiment",
        "feature:schedules",
        "feature:wi-fi",
        "rating",
    ]
    # sorted by brand: a site without a brand is named by itself
    assert df[["brand", "product", "price", "currency"]].values.tolist() == [
        ["Acme", "Widget Pro", 229.0, "USD"],
        [B, "Basic Box", 10.0, "EUR"],
    ]
    pro, box = df.iloc[0], df.iloc[1]
    assert (pro["rating"], pro["n_features"], pro["reviews"]) == (4.5, 2, 2)
    assert pro["sentiment"] == pytest.approx(0.2)
    assert bool(pro["feature:schedules"]) and bool(pro["feature:wi-fi"])
    assert (box["n_features"], box["reviews"]) == (1, 0)
    assert math.isnan(box["rating"]) and math.isnan(box["sentiment"])  # no reviews
    assert not box["feature:schedules"] and bool(box["feature:wi-fi"])
    assert duplicate_products(df) == 0


def test_matrix_without_prices_still_has_the_price_columns() -> None:
    matrix = build_competitor_matrix(
        _resolved([(A, "Widget Pro", "rating", 4.0, None)]), _frame([]), {}
    )
    row = matrix.frame.iloc[0]
    assert matrix.features == []
    assert (row["brand"], row["rating"], row["n_features"], row["reviews"]) == (A, 4.0, 0, 0)
    assert [row[c] for c in ("price", "currency", "unit", "price_confidence")] == [None] * 4


def test_duplicate_products_counts_repeated_site_and_product_pairs() -> None:
    df = pd.DataFrame({"site": [A, A, A, B], "product": ["X", "X", "X", "X"]})
    assert duplicate_products(df) == 2
    assert duplicate_products(pd.DataFrame()) == 0


def test_brands_are_the_title_segment_most_pages_share() -> None:
    snapshots = pd.DataFrame(
        {
            "site": [A, A, A, A, "http://b.example", "http://c.example", "http://c.example"],
            "title": [
                "Pricing | Acme",
                "Acme – Blog",
                "Home :: Acme",
                None,
                "Only One Title | Bee",
                "Foo | X",
                "Bar | X",
            ],
        }
    )
    # b: no segment in two titles; c: the shared segment "X" is too short to be a name
    assert site_brands(snapshots) == {
        A: "Acme",
        "http://b.example": "b.example",
        "http://c.example": "c.example",
    }
