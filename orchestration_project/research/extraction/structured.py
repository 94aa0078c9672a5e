"""Layer 1: schema.org structured data (JSON-LD, microdata, RDFa).

JSON-LD blocks are read directly (leniently: a block with trailing commas or raw control
characters is repaired, a broken block is skipped). Microdata and RDFa come from ``extruct``
run on the *cleaned* document, so markup inside hidden elements is ignored. All three are
normalised to compact JSON-LD-like dicts and walked for Product-like nodes (including ``@graph``,
``ItemList`` and ``@id`` references), their ``Offer``/``AggregateOffer``/``priceSpecification``,
``AggregateRating``, ``Review``, ``featureList`` and ``additionalProperty``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from orchestration_project.research.extraction.facts import (
    CONFIDENCE,
    ExtractedFact,
    make_fact,
    norm_space,
)
from orchestration_project.research.extraction.prices import (
    find_prices,
    normalize_currency,
    parse_amount,
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
ARTICLE_TYPES = frozenset(
    {"Article", "BlogPosting", "NewsArticle", "TechArticle", "Report", "ScholarlyArticle"}
)
_OLD_PRICE_TYPES = ("strikethrough", "listprice", "msrp", "srp", "wasprice", "invoiceprice")
_UNIT_CODES = {
    "MON": "month",
    "MTH": "month",
    "ANN": "year",
    "YR": "year",
    "YEA": "year",
    "WEE": "week",
    "WK": "week",
    "DAY": "day",
    "HUR": "hour",
    "P1M": "month",
    "P1Y": "year",
    "P12M": "year",
    "P1W": "week",
    "P7D": "week",
    "P1D": "day",
    "PT1H": "hour",
}
_SCHEMA_PREFIX = re.compile(r"^https?://schema\.org/")


@dataclass
class StructuredResult:
    """Facts plus page-level hints found in structured data."""

    facts: list[ExtractedFact] = field(default_factory=list)
    product_names: list[str] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    published: str | None = None
    headline: str | None = None
    item_list_size: int = 0


def _repair_json(text: str) -> Any:
    text = text.strip()
    if text.startswith("<!--"):
        text = text[4:]
    if text.endswith("-->"):
        text = text[:-3]
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", text)
    fixed = re.sub(r"[\x00-\x1f]", " ", fixed)
    try:
        return json.loads(fixed, strict=False)
    except ValueError:
        return None


def load_jsonld_blocks(root: Any) -> list[Any]:
    """Parse every ``<script type="application/ld+json">`` of a document (lenient).

    Args:
        root: the lxml document (scripts still present).

    Returns:
        The parsed JSON values (broken blocks are skipped).
    """
    out = []
    for script in root.iter("script"):
        if "ld+json" not in (script.get("type") or "").lower():
            continue
        data = _repair_json(script.text or "")
        if data is not None:
            out.append(data)
    return out


def _short(t: Any) -> str:
    return _SCHEMA_PREFIX.sub("", str(t)).rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("@type")
    if t is None:
        return set()
    if isinstance(t, list):
        return {_short(x) for x in t}
    return {_short(t)}


def _compact_rdfa(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expanded RDFa (full IRIs, ``@value`` wrappers) to compact schema.org-style dicts."""

    def conv(v: Any) -> Any:
        if isinstance(v, list):
            vals = [conv(x) for x in v]
            return vals[0] if len(vals) == 1 else vals
        if isinstance(v, dict):
            if "@value" in v:
                return v["@value"]
            out: dict[str, Any] = {}
            for k, val in v.items():
                if k == "@type":
                    out[k] = [_short(x) for x in val] if isinstance(val, list) else _short(val)
                elif k.startswith("@"):
                    out[k] = val
                elif _SCHEMA_PREFIX.match(k):
                    out[_SCHEMA_PREFIX.sub("", k)] = conv(val)
            return out
        return v

    return [conv(i) for i in items if isinstance(i, dict) and i.get("@type")]


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            if id(v) in seen:
                continue
            seen.add(id(v))
            yield v
            stack.extend(reversed(list(v.values())))


class _Graph:
    """All nodes of one syntax, with ``@id`` resolution."""

    def __init__(self, roots: list[Any]) -> None:
        self.nodes = list(_walk(roots))
        self.by_id: dict[str, dict[str, Any]] = {}
        for n in self.nodes:
            nid = n.get("@id")
            if isinstance(nid, str) and len(n) > 1:
                self.by_id.setdefault(nid, {}).update(n)

    def resolve(self, v: Any) -> Any:
        if isinstance(v, dict) and set(v) <= {"@id"} and isinstance(v.get("@id"), str):
            return self.by_id.get(v["@id"], v)
        return v

    def many(self, node: dict[str, Any], *keys: str) -> list[Any]:
        out: list[Any] = []
        for k in keys:
            v = node.get(k)
            if v is None:
                continue
            for x in v if isinstance(v, list) else [v]:
                out.append(self.resolve(x))
        return out

    def one(self, node: dict[str, Any], *keys: str) -> Any:
        vals = self.many(node, *keys)
        return vals[0] if vals else None


