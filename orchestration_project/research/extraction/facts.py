"""The records extraction produces: facts about products and the extraction of one page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "CONFIDENCE",
    "ExtractedFact",
    "PageExtraction",
    "dedupe_facts",
    "make_fact",
    "norm_space",
    "norm_key",
]

# Confidence per extraction method and layout; the numbers are priors, not calibrated odds.
CONFIDENCE: dict[str, float] = {
    "jsonld": 0.95,
    "microdata": 0.93,
    "rdfa": 0.9,
    "dom_card": 0.85,
    "dom_card_weak": 0.75,
    "dom_product_page": 0.82,
    "dom_table": 0.8,
    "dom_list": 0.78,
    "dom_feature": 0.8,
    "dom_rating": 0.8,
    "dom_review": 0.8,
    "dom_columns": 0.7,
    "text": 0.45,
}


def norm_space(text: str) -> str:
    """Collapse all whitespace runs to single spaces and strip."""
    return re.sub(r"\s+", " ", text or "").strip()


def norm_key(text: str) -> str:
    """Case- and whitespace-insensitive key for names."""
    return norm_space(text).casefold()


@dataclass(frozen=True)
class ExtractedFact:
    """One market fact taken from a page.

    Attributes:
        kind: ``"product"`` (name + price), ``"feature"``, ``"rating"`` or ``"review"``.
        subject: product name (whitespace-normalised).
        attribute: ``"price"``, ``"feature"``, ``"rating"``, ``"review_sentiment_text"``.
        value: price amount, feature name, rating (0-5 scale) or review text.
        currency: ISO 4217 code for prices.
        unit: billing unit for prices (``"month"``, ``"year"``...).
        source_url: the page the fact comes from.
        confidence: prior confidence of the layer and layout that produced it.
        method: ``"jsonld"``, ``"microdata"``, ``"rdfa"``, ``"dom"`` or ``"text"``.
        evidence: up to 200 characters of the source text.
        extra: anything else (review count, best rating, author, published date...).
    """

    kind: str
    subject: str
    attribute: str
    value: str | float
    currency: str | None
    unit: str | None
    source_url: str
    confidence: float
    method: str
    evidence: str
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def key(self) -> tuple[str, str, str, str]:
        """Identity used for de-duplication: kind, subject, attribute and value."""
        if isinstance(self.value, float | int):
            value = f"{float(self.value):.2f}"
        else:
            value = norm_key(str(self.value))
        return (self.kind, norm_key(self.subject), self.attribute, value)


def make_fact(
    kind: str,
    subject: str,
    attribute: str,
    value: Any,
    *,
    source_url: str,
    confidence: float,
    method: str,
    evidence: str = "",
    currency: str | None = None,
    unit: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ExtractedFact:
    """Build an :class:`ExtractedFact` the way every extraction layer does.

    Args:
        kind: ``"product"``, ``"feature"``, ``"rating"`` or ``"review"``.
        subject: product name (used as given).
        attribute: ``"price"``, ``"feature"``, ``"rating"`` or ``"review_sentiment_text"``.
        value: price amount, feature name, rating or review text.
        source_url: the page the fact comes from.
        confidence: the confidence of the layer and layout.
        method: the layer (``"jsonld"``, ``"microdata"``, ``"rdfa"``, ``"dom"``...).
        evidence: the source text; cut to 200 characters.
        currency: ISO 4217 code for prices.
        unit: billing unit for prices.
        extra: anything else (an empty dict when not given).

    Returns:
        The fact.
    """
    return ExtractedFact(
        kind=kind,
        subject=subject,
        attribute=attribute,
        value=value,
        currency=currency,
        unit=unit,
        source_url=source_url,
        confidence=confidence,
        method=method,
        evidence=evidence[:200],
        extra=extra or {},
    )


@dataclass
class PageExtraction:
    """Everything extracted from one page.

    Attributes:
        url: the page URL.
        title: the document title (or first heading).
        page_kind: ``"product"``, ``"listing"``, ``"pricing"``, ``"features"``, ``"reviews"``,
            ``"blog"``, ``"home"``, ``"noise"`` or ``"other"``.
        relevance: 0-1 relevance to the research topic (noise pages are low).
        published: article date when one was found.
        text: main visible text (no scripts, styles, hidden elements or ads).
        links: absolute http(s) links, fragment-free, de-duplicated, in document order.
        other_links: hrefs with other schemes (mailto:, tel:, javascript:, file:...): reported,
            never followed.
        facts: the extracted facts, best first within each layer.
        needs_javascript: whether the HTML looks like a shell that only JavaScript fills.
        js_reason: why.
        anchors: anchor text per link in ``links`` (first seen).
        warnings: notes such as instruction-like text that was ignored.
        untrusted: the page hides instructions aimed at automated readers (in hidden elements,
            comments or meta tags); its facts carry half their usual confidence and
            ``extra["untrusted_page"]``.
    """

    url: str
    title: str
    page_kind: str
    relevance: float
    published: datetime | None
    text: str
    links: list[str]
    other_links: list[str]
    facts: list[ExtractedFact]
    needs_javascript: bool
    js_reason: str
    anchors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    untrusted: bool = False

    def prices(self) -> list[ExtractedFact]:
        """The product price facts."""
        return [f for f in self.facts if f.kind == "product" and f.attribute == "price"]

    def best_prices(self) -> dict[str, ExtractedFact]:
        """The highest-confidence price fact per product (case-insensitive name)."""
        best: dict[str, ExtractedFact] = {}
        for f in self.prices():
            k = norm_key(f.subject)
            if k not in best or f.confidence > best[k].confidence:
                best[k] = f
        return best


def dedupe_facts(facts: list[ExtractedFact]) -> list[ExtractedFact]:
    """Keep one fact per (kind, subject, attribute, value): the highest-confidence one.

    Distinct values are all kept. A fact with no currency is dropped when the same fact exists
    with a currency. The order of first appearance is preserved.

    Args:
        facts: facts from all layers.

    Returns:
        The de-duplicated facts.
    """
    best: dict[tuple[Any, ...], ExtractedFact] = {}
    order: list[tuple[Any, ...]] = []
    for f in facts:
        k = (*f.key(), f.currency)
        if k not in best:
            best[k] = f
            order.append(k)
        elif f.confidence > best[k].confidence:
            best[k] = f
    with_currency = {k[:4] for k in order if k[4] is not None}
    return [best[k] for k in order if not (k[4] is None and k[:4] in with_currency)]
