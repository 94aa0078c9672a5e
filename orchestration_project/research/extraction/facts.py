"""The records extraction produces: facts about products and the extraction of one page."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "CONFIDENCE",
    "IDENTIFIER_KEYS",
    "NAME_SOURCES",
    "STRUCTURED_METHODS",
    "ExtractedFact",
    "PageExtraction",
    "dedupe_facts",
    "is_truncated",
    "make_fact",
    "norm_space",
    "norm_key",
    "normalize_product_url",
    "strip_ellipsis",
]

STRUCTURED_METHODS = ("jsonld", "microdata", "rdfa", "microformat")
"""Extraction methods that read structured data (schema.org in its three syntaxes, and the
classic product microformats)."""

IDENTIFIER_KEYS = ("gtin", "sku", "mpn", "item_id", "product_url")
"""Keys of ``ExtractedFact.extra`` that identify a product, strongest first: a GTIN/UPC/EAN, the
seller's SKU, the manufacturer part number, the structured-data ``@id``, the product's URL (a
card's link or the product page's canonical URL)."""

NAME_SOURCES = {"structured": 5, "heading": 4, "link_title": 3, "image_alt": 2, "text": 1}
"""Where a product name was read (``extra["name_source"]``) and how much it is trusted: structured
data, the product page's main heading, the product link's ``title``, the image ``alt``, display
text."""

_ELLIPSIS = re.compile(r"\s*(?:…|\.{3,}|\.\s\.\s\.)\s*$")
_TRACKING = re.compile(
    r"^(?:utm_\w+|ref|ref_|refsrc|src|source|gclid|fbclid|mc_cid|mc_eid|campaign|cmp|sr|qid|"
    r"position|pos|list|_pos|_sid|_ss|_psq|variant_position)$",
    re.IGNORECASE,
)


def is_truncated(name: str) -> bool:
    """Whether a displayed name was shortened: it ends with an ellipsis ("…" or "...")."""
    return bool(_ELLIPSIS.search(name or ""))


def strip_ellipsis(name: str) -> str:
    """The name without a trailing ellipsis (the part that was shown)."""
    return norm_space(_ELLIPSIS.sub("", name or ""))


def normalize_product_url(url: str | None) -> str | None:
    """A product URL in a comparable form: lower-case scheme and host, no fragment, no
    tracking parameters (``utm_*``, ``ref``...) in the query or as the path's last segment
    (``/ref=…``), no session id, no trailing slash, no ``index.html``.

    Args:
        url: an absolute URL, or None.

    Returns:
        The normalised URL, or None for an empty or non-http(s) URL.
    """
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    path = re.sub(r"/(?:index|default)\.(?:html?|php|aspx?)$", "/", parts.path or "/")
    # tracking written into the path: a last segment "ref=…" (where a shop's widget links
    # one product from many places), or a ";jsessionid=…" session parameter
    path = re.sub(r";jsessionid=[^/]*", "", path, flags=re.IGNORECASE)
    path = re.sub(r"/(?:ref|tag|sr|pd_rd)=[^/]*/?$", "/", path, flags=re.IGNORECASE)
    path = path.rstrip("/") or "/"
    query = urlencode(
        sorted(
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if not _TRACKING.match(k)
        )
    )
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, query, ""))


# Confidence per extraction method and layout; the numbers are priors, not calibrated odds.
CONFIDENCE: dict[str, float] = {
    "jsonld": 0.95,
    "microdata": 0.93,
    "rdfa": 0.9,
    "microformat": 0.88,
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
        method: ``"jsonld"``, ``"microdata"``, ``"rdfa"``, ``"microformat"``, ``"dom"`` or
            ``"text"``.
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

    def identity(self) -> dict[str, str]:
        """The product identifiers the fact carries (``IDENTIFIER_KEYS`` found in ``extra``)."""
        return {k: str(self.extra[k]) for k in IDENTIFIER_KEYS if self.extra.get(k)}

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
        """The product price facts (each with an amount; a free product's is 0)."""
        return [f for f in self.facts if f.kind == "product" and f.attribute == "price"]

    def products(self) -> list[ExtractedFact]:
        """Every product fact: the priced ones and those offered without an amount
        (attribute ``"offer"``, value the price kind: ``"contact"`` or ``"none"``)."""
        return [f for f in self.facts if f.kind == "product"]

    def best_prices(self) -> dict[str, ExtractedFact]:
        """The highest-confidence price fact per product (case-insensitive name)."""
        best: dict[str, ExtractedFact] = {}
        for f in self.prices():
            k = norm_key(f.subject)
            if k not in best or f.confidence > best[k].confidence:
                best[k] = f
        return best


def _compatible(a: ExtractedFact, b: ExtractedFact) -> bool:
    """Whether two facts may be about one product: no identifier they both carry differs."""
    ia, ib = a.identity(), b.identity()
    return all(ia[k] == ib[k] for k in ia.keys() & ib.keys())


def dedupe_facts(facts: list[ExtractedFact]) -> list[ExtractedFact]:
    """Keep one fact per (kind, subject, attribute, value): the highest-confidence one.

    Distinct values are all kept, and so are facts whose product identifiers differ (two cards
    with one name and one price but different product links are two products). The kept fact
    takes the identifiers the dropped ones add. A fact with no currency is dropped when the same
    fact exists with a currency. The order of first appearance is preserved.

    Args:
        facts: facts from all layers.

    Returns:
        The de-duplicated facts.
    """
    kept: list[ExtractedFact] = []
    buckets: dict[tuple[Any, ...], list[int]] = {}
    for f in facts:
        k = (*f.key(), f.currency)
        slot = next((i for i in buckets.get(k, []) if _compatible(kept[i], f)), None)
        if slot is None:
            buckets.setdefault(k, []).append(len(kept))
            kept.append(f)
            continue
        old = kept[slot]
        win, lose = (f, old) if f.confidence > old.confidence else (old, f)
        more = {k2: v for k2, v in lose.identity().items() if k2 not in win.identity()}
        kept[slot] = replace(win, extra={**win.extra, **more}) if more else win
    with_currency = {(*f.key(),) for f in kept if f.currency is not None}
    return [f for f in kept if not (f.currency is None and (*f.key(),) in with_currency)]
