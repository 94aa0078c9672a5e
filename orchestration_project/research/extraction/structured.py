"""Layer 1: schema.org structured data (JSON-LD, microdata, RDFa).

JSON-LD blocks are read directly (leniently: a block with trailing commas or raw control
characters is repaired, a broken block is skipped). Microdata and RDFa come from ``extruct``
run on the *cleaned* document, so markup inside hidden elements is ignored. All three are
normalised to compact JSON-LD-like dicts and walked for Product-like nodes (including ``@graph``,
``ItemList`` and ``@id`` references), their ``Offer``/``AggregateOffer``/``priceSpecification``,
``AggregateRating``, ``Review``, ``featureList`` and ``additionalProperty``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import lxml.html

from orchestration_project.research.extraction.facts import (
    CONFIDENCE,
    ExtractedFact,
    make_fact,
    norm_space,
)
from orchestration_project.research.extraction.microformats import (
    ROOT_CLASSES,
    microformat_products,
)
from orchestration_project.research.extraction.prices import parse_amount
from orchestration_project.research.extraction.structured_nodes import (
    _amount_and_currency,
    _compact_rdfa,
    _evidence,
    _Graph,
    _identity,
    _rating,
    _short,
    _text,
    _types,
    _unit_of,
    load_jsonld_blocks,
)

__all__ = ["StructuredResult", "extract_structured", "load_jsonld_blocks"]

log = logging.getLogger(__name__)

PRODUCT_TYPES = frozenset(
    {
        "Product",
        "ProductModel",
        "ProductGroup",
        "IndividualProduct",
        "SomeProducts",
        "SoftwareApplication",
        "WebApplication",
        "MobileApplication",
        "VideoGame",
        "Service",
        "FinancialProduct",
        "BankAccount",
        "LoanOrCredit",
        "Course",
        "Book",
        "Vehicle",
        "Car",
        "Motorcycle",
    }
)
RATED_OFFERING_TYPES = frozenset(
    {
        "LocalBusiness",
        "Restaurant",
        "FoodEstablishment",
        "CafeOrCoffeeShop",
        "Bakery",
        "BarOrPub",
        "Hotel",
        "LodgingBusiness",
        "Store",
        "ProfessionalService",
        "HealthAndBeautyBusiness",
        "AutomotiveBusiness",
        "EntertainmentBusiness",
        "SportsActivityLocation",
        "TouristAttraction",
        "Event",
    }
)
"""Offerings that are not goods — a business, a venue, an event — counted as market subjects
when the page rates or reviews them (a marketplace or review site's listing): the thing rated
is what a competitor offers, like a product."""
ARTICLE_TYPES = frozenset(
    {"Article", "BlogPosting", "NewsArticle", "TechArticle", "Report", "ScholarlyArticle"}
)
_OLD_PRICE_TYPES = ("strikethrough", "listprice", "msrp", "srp", "wasprice", "invoiceprice")


@dataclass
class StructuredResult:
    """Facts plus page-level hints found in structured data."""

    facts: list[ExtractedFact] = field(default_factory=list)
    product_names: list[str] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    published: str | None = None
    headline: str | None = None
    item_list_size: int = 0


class _Builder:
    def __init__(self, g: _Graph, url: str, method: str, result: StructuredResult) -> None:
        self.g = g
        self.url = url
        self.method = method
        self.conf = CONFIDENCE[method]
        self.result = result
        self.done_offers: set[int] = set()

    def fact(self, kind: str, subject: str, attribute: str, value: Any, **kw: Any) -> None:
        confidence = kw.pop("confidence", self.conf)
        self.result.facts.append(
            make_fact(
                kind,
                subject,
                attribute,
                value,
                source_url=self.url,
                confidence=confidence,
                method=self.method,
                **kw,
            )
        )

    def offers(self, subject: str, offers: list[Any], parent: dict[str, Any]) -> int:
        """Price facts of a product's offers; returns how many were recorded."""
        named = [o for o in offers if isinstance(o, dict) and _text(o.get("name"))]
        multi = len(offers) > 1 and len(named) > 1
        ids = _identity(parent, self.url)
        amounts = {
            parse_amount(o.get("price"))
            for o in offers
            if isinstance(o, dict) and not _text(o.get("name")) and o.get("price") is not None
        }
        recorded = 0
        for offer in offers:
            if not isinstance(offer, dict):
                continue
            self.done_offers.add(id(offer))
            types = _types(offer)
            extra: dict[str, Any] = {"name_source": "structured", **ids}
            name = _text(offer.get("name"))
            sub = subject
            if name and multi:
                sub = name if subject.casefold() in name.casefold() else f"{subject} {name}"
                extra["plan"] = name
            elif name:
                extra["offer_name"] = name
            avail = offer.get("availability")
            if avail:
                extra["availability"] = _short(_text(avail) or avail)
            if "AggregateOffer" in types:
                raw = offer.get("lowPrice", offer.get("price"))
                amount, cur, unit = _amount_and_currency(raw, offer.get("priceCurrency"))
                high = parse_amount(offer.get("highPrice"))
                if high is not None:
                    extra["high_price"] = high
                count = parse_amount(offer.get("offerCount"))
                if count is not None:
                    extra["offer_count"] = int(count)
                extra["aggregate"] = True
                specs: list[Any] = []
            else:
                specs = [
                    s
                    for s in self.g.many(offer, "priceSpecification")
                    if isinstance(s, dict)
                    and not any(
                        t in _text(s.get("priceType")).lower().replace(" ", "")
                        for t in _OLD_PRICE_TYPES
                    )
                ]
                raw = offer.get("price")
                cur_raw = offer.get("priceCurrency")
                if raw is None and specs:
                    raw = specs[0].get("price", specs[0].get("minPrice"))
                    cur_raw = cur_raw or specs[0].get("priceCurrency")
                amount, cur, unit = _amount_and_currency(raw, cur_raw)
            unit = _unit_of(self.g, *specs, offer) or unit
            if amount is None:
                continue
            if amount == 0:
                extra["price_kind"] = "free"
            elif extra.get("aggregate") and extra.get("high_price", amount) > amount:
                extra["price_kind"] = "from"  # the lowest of several offers' prices
            elif not name and len(amounts - {None}) > 1:
                extra["price_kind"] = "tiered"  # several unnamed offers, several amounts
            else:
                extra["price_kind"] = "fixed"
            if sub != subject:
                extra.pop("item_id", None)  # a plan of the product, not the product itself
            self.fact(
                "product",
                sub,
                "price",
                amount,
                currency=cur,
                unit=unit,
                evidence=_evidence(offer),
                extra=extra,
            )
            recorded += 1
        return recorded

    def product(self, node: dict[str, Any]) -> None:
        g = self.g
        name = _text(node.get("name")) or _text(node.get("alternateName"))
        if not name:
            return
        self.result.product_names.append(name)
        offers = [o for o in g.many(node, "offers") if isinstance(o, dict)]
        # An AggregateOffer wrapping Offers: use the Offers when they carry names (plans).
        expanded: list[Any] = []
        for o in offers:
            inner = [x for x in g.many(o, "offers") if isinstance(x, dict)]
            if "AggregateOffer" in _types(o) and inner and any(_text(x.get("name")) for x in inner):
                expanded.extend(inner)
            else:
                expanded.append(o)
        ids = _identity(node, self.url)
        if not self.offers(name, expanded, node):
            # a product without a price in its markup is still a product
            self.fact(
                "product",
                name,
                "offer",
                "none",
                evidence=_evidence(node),
                extra={"name_source": "structured", **ids, "price_kind": "none"},
            )
        agg = g.one(node, "aggregateRating")
        r = _rating(g, agg) if agg is not None else None
        if r:
            self.fact(
                "rating", name, "rating", r[0], evidence=_evidence(agg), extra={**ids, **r[1]}
            )
        for rev in g.many(node, "review", "reviews"):
            if isinstance(rev, dict):
                self.review(name, rev, ids)
        feats = g.many(node, "featureList")
        for f in feats:
            for item in re.split(r"\s*[\n;•]\s*|,\s+(?=[A-Z])", str(f)):
                item = norm_space(item).strip("-–•* ")
                if 1 < len(item) <= 150:
                    self.fact("feature", name, "feature", item, evidence=str(f)[:200])
        for prop in g.many(node, "additionalProperty"):
            if not isinstance(prop, dict):
                continue
            pname = _text(prop.get("name"))
            pval = prop.get("value")
            if not pname:
                continue
            sval = _text(pval) if pval is not None else ""
            if sval.lower() in ("", "true", "yes", "1", "included"):
                value, extra = pname, {}
            elif sval.lower() in ("false", "no", "0", "not included"):
                continue
            else:
                value, extra = f"{pname}: {sval}", {"property": pname, "value": sval}
            self.fact("feature", name, "feature", value, evidence=_evidence(prop), extra=extra)
        brand = g.one(node, "brand")
        if brand is not None and _text(brand):
            pass  # brand is not a fact on its own; product names usually carry it.

    def review(self, subject: str, rev: dict[str, Any], ids: dict[str, str] | None = None) -> None:
        g = self.g
        body = _text(rev.get("reviewBody")) or _text(rev.get("description"))
        if not body:
            body = _text(rev.get("name"))
        if not body:
            return
        extra: dict[str, Any] = dict(ids or {})
        r = _rating(g, g.one(rev, "reviewRating"))
        if r:
            extra["rating"] = r[0]
            extra["best_rating"] = r[1]["best_rating"]
        author = g.one(rev, "author")
        if author is not None and _text(author):
            extra["author"] = _text(author)
        if rev.get("datePublished"):
            extra["date"] = _text(rev.get("datePublished"))
        self.fact(
            "review",
            subject,
            "review_sentiment_text",
            body[:2000],
            evidence=body,
            extra=extra,
        )


def _process(roots: list[Any], url: str, method: str, result: StructuredResult) -> None:
    g = _Graph(roots)
    b = _Builder(g, url, method, result)
    products = []
    for n in g.nodes:
        n = g.resolve(n)
        types = _types(n)
        result.types |= types
        rated = bool(n.get("aggregateRating") or n.get("review"))
        if types & PRODUCT_TYPES or (types & RATED_OFFERING_TYPES and rated):
            products.append(n)
        if "ItemList" in types:
            result.item_list_size = max(result.item_list_size, len(g.many(n, "itemListElement")))
        if types & ARTICLE_TYPES:
            result.published = result.published or _text(n.get("datePublished")) or None
            result.headline = result.headline or _text(n.get("headline")) or None
    seen: set[int] = set()
    for p in products:
        if id(p) not in seen:
            seen.add(id(p))
            b.product(p)
    for n in g.nodes:
        types = _types(n)
        if "Offer" in types or "AggregateOffer" in types:
            if id(n) in b.done_offers:
                continue
            item = g.one(n, "itemOffered")
            if isinstance(item, dict) and _text(item.get("name")):
                if id(item) in seen:
                    continue
                b.offers(_text(item.get("name")), [n], item)
        elif "Review" in types and id(n) not in seen:
            item = g.one(n, "itemReviewed")
            if isinstance(item, dict) and _text(item.get("name")) and id(item) not in seen:
                b.review(_text(item.get("name")), n)
        elif "AggregateRating" in types:
            item = g.one(n, "itemReviewed")
            if isinstance(item, dict) and _text(item.get("name")) and id(item) not in seen:
                r = _rating(g, n)
                if r:
                    b.fact(
                        "rating",
                        _text(item.get("name")),
                        "rating",
                        r[0],
                        extra=r[1],
                        evidence=_evidence(n),
                    )


def extract_structured(
    raw_root: Any, cleaned_html: str, url: str, *, clean_root: Any = None
) -> StructuredResult:
    """Run the structured-data layer.

    Args:
        raw_root: the parsed original document (JSON-LD scripts are read from it).
        cleaned_html: the cleaned document as HTML (microdata/RDFa are read from it, so hidden
            markup is ignored).
        url: the page URL (base for relative IRIs).
        clean_root: the cleaned document as a tree, when the caller has it (microformats are
            read from it; otherwise ``cleaned_html`` is parsed for them).

    Returns:
        Facts and page-level hints (product names, article date, types seen).
    """
    result = StructuredResult()
    blocks = load_jsonld_blocks(raw_root)
    if blocks:
        _process(blocks, url, "jsonld", result)
    if "itemscope" in cleaned_html or "typeof" in cleaned_html or "property=" in cleaned_html:
        try:
            import extruct

            data = extruct.extract(
                cleaned_html,
                base_url=url,
                syntaxes=["microdata", "rdfa"],
                uniform=True,
                errors="ignore",
            )
        except Exception as exc:  # extruct can fail on odd markup; the other layers still run
            log.debug("extruct failed on %s: %s", url, exc)
            data = {}
        if data.get("microdata"):
            _process(data["microdata"], url, "microdata", result)
        if data.get("rdfa"):
            _process(_compact_rdfa(data["rdfa"]), url, "rdfa", result)
    lowered = cleaned_html.lower()
    if any(c in lowered for c in ROOT_CLASSES):
        tree = clean_root if clean_root is not None else lxml.html.fromstring(cleaned_html)
        nodes = microformat_products(tree, url)
        if nodes:
            _process(nodes, url, "microformat", result)
    return result