def _text(v: Any) -> str:
    if isinstance(v, dict):
        v = v.get("name") or v.get("@value") or v.get("text") or ""
    if isinstance(v, list):
        v = v[0] if v else ""
    return norm_space(str(v)) if v is not None else ""


def _unit_of(g: _Graph, *nodes: Any) -> str | None:
    for n in nodes:
        if not isinstance(n, dict):
            continue
        for key in ("unitText", "unitCode", "billingDuration", "eligibleDuration"):
            v = g.one(n, key)
            if isinstance(v, dict):
                v = v.get("value") or v.get("unitCode") or v.get("unitText")
            if v is None:
                continue
            s = str(v).strip()
            if s.upper() in _UNIT_CODES:
                return _UNIT_CODES[s.upper()]
            low = s.lower()
            for word, unit in (
                ("month", "month"),
                ("year", "year"),
                ("annual", "year"),
                ("week", "week"),
                ("day", "day"),
                ("hour", "hour"),
            ):
                if word in low:
                    return unit
        ref = g.one(n, "referenceQuantity")
        if isinstance(ref, dict):
            u = _unit_of(g, ref)
            if u:
                return u
    return None


def _amount_and_currency(raw: Any, currency: Any) -> tuple[float | None, str | None, str | None]:
    cur = normalize_currency(currency) if currency else None
    amount = parse_amount(raw)
    unit = None
    if amount is None and isinstance(raw, str):
        ms = find_prices(raw, default_currency=cur, bare_numbers=True)
        if ms:
            amount, unit = ms[0].price.amount, ms[0].price.unit
            cur = cur or ms[0].price.currency
    return amount, cur, unit


def _rating(g: _Graph, node: Any) -> tuple[float, dict[str, Any]] | None:
    if not isinstance(node, dict):
        if parse_amount(node) is not None:
            node = {"ratingValue": node}
        else:
            return None
    value = parse_amount(g.one(node, "ratingValue"))
    if value is None:
        return None
    best = parse_amount(g.one(node, "bestRating"))
    worst = parse_amount(g.one(node, "worstRating"))
    if best is None:
        best = 5.0 if value <= 5 else 10.0 if value <= 10 else 100.0
    if best <= 0:
        return None
    extra: dict[str, Any] = {"best_rating": best, "raw_value": value}
    if worst is not None:
        extra["worst_rating"] = worst
    for key, name in (("reviewCount", "review_count"), ("ratingCount", "rating_count")):
        cnt = parse_amount(g.one(node, key))
        if cnt is not None:
            extra[name] = int(cnt)
    return round(value / best * 5.0, 3), extra


def _evidence(node: Any) -> str:
    try:
        return json.dumps(node, ensure_ascii=False, default=str)[:200]
    except (TypeError, ValueError):
        return str(node)[:200]


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

    def offers(self, subject: str, offers: list[Any], parent: dict[str, Any]) -> None:
        named = [o for o in offers if isinstance(o, dict) and _text(o.get("name"))]
        multi = len(offers) > 1 and len(named) > 1
        for offer in offers:
            if not isinstance(offer, dict):
                continue
            self.done_offers.add(id(offer))
            types = _types(offer)
            extra: dict[str, Any] = {}
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
        self.offers(name, expanded, node)
        agg = g.one(node, "aggregateRating")
        r = _rating(g, agg) if agg is not None else None
        if r:
            self.fact("rating", name, "rating", r[0], evidence=_evidence(agg), extra=r[1])
        for rev in g.many(node, "review", "reviews"):
            if isinstance(rev, dict):
                self.review(name, rev)
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

    def review(self, subject: str, rev: dict[str, Any]) -> None:
        g = self.g
        body = _text(rev.get("reviewBody")) or _text(rev.get("description"))
        if not body:
            body = _text(rev.get("name"))
        if not body:
            return
        extra: dict[str, Any] = {}
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
        if types & PRODUCT_TYPES:
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


def extract_structured(raw_root: Any, cleaned_html: str, url: str) -> StructuredResult:
    """Run the structured-data layer.

    Args:
        raw_root: the parsed original document (JSON-LD scripts are read from it).
        cleaned_html: the cleaned document as HTML (microdata/RDFa are read from it, so hidden
            markup is ignored).
        url: the page URL (base for relative IRIs).

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
    return result
