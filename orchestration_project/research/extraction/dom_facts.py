"""Layer 2: facts from the page layout (cleaned DOM), with generic signals only.

* **Price nodes**: the smallest elements whose short text is mostly a price. A price in a long
  sentence is not a price node (the text layer deals with sentences). Struck-through prices
  (``<del>``, ``<s>``, ``line-through``, classes such as ``old-price``/``was-price``) and prices
  flagged by their wording ("was", "save", "off", ranges, salaries) are not current prices.
* **Cards**: the lowest ancestor of a price node that repeats among its siblings (same tag and
  similar classes, at least two of them priced) and holds a name-like element (``itemprop=name``,
  a heading, a class/id with "name"/"title", a link, ``strong``/``b``) gives one product.
* **Product page**: one ``<h1>`` followed closely by a prominent price gives one product.
* **Tables**: a name column and a price column (by header words or by cells that parse as
  prices); comparison tables (products as columns) give prices and one feature fact per checked
  (product, feature) cell.
* **Parallel columns**: a block of repeated name-only items next to a block of as many
  price-only items is zipped in order.
* **Definition lists** (``dt`` name, ``dd`` price), **feature lists** (list items in a product card,
  or under a heading about features), **ratings** ("4.5 out of 5", "4.5/5", ★★★★☆, ``data-rating``,
  ``aria-label``, star widths) and **review blocks** (repeated blocks with a rating and text).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import (
    SiblingIndex,
    class_tokens,
    el_text,
    iter_elements,
)
from orchestration_project.research.extraction.facts import CONFIDENCE, ExtractedFact, norm_space
from orchestration_project.research.extraction.prices import (
    Price,
    PriceMatch,
    find_prices,
    unit_after,
)

__all__ = [
    "DomResult",
    "extract_dom",
    "looks_like_injection",
    "page_currency",
    "rating_from_text",
]

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_FREE = re.compile(
    r"^\s*(?:free|gratis|kostenlos|gratuit|gratuito|0\s*,-)(?: forever| plan|\s*!)?\s*$", re.I
)
_CHROME_TOKENS = frozenset(
    [
        "footer",
        "header",
        "masthead",
        "colophon",
        "nav",
        "navbar",
        "navigation",
        "menu",
        "menubar",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "topbar",
        "site-header",
        "site-footer",
        "cookie",
        "cookies",
        "banner",
    ]
)
_FILLER = re.compile(
    r"\b(?:from|starting|starts|start|at|only|now|just|price|prices|pricing|per|month|monthly|"
    r"year|yearly|annually|annual|user|users|seat|seats|billed|incl|excl|including|excluding|"
    r"vat|tax|taxes|plus|net|gross|sale|our|today|each|mo|yr|total|cost|costs|you|pay|"
    r"onetime|one-time|forever|free|trial|days?|unit|best|deal|offer|special|new|was|"
    r"discount|save|off|regular|list|rrp|msrp|reg|min|max|the|a|an|for|of|and|or|in|on|"
    r"eur|usd|gbp|chf|jpy|cad|aud|inkl|mwst|zzgl|ttc|ht)\b",
    re.IGNORECASE,
)
_PRICE_CLASS = re.compile(r"price|cost|amount|fee|preis|prix|precio|prezzo|tarif|rate", re.I)
_OLD_CLASS = re.compile(
    r"(?:^|[-_])(?:old|was|strike|striked|strikethrough|strike-through|crossed|linethrough|"
    r"line-through|compare-?at|compareat|original|previous|before|retail)(?:[-_]|$)",
    re.IGNORECASE,
)
_CTA = re.compile(
    r"^(?:buy|buy now|add to (?:cart|basket|bag)|add|shop now|order|order now|sign up|signup|"
    r"get started|start(?: now| free)?(?: trial)?|start your free trial|try (?:it )?(?:free|now)|"
    r"learn more|read more|more|details|view|view details|see details|see more|choose|"
    r"choose plan|select|select plan|subscribe|contact(?: us| sales)?|talk to sales|book a demo|"
    r"request a demo|get a demo|upgrade|download|compare|quick view|wishlist|share|"
    r"get (?:it|this|plan)|continue|next|previous|prev|close|menu|home|login|log in|sign in)"
    r"[\s!.»›→>]*$",
    re.IGNORECASE,
)
_BADGE = re.compile(
    r"^(?:most popular|popular|best value|discount \d+ ?%|-?\d+ ?% (?:off|discount)|best price!?|best seller|bestseller|recommended|"
    r"new|sale|hot|limited(?: offer)?|featured|on sale|save \d+%|-?\d+% off|top rated|"
    r"editor'?s choice|staff pick|deal|special offer|exclusive|trending|in stock|"
    r"out of stock|sold out|free shipping)[\s!.]*$",
    re.IGNORECASE,
)
_GENERIC_HEADINGS = re.compile(
    r"^(?:pricing|prices?|price list|plans?(?: (?:&|and) pricing)?|our plans|choose (?:a|your) "
    r"plan|products?|our products|shop|store|catalog(?:ue)?|home|welcome|features?|compare|"
    r"comparison|reviews?|blog|news|about(?: us)?|contact(?: us)?|careers|jobs|search results?|"
    r"results|categories|category|collections?|all products|menu|cart|checkout)\b",
    re.IGNORECASE,
)
_INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|preceding) "
    r"(?:instructions|prompts?|directions|rules)"
    r"|disregard (?:all |any )?(?:the )?(?:previous|prior|above|earlier)"
    r"|system prompt|you are (?:now )?(?:an? )?(?:ai|assistant|language model|llm|chatbot)"
    r"|as an ai|(?:ai|llm|gpt) (?:agents?|assistants?|models?|crawlers?|scrapers?)"
    r"|language models?|new instructions|(?:^|\W)instructions?:|jailbreak"
    r"|do not (?:tell|reveal|report)|report (?:that|to your)|override (?:your|the) "
    r"|when summari[sz]ing|note to (?:ai|bots?|crawlers?|scrapers?|llms?)",
    re.IGNORECASE,
)
_CHECK_TEXT = re.compile(
    r"^(?:[✓✔✅☑✔️🗸√●•+]+|yes|y|included|include|true|available|supported|on|unlimited ✓)$",
    re.IGNORECASE,
)
_CROSS_TEXT = re.compile(
    r"^(?:[✗✘×✕❌⨯–—\-]+|no|n/?a|none|false|not included|not available|unavailable|"
    r"not supported|x|off|)$",
    re.IGNORECASE,
)
_CHECK_TOKENS = frozenset(
    {"check", "checked", "checkmark", "tick", "yes", "included", "available", "icon-check", "ok"}
)
_CROSS_TOKENS = frozenset(
    {
        "cross",
        "times",
        "no",
        "unavailable",
        "excluded",
        "minus",
        "dash",
        "unchecked",
        "disabled",
        "not-included",
        "x",
        "close",
        "missing",
        "inactive",
    }
)
_FEATURE_HEADING = re.compile(
    r"feature|what'?s included|includes|everything in|highlights|capabilit|key benefits|"
    r"specifications|tech specs|what you get|funktion|fonctionnalit|caracter[ií]stica|"
    r"caratteristich|leistungsmerkmale|ausstattung",
    re.IGNORECASE,
)
_PRICE_HDR = re.compile(
    r"\b(?:price|prices|pricing|cost|costs|fee|fees|amount|rate|preis|prix|precio|prezzo|"
    r"monthly|per month|/\s*mo|annual|per year)\b|[$€£¥₹]",
    re.IGNORECASE,
)
_AUTHOR_HDR = re.compile(
    r"\b(?:author|reviewer|customer|kunde|client|user|name|autor|auteur|by|von|par|reviewed by)\b",
    re.IGNORECASE,
)
_NAME_HDR = re.compile(
    r"\b(?:name|product|products|plan|plans|item|items|model|title|package|tier|service|"
    r"edition|article|artikel|produkt|produit|producto|prodotto)\b",
    re.IGNORECASE,
)
_RATING_RE = re.compile(
    r"(?<![\d.])(\d{1,2}(?:[.,]\d{1,2})?)\s*(?:out of|of|/|von|sur|de|su)\s*(5|10|100)(?!\d|[.,]\d)"
    r"(?:\s*(?:stars?|points?))?",
    re.IGNORECASE,
)
_RATED_RE = re.compile(
    r"\b(?:rated|rating|score|average|avg\.?)\s*:?\s*(\d(?:[.,]\d{1,2})?)\b(?!\s*(?:%|/\s*\d{2,}))",
    re.IGNORECASE,
)
_STARS_WORD_RE = re.compile(r"(?<![\d.])(\d(?:[.,]\d{1,2})?)\s*stars?\b", re.IGNORECASE)
_STAR_GLYPHS = re.compile(r"[★☆⭐✩✭✮✰🌟½⯪]{3,}")
_COUNT_RE = re.compile(
    r"(\d[\d,.]*)\s*(?:customer\s+|verified\s+|user\s+)?(?:reviews?|ratings?|votes?|opinions?|"
    r"customers|bewertungen|rezensionen|avis|valoraciones|recensioni)\b",
    re.IGNORECASE,
)
_DATE_TEXT = re.compile(
    r"\b(?:\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
    r"\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
    r"[a-z]*\.?\s+\d{4})\b",
    re.IGNORECASE,
)


def looks_like_injection(text: str) -> bool:
    """Whether a text reads like instructions aimed at an automated reader.

    Such text is data: it never becomes a fact, and blocks containing it are skipped.
    """
    return bool(_INJECTION.search(text or ""))


def rating_from_text(text: str) -> tuple[float, dict[str, Any]] | None:
    """A rating on the 0-5 scale from texts such as "4.5 out of 5", "4.5/5", "★★★★☆".

    Args:
        text: a short text.

    Returns:
        ``(value, extra)`` with ``extra["best_rating"]`` and possibly ``review_count``; or None.
    """
    if not text:
        return None
    extra: dict[str, Any] = {}
    value: float | None = None
    m = _RATING_RE.search(text)
    if m:
        v = float(m.group(1).replace(",", "."))
        best = float(m.group(2))
        if 0 <= v <= best:
            value = v / best * 5.0
            extra["best_rating"] = best
            extra["raw_value"] = v
    if value is None:
        g = _STAR_GLYPHS.search(text)
        if g:
            s = g.group(0)
            full = sum(s.count(c) for c in "★⭐✭✮🌟")
            half = sum(s.count(c) for c in "½⯪")
            empty = sum(s.count(c) for c in "☆✩✰")
            total = full + half + empty
            if total in (5, 10) or (total < 5 and full):
                best = float(total) if total in (5, 10) else 5.0
                value = (full + 0.5 * half) / best * 5.0
                extra["best_rating"] = 5.0
                extra["raw_value"] = full + 0.5 * half
                # rounded stars next to the exact figure ("★★★★☆ 4.4"): use the figure
                near = re.search(
                    r"^\s*\(?(\d(?:[.,]\d{1,2})?)\)?(?![\d.,]*\s*(?:reviews?|ratings?|%))",
                    text[g.end() : g.end() + 12],
                ) or re.search(
                    r"(?<![\d.,])(\d(?:[.,]\d{1,2})?)\s*$", text[max(0, g.start() - 8) : g.start()]
                )
                if near:
                    v = float(near.group(1).replace(",", "."))
                    if 0 <= v <= 5 and abs(v - value) <= 1.0:
                        value = v
                        extra["raw_value"] = v
    if value is None:
        m = re.search(r"[★⭐]\s*(\d(?:[.,]\d{1,2})?)(?![\d.,])(?!\s*(?:%|/\s*\d{2,}))", text)
        if m:
            v = float(m.group(1).replace(",", "."))
            if 0 <= v <= 5:
                value = v
                extra["best_rating"] = 5.0
                extra["raw_value"] = v
    if value is None:
        for rx in (_RATED_RE, _STARS_WORD_RE):
            m = rx.search(text)
            if m:
                v = float(m.group(1).replace(",", "."))
                if 0 <= v <= 5:
                    value = v
                    extra["best_rating"] = 5.0
                    extra["raw_value"] = v
                    break
    if value is None:
        return None
    c = _COUNT_RE.search(text)
    if c:
        digits = re.sub(r"[,.]", "", c.group(1))
        if digits.isdigit():
            extra["review_count"] = int(digits)
    return round(value, 3), extra


@dataclass
class PriceNode:
    """A prominent price in the layout."""

    el: HtmlElement
    price: Price
    match: PriceMatch
    current: bool
    text: str


@dataclass
class DomResult:
    """Facts from the layout plus hints for page classification."""

    facts: list[ExtractedFact] = field(default_factory=list)
    card_count: int = 0
    card_groups: int = 0
    table_products: int = 0
    product_page_name: str | None = None
    price_nodes: int = 0
    unit_prices: int = 0
    review_blocks: int = 0
    feature_facts: int = 0
    warnings: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def page_currency(text: str) -> str | None:
    """The most frequent explicit currency among the prices of a text (``$`` counts as USD)."""
    counts = Counter(
        m.price.currency for m in find_prices(text) if m.price.currency and "bare" not in m.flags
    )
    return counts.most_common(1)[0][0] if counts else None


class _Dom:
    def __init__(
        self,
        root: HtmlElement,
        url: str,
        currency: str | None,
        subject_hint: str | None,
        allow_products: bool,
        known: tuple[str, ...] = (),
        title: str = "",
    ) -> None:
        self.title = title
        self.root = root
        self.known = tuple(norm_space(k) for k in known if norm_space(k))
        body = root.find("body")
        self.body = body if body is not None else root
        self.url = url
        self.currency = currency
        self.subject_hint = subject_hint
        self.allow_products = allow_products
        self.result = DomResult()
        self._text: dict[int, str] = {}
        self._names: dict[int, list[tuple[int, int, str]]] = {}
        self.sibs = SiblingIndex()
        # Keep every element proxy alive: lxml proxies are re-created on access, so ``id()`` is a
        # stable key only while a reference exists.
        self.elements = list(iter_elements(self.body))
        self.order = {id(el): i for i, el in enumerate(self.elements)}
        self.used_prices: set[int] = set()
        self.product_blocks: set[int] = set()
        self.card_of: dict[int, tuple[HtmlElement, str]] = {}

    # -- helpers ------------------------------------------------------------------------------
    def text(self, el: HtmlElement) -> str:
        k = id(el)
        if k not in self._text:
            self._text[k] = el_text(el)
        return self._text[k]

    def fact(
        self,
        kind: str,
        subject: str,
        attribute: str,
        value: Any,
        conf_key: str,
        evidence: str,
        **kw: Any,
    ) -> None:
        subject = norm_space(subject)[:200]
        if not subject:
            return
        self.result.facts.append(
            ExtractedFact(
                kind=kind,
                subject=subject,
                attribute=attribute,
                value=value,
                currency=kw.get("currency"),
                unit=kw.get("unit"),
                source_url=self.url,
                confidence=round(CONFIDENCE[conf_key] - kw.get("penalty", 0.0), 3),
                method="dom",
                evidence=norm_space(evidence)[:200],
                extra=kw.get("extra") or {},
            )
        )

    def ancestors(self, el: HtmlElement, limit: int = 12) -> list[HtmlElement]:
        out = []
        a = el.getparent()
        while a is not None and len(out) < limit:
            out.append(a)
            if a is self.body:
                break
            a = a.getparent()
        return out

    def is_struck(self, el: HtmlElement) -> bool:
        """Struck-through or marked as an old price (the element or a close ancestor)."""
        for a in [el, *self.ancestors(el, 3)]:
            if a.tag in ("del", "s", "strike"):
                return True
            if "line-through" in (a.get("style") or "").replace(" ", ""):
                return True
            if any(_OLD_CLASS.search(c) for c in (a.get("class") or "").split()):
                return True
        return False

    def name_ok(self, text: str) -> bool:
        t = norm_space(text)
        if not (2 <= len(t) <= 160) or not re.search(r"[^\W\d_]", t):
            return False
        if _CTA.match(t) or _BADGE.match(t) or looks_like_injection(t):
            return False
        if find_prices(t) and len(_FILLER.sub("", re.sub(r"[\d$€£¥.,/%\s-]", "", t))) < 3:
            return False
        return not rating_from_text(t) or len(t) > 30

    # -- price nodes ----------------------------------------------------------------------------
    def find_price_nodes(self) -> list[PriceNode]:
        cands: dict[int, tuple[HtmlElement, list[PriceMatch], str]] = {}
        for el in iter_elements(self.body):
            if el is self.body or el.tag in ("html", "table", "tbody", "thead", "ul", "ol", "dl"):
                continue
            t = self.text(el)
            if not t or len(t) > 120:
                continue
            bare = bool(_PRICE_CLASS.search(el.get("class") or "")) or el.get("itemprop") == "price"
            ms = find_prices(t, default_currency=self.currency, bare_numbers=bare)
            if not ms and bare and _FREE.match(t):
                # a price element that just says "Free": a zero price
                ms = [PriceMatch(Price(0.0, self.currency, None, t), 0, len(t), frozenset())]
            if ms:
                cands[id(el)] = (el, ms, t)
        nodes: list[PriceNode] = []
        for el, ms, t in cands.values():
            if any(id(d) in cands for d in el.iterdescendants()):
                continue  # not the smallest element holding this price
            m = ms[0]
            best_el, best_m, best_t = el, m, t
            # Climb while the text stays short and holds this one price (unit, currency).
            for a in self.ancestors(el, 3):
                at = self.text(a)
                if len(at) > 60:
                    break
                ams = find_prices(at, default_currency=self.currency)
                if len(ams) != 1 or abs(ams[0].price.amount - m.price.amount) > 1e-9:
                    break
                added = re.sub(r"[^\w]+", "", _FILLER.sub(" ", at.replace(best_t, " ", 1)))
                if len(added) > 2:
                    break  # the ancestor adds words (a name?): keep the price node small
                best_el, best_m, best_t = a, ams[0], at
            if len(ms) > 1:
                # several prices in one small element: each is a candidate of its own
                pass
            for mm in ms if len(ms) > 1 else [best_m]:
                if not self.prominent(best_t, mm):
                    continue
                price = mm.price
                if mm is best_m and m.price.unit and not price.unit:
                    price = Price(price.amount, price.currency, m.price.unit, price.raw)
                if price.unit is None:
                    price = self.unit_from_next(best_el, best_t, price)
                current = mm.is_current and not self.is_struck(el)
                nodes.append(PriceNode(best_el if len(ms) == 1 else el, price, mm, current, best_t))
        nodes.sort(key=lambda n: self.order.get(id(n.el), 0))
        self.result.price_nodes = sum(1 for n in nodes if n.current)
        self.result.unit_prices = sum(1 for n in nodes if n.current and n.price.unit)
        return nodes

    def unit_from_next(self, el: HtmlElement, text: str, price: Price) -> Price:
        """``<span>$29</span><span>/month</span>``: the unit follows the price element."""
        parent = el.getparent()
        if parent is None:
            return price
        pt = self.text(parent)
        idx = pt.find(text)
        if idx < 0:
            return price
        unit, _ = unit_after(pt[idx + len(text) :], 0)
        return Price(price.amount, price.currency, unit, price.raw) if unit else price

    def prominent(self, text: str, m: PriceMatch) -> bool:
        if looks_like_injection(text):
            return False
        rest = text.replace(m.price.raw, " ")
        rest = re.sub(r"\d+(?:[.,]\d+)?\s*%", " ", rest)
        rest = _FILLER.sub(" ", rest)
        rest = re.sub(r"[^\w]+", "", rest)
        return len(rest) <= 24

    # -- names ----------------------------------------------------------------------------------
    def name_candidates(
        self, card: HtmlElement, exclude: HtmlElement | None
    ) -> list[tuple[int, int, str]]:
        if exclude is None:
            cached = self._names.get(id(card))
            if cached is None:
                cached = self._name_candidates(card, None)
                self._names[id(card)] = cached
            return cached
        return self._name_candidates(card, exclude)

    def _name_candidates(
        self, card: HtmlElement, exclude: HtmlElement | None
    ) -> list[tuple[int, int, str]]:
        out = []
        excl_anc = {id(a) for a in self.ancestors(exclude, 20)} if exclude is not None else set()
        for el in card.iter():
            if not isinstance(el.tag, str) or el is card:
                continue
            if exclude is not None and (
                el is exclude or exclude in el.iterancestors() or id(el) in excl_anc
            ):
                if id(el) in excl_anc and el.tag in _HEADINGS:
                    # heading holding the price: name is the heading minus the price
                    t = self.text(el)
                    for m in find_prices(t):
                        t = t.replace(m.price.raw, " ")
                    t = norm_space(_FILLER.sub(" ", t)) if len(t) > 60 else norm_space(t)
                    if self.name_ok(t):
                        out.append((4, self.order.get(id(el), 0), t))
                continue
            strength = 0
            toks = class_tokens(el)
            if el.get("itemprop") == "name":
                strength = 5
            elif el.tag in _HEADINGS or el.get("role") == "heading":
                strength = 4
            elif any(
                ("name" in t or "title" in t or "heading" in t)
                and not any(b in t for b in ("subtitle", "sub-title", "username", "subheading"))
                for t in toks
            ):
                strength = 3
            elif el.tag == "a":
                strength = 2
            elif el.tag in ("strong", "b", "dt") or any(
                t in ("bold", "semibold", "font-bold", "fw-bold", "strong") for t in toks
            ):
                strength = 1
            if not strength:
                continue
            t = self.text(el)
            if not self.name_ok(t):
                continue
            out.append((strength, self.order.get(id(el), 0), norm_space(t)))
        return out

    def name_strength(self, card: HtmlElement, name: str) -> int:
        return max((c[0] for c in self.name_candidates(card, None) if c[2] == name), default=4)

    def fallback_name(self, card: HtmlElement) -> str | None:
        """The first short text line of a card that is neither a price nor a button label."""
        for line in el_text(card, lines=True).split("\n"):
            if find_prices(line) or len(line) > 80 or "%" in line:
                continue
            if self.name_ok(line) and len(re.findall(r"[^\W\d_]", line)) >= 3:
                return norm_space(line)
            return None
        return None

    def best_name(self, card: HtmlElement, price_el: HtmlElement) -> str | None:
        cands = self.name_candidates(card, price_el)
        if not cands:
            return None
        pos = self.order.get(id(price_el), 0)
        top = max(c[0] for c in cands)
        same = [c for c in cands if c[0] == top]
        before = [c for c in same if c[1] < pos]
        if top <= 2 and not before:
            return None
        pick = min(before or same, key=lambda c: c[1])
        if top <= 1:
            # a weak name must open the card
            card_text = self.text(card)
            if not card_text.startswith(pick[2][:20]):
                return None
        return pick[2]

    # -- cards ----------------------------------------------------------------------------------
    def cards(self, nodes: list[PriceNode]) -> None:
        current = [n for n in nodes if n.current]
        priced_anc: Counter[int] = Counter()
        inside: dict[int, list[PriceNode]] = {}
        for n in current:
            for a in {id(x) for x in [n.el, *self.ancestors(n.el, 14)]}:
                priced_anc[a] += 1
                inside.setdefault(a, []).append(n)
        by_card: dict[int, tuple[HtmlElement, str, list[PriceNode]]] = {}
        groups: set[int] = set()
        weak: set[int] = set()
        for n in current:
            a = n.el
            levels: list[HtmlElement] = []
            found = False
            for _ in range(10):
                parent = a.getparent()
                if parent is None or a is self.body:
                    break
                if self.is_container(a, inside.get(id(a), [])):
                    break
                sibs = self.sibs.similar_siblings(a)
                priced_sibs = sum(1 for s in sibs if priced_anc[id(s)])
                if len(sibs) >= 2 and priced_sibs >= 1:
                    if len(self.text(a)) > 4000:
                        break
                    if priced_sibs >= 2:
                        levels.append(a)
                    name = self.best_name(a, n.el)
                    if (
                        name
                        and priced_sibs == 1
                        and (
                            self.name_strength(a, name) < 3
                            or len(inside.get(id(a), [])) > 1
                            or not all(
                                any(c[0] >= 3 for c in self.name_candidates(x, None)) for x in sibs
                            )
                        )
                    ):
                        # one priced item among its siblings (e.g. next to a "Free" or "Custom"
                        # plan): only when every sibling is a titled item and this one has one
                        # price
                        name = None
                    if name:
                        entry = by_card.setdefault(id(a), (a, name, []))
                        entry[2].append(n)
                        groups.add(id(parent))
                        found = True
                        break
                a = parent
            if not found:
                # no name-like element at any level: the first plain text line of the card
                for a in levels:
                    inner = inside.get(id(a), [])
                    if len(inner) > 2 or (
                        len(inner) == 2 and inner[0].price.unit == inner[1].price.unit
                    ):
                        break  # several prices: a container, not one item
                    name = self.fallback_name(a)
                    if name:
                        entry = by_card.setdefault(id(a), (a, name, []))
                        entry[2].append(n)
                        groups.add(id(a.getparent()))
                        weak.add(id(a))
                        break
        for card, name, pns in by_card.values():
            if looks_like_injection(self.text(card)):
                self.result.warnings.append(f"instruction-like text in a card ignored: {name[:60]}")
                continue
            if _SALARY_CONTEXT.search(self.text(card)):
                continue
            kept: list[PriceNode] = []
            for pn in pns:
                # one price per billing unit (monthly and yearly prices of one plan are kept)
                if all(pn.price.unit != k.price.unit for k in kept):
                    kept.append(pn)
            old = [
                n.price.amount
                for n in self.all_nodes
                if not n.current and card in n.el.iterancestors()
            ]
            for i, pn in enumerate(kept):
                self.used_prices.add(id(pn.el))
                extra: dict[str, Any] = {"layout": "card"}
                if old:
                    extra["old_price"] = old[0]
                if i:
                    extra["alternative"] = True  # e.g. the yearly price next to the monthly one
                if self.allow_products:
                    self.fact(
                        "product",
                        name,
                        "price",
                        pn.price.amount,
                        "dom_card_weak" if id(card) in weak else "dom_card",
                        self.text(card),
                        currency=pn.price.currency,
                        unit=pn.price.unit,
                        extra=extra,
                        penalty=0.03 * min(i, 1),
                    )
            for pn in pns:
                self.used_prices.add(id(pn.el))
            self.card_of[id(card)] = (card, name)
            self.result.names.append(name)
            self.card_features(card, name, [p.el for p in pns])
            r = self.rating_in(card)
            if r:
                self.fact("rating", name, "rating", r[0], "dom_rating", r[2], extra=r[1])
        self.result.card_count = len(by_card)
        self.result.card_groups = len(groups)

    def is_container(self, a: HtmlElement, prices: list[PriceNode]) -> bool:
        """An element holding several priced items (not one item with monthly/yearly prices)."""
        if len(prices) < 2:
            return False
        units = [p.price.unit for p in prices]
        if len(prices) == 2 and units[0] != units[1]:
            return False
        cands = self.name_candidates(a, None)
        if not cands:
            return False
        top = max(c[0] for c in cands)
        return len({c[2] for c in cands if c[0] == top}) >= 2

    # -- features -------------------------------------------------------------------------------
    def is_excluded_item(self, li: HtmlElement) -> bool:
        t = self.text(li)
        if re.match(r"^\s*[✗✘×✕❌⨯]", t) or re.search(r"\bnot included\b|\bunavailable\b", t, re.I):
            return True
        for el in li.iter():
            if not isinstance(el.tag, str):
                continue
            toks = set(class_tokens(el))
            if toks & _CROSS_TOKENS:
                return True
            if el.tag in ("del", "s", "strike") and norm_space(self.text(el)) == norm_space(t):
                return True
            label = (el.get("aria-label") or el.get("title") or el.get("alt") or "").lower()
            if label and re.search(r"not included|unavailable|\bno\b|excluded", label):
                return True
        return False

    def feature_text(self, el: HtmlElement) -> str | None:
        t = norm_space(self.text(el))
        t = re.sub(r"^[\s✓✔✅☑√•·*+–—-]+", "", t).strip()
        if not (2 <= len(t) <= 150) or not re.search(r"[^\W\d_]", t):
            return None
        if _CTA.match(t) or looks_like_injection(t):
            return None
        ms = find_prices(t)
        if ms and self.prominent(t, ms[0]):
            return None
        return t

    def card_features(self, card: HtmlElement, name: str, price_els: list[HtmlElement]) -> None:
        for li in card.iter("li"):
            if any(
                p is li or li in p.iterancestors() or p in li.iterancestors() for p in price_els
            ):
                continue
            if li.find(".//li") is not None:
                continue
            if self.is_excluded_item(li):
                continue
            t = self.feature_text(li)
            if t:
                self.fact("feature", name, "feature", t, "dom_feature", self.text(card))
                self.result.feature_facts += 1

    def heading_lists(self, features_page: bool) -> None:
        """A heading naming a product followed by a list: the list items are its features.

        The heading must be a known product name (given by the caller or found on this page), or
        the page must be a features page (by URL/title); sections holding prices are cards, not
        feature lists.
        """
        names = {n.casefold(): n for n in (*self.known, *self.result.names)}
        main_heading = self.title_heading()
        for h in self.body.iter("h2", "h3", "h4", "h5", "h6"):
            if any(id(a) in self.card_of for a in self.ancestors(h, 10)):
                continue
            ht = norm_space(self.text(h))
            if not ht or _FEATURE_HEADING.search(ht):
                continue
            if self.in_chrome(h):
                continue
            subj = names.get(ht.casefold())
            if (
                subj is None
                and features_page
                and h is not main_heading
                and self.name_ok(ht)
                and not _GENERIC_HEADINGS.match(ht)
                and len(ht) <= 80
            ):
                subj = ht
            if not subj:
                continue
            section = self.section_after(h)
            if any(find_prices(self.text(b)) for b in section):
                continue
            self.emit_features(subj, self.item_group(section), ht)

    def emit_features(self, subject: str, items: list[HtmlElement], context: str) -> None:
        for li in items:
            if self.is_excluded_item(li):
                continue
            t = self.feature_text(li)
            if t:
                self.fact("feature", subject, "feature", t, "dom_list", f"{context}: {t}")
                self.result.feature_facts += 1

    def item_group(
        self, blocks: list[HtmlElement], *, marked_only: bool = False
    ) -> list[HtmlElement]:
        """The feature-like items among ``blocks``: the items of the first list, else the first
        group of at least two similar short siblings without prices or headings.

        With ``marked_only`` only groups whose items start with a check mark or whose classes
        say feature/benefit/badge/tag/chip/pill qualify (used inside a product block, where other
        repeated elements abound).
        """
        if not marked_only:
            for blk in blocks:
                for x in [blk, *blk.iterdescendants("ul", "ol")]:
                    if x.tag in ("ul", "ol"):
                        items = [li for li in x.iter("li") if li.find(".//li") is None]
                        if items:
                            return items
        for blk in blocks:
            for x in [blk, *blk.iterdescendants()]:
                if not isinstance(x.tag, str) or x.tag in ("a", "br", "img", "button", "dt", "dd"):
                    continue
                sibs = self.sibs.similar_siblings(x)
                if len(sibs) < 2:
                    continue
                texts = [self.text(s) for s in sibs]
                if not all(0 < len(t) <= 100 for t in texts):
                    continue
                if any(find_prices(t) for t in texts) or any(
                    s.find(".//h1") is not None or s.tag in _HEADINGS for s in sibs
                ):
                    continue
                if marked_only:
                    marked = all(re.match(r"^\s*[✓✔✅☑√]", t) for t in texts) or bool(
                        set(class_tokens(x))
                        & {
                            "feature",
                            "features",
                            "benefit",
                            "badge",
                            "tag",
                            "chip",
                            "pill",
                            "highlight",
                            "spec",
                            "usp",
                        }
                    )
                    if not marked:
                        continue
                return sibs
        return []

    def feature_cards(self) -> None:
        """On a features page: repeated blocks, each a product name plus its feature items."""
        done: set[int] = set()
        for el in self.elements:
            if id(el) in done or el.tag in ("li", "a", "span", "tr", "td", "dt", "dd"):
                continue
            sibs = self.sibs.similar_siblings(el)
            if len(sibs) < 2:
                continue
            for b in sibs:
                done.add(id(b))
                if find_prices(self.text(b)) or len(self.text(b)) > 1500 or self.in_chrome(b):
                    continue
                cands = [c for c in self.name_candidates(b, None) if c[0] >= 1]
                if not cands:
                    continue
                name = min(cands, key=lambda c: (-c[0], c[1]))[2]
                if not self.text(b).startswith(name):
                    continue  # the name opens a feature card
                if _GENERIC_HEADINGS.match(name) or _FEATURE_HEADING.search(name):
                    continue
                items = [i for i in self.item_group(list(b)) if norm_space(self.text(i)) != name]
                if len(items) >= 2:
                    self.emit_features(name, items, name)

    def dl_features(self, subject: str | None, features_page: bool) -> None:
        """``<dt>Features</dt><dd>a, b, c</dd>`` and ``<dt>Product</dt><dd>feature</dd>...``."""
        names = {n.casefold(): n for n in (*self.known, *self.result.names)}
        for dl in self.body.iter("dl"):
            group: list[tuple[HtmlElement, list[HtmlElement]]] = []
            for c in dl:
                if c.tag == "dt":
                    group.append((c, []))
                elif c.tag == "dd" and group:
                    group[-1][1].append(c)
            for dt, dds in group:
                label = norm_space(self.text(dt))
                if _FEATURE_HEADING.search(label) and subject and len(dds) == 1:
                    for item in re.split(r"\s*[,;•·]\s*", self.text(dds[0])):
                        t = item.strip(" .")
                        if 2 <= len(t) <= 80 and re.search(r"[^\W\d_]", t):
                            self.fact("feature", subject, "feature", t, "dom_list", f"{label}: {t}")
                            self.result.feature_facts += 1
                    continue
                subj = names.get(label.casefold())
                if subj is None and features_page and len(dds) >= 2 and self.name_ok(label):
                    subj = label
                if subj and len(dds) >= 2 and not any(find_prices(self.text(d)) for d in dds):
                    self.emit_features(subj, dds, label)

    def section_after(self, heading: HtmlElement) -> list[HtmlElement]:
        """Elements following a heading up to the next heading of the same or higher level."""
        level = int(heading.tag[1]) if heading.tag in _HEADINGS else 2
        anchor = heading
        # a heading alone in a header wrapper: the section follows the wrapper
        while (
            anchor.getparent() is not None
            and anchor.getparent() is not self.body
            and len([c for c in anchor.getparent() if isinstance(c.tag, str)]) <= 2
            and anchor.getnext() is None
        ):
            anchor = anchor.getparent()
        out = []
        sib = anchor.getnext()
        while sib is not None:
            if isinstance(sib.tag, str):
                hs = [h for h in sib.iter(*_HEADINGS)]
                if sib.tag in _HEADINGS and int(sib.tag[1]) <= level:
                    break
                if hs and any(int(h.tag[1]) <= level for h in hs):
                    break
                out.append(sib)
            sib = sib.getnext()
        return out

    def section_features(self, subject: str | None) -> None:
        for h in self.body.iter(*_HEADINGS):
            ht = self.text(h)
            if not _FEATURE_HEADING.search(ht) or len(ht) > 80:
                continue
            if any(id(a) in self.card_of for a in self.ancestors(h, 10)) or self.in_chrome(h):
                continue
            subj = subject
            m = re.search(r"(?:features of|features for|included in)\s+(.+)$", ht, re.I)
            if m and self.name_ok(m.group(1)):
                subj = m.group(1)
            if not subj:
                continue
            section = self.section_after(h)
            subheads = [x for block in section for x in block.iter("h3", "h4", "h5", "h6", "dt")]
            nested = any(len(self.item_group(self.section_after(x))) >= 2 for x in subheads)
            if nested:
                continue  # product headings each followed by their own items: not one product
            for block in section:
                items = [block] if block.tag == "li" else list(block.iter("li"))
                if not items:
                    items = [x for x in block.iter("h3", "h4", "h5", "dt")]
                for li in items:
                    if li.find(".//li") is not None or self.is_excluded_item(li):
                        continue
                    if any(id(a) in self.card_of for a in self.ancestors(li, 10)):
                        continue
                    t = self.feature_text(li)
                    if t:
                        self.fact("feature", subj, "feature", t, "dom_list", ht + ": " + t)
                        self.result.feature_facts += 1

    # -- ratings and reviews --------------------------------------------------------------------
    def rating_in(self, el: HtmlElement) -> tuple[float, dict[str, Any], str] | None:
        for d in el.iter():
            if not isinstance(d.tag, str):
                continue
            toks = " ".join(class_tokens(d))
            for attr in ("data-rating", "data-score", "data-stars", "data-rating-value"):
                v = d.get(attr)
                if v and re.fullmatch(r"\d(?:[.,]\d{1,2})?", v.strip()):
                    val = float(v.replace(",", "."))
                    if 0 <= val <= 5:
                        return round(val, 3), {"best_rating": 5.0, "raw_value": val}, f"{attr}={v}"
            for attr in ("aria-label", "title", "alt"):
                v = d.get(attr)
                if v and re.search(r"star|rat|out of|/\s*5", v, re.I):
                    r = rating_from_text(v)
                    if r:
                        return r[0], r[1], v
            if re.search(r"star|rating", toks):
                style = " ".join((x.get("style") or "") for x in d.iter() if isinstance(x.tag, str))
                w = re.search(r"width\s*:\s*(\d{1,3}(?:\.\d+)?)%", style)
                if w and not rating_from_text(self.text(d)):
                    val = float(w.group(1)) / 100 * 5
                    if 0 <= val <= 5:
                        return round(val, 3), {"best_rating": 5.0, "raw_value": val}, style[:100]
        t = self.text(el)
        # only short rating-looking lines, not numbers inside descriptions
        for line in el_text(el, lines=True).split("\n"):
            if len(line) <= 200:
                r = rating_from_text(line)
                if r and (re.search(r"out of|/\s*5|star|★|☆|⭐|rat|von 5|sur 5|de 5", line, re.I)):
                    if "review_count" not in r[1]:
                        c = _COUNT_RE.search(t)
                        if c and re.sub(r"[,.]", "", c.group(1)).isdigit():
                            r[1]["review_count"] = int(re.sub(r"[,.]", "", c.group(1)))
                    return r[0], r[1], line
        return None

    def rating_signals(self, el: HtmlElement) -> int:
        """How many distinct ratings an element shows (0, 1, or 2 meaning several)."""
        values: set[float] = set()
        for d in el.iter():
            if not isinstance(d.tag, str):
                continue
            for a in ("data-rating", "data-score", "data-stars", "data-rating-value"):
                v = (d.get(a) or "").strip()
                if re.fullmatch(r"\d(?:[.,]\d{1,2})?", v):
                    values.add(round(float(v.replace(",", ".")), 2))
            for a in ("aria-label", "title"):
                v = d.get(a) or ""
                if re.search(r"star|out of|/\s*5|von 5|sur 5", v, re.I):
                    r = rating_from_text(v)
                    if r:
                        values.add(round(r[0], 2))
            if d.text and (_STAR_GLYPHS.search(d.text) or _RATING_RE.search(d.text)):
                r = rating_from_text(d.text)
                if r:
                    values.add(round(r[0], 2))
            if len(values) > 1:
                return 2
        return len(values)

    def review_author(self, b: HtmlElement, body_el: HtmlElement | None) -> str | None:
        """The author of a review block: an author/byline element, a cite, or a meta line."""
        for d in b.iter():
            if not isinstance(d.tag, str) or d is body_el or d is b:
                continue
            toks = set(class_tokens(d))
            if (
                toks & {"author", "reviewer", "byline", "user", "customer", "name", "meta", "by"}
                or d.get("itemprop") == "author"
                or d.tag in ("cite", "footer")
            ):
                t = self.text(d)
                for tm in d.iter("time"):
                    t = t.replace(self.text(tm), " ")
                t = _DATE_TEXT.sub(" ", t)
                t = re.split(r"\s[·|•,]\s|\s[—–-]\s|,\s", norm_space(t).strip("—–-~·| "))[0]
                t = re.sub(r"^(?:by|von|par)\s+", "", t.strip("—–-~·| "), flags=re.I)
                if 1 < len(t) <= 60 and re.match(r"[^\W\d_]", t) and not rating_from_text(t):
                    return t
        return None

    def review_subject(self, b: HtmlElement, full: str) -> str | None:
        """The product a review block is about: a "Product: X" label or a known name in it."""
        for line in el_text(b, lines=True).split("\n"):
            m = re.match(
                r"^(?:product|item|model|plan|reviewed|produkt|produit|artikel)\s*:\s*(.{2,100})$",
                line,
                re.I,
            )
            if m and self.name_ok(m.group(1)):
                return norm_space(m.group(1))
        low = full.casefold()
        for name in sorted({*self.known, *self.result.names}, key=len, reverse=True):
            if len(name) >= 4 and name.casefold() in low:
                return name
        return None

    def reviews(self, subject: str | None) -> None:
        seen: set[int] = set()
        blocks: list[HtmlElement] = []
        for el in iter_elements(self.body):
            if id(el) in seen or el is self.body:
                continue
            toks = set(class_tokens(el))
            named = bool(toks & {"review", "testimonial", "comment", "feedback", "quote"}) or (
                el.get("itemprop") == "review"
            )
            if not named and el.tag != "blockquote":
                continue
            sibs = self.sibs.similar_siblings(el)
            if len(sibs) < 2 and el.get("itemprop") != "review":
                continue
            for s in sibs:
                if id(s) not in seen:
                    seen.add(id(s))
                    for d in s.iterdescendants():
                        seen.add(id(d))
                    blocks.append(s)
        # Unnamed review blocks: repeated siblings that each carry one rating and some text.
        for el in self.elements:
            if id(el) in seen or el is self.body or el.tag in ("li", "tr", "td", "a", "span"):
                continue
            sibs = self.sibs.similar_siblings(el)
            if len(sibs) < 2:
                continue
            good = [
                x
                for x in sibs
                if len(self.text(x)) >= 40
                and not any(
                    n.current and x in [n.el, *n.el.iterancestors()] for n in self.all_nodes
                )
                and self.rating_signals(x) == 1
            ]
            if len(good) >= 2 and len(good) >= 0.6 * len(sibs):
                for x in good:
                    seen.add(id(x))
                    for d in x.iterdescendants():
                        seen.add(id(d))
                    blocks.append(x)
        blocks.sort(key=lambda b: self.order.get(id(b), 0))
        for b in blocks:
            if any(id(a) in self.card_of for a in [b, *self.ancestors(b, 10)]):
                continue
            full = self.text(b)
            if len(full) < 25 or looks_like_injection(full):
                continue
            body_el = None
            for d in b.iterdescendants():
                if not isinstance(d.tag, str) or d.tag in (*_HEADINGS, "a", "time", "cite"):
                    continue
                t = self.text(d)
                if len(t) >= 0.9 * len(full) and len(d):
                    continue  # a wrapper around the whole block
                if body_el is None or len(t) > len(self.text(body_el)):
                    body_el = d
            body = self.text(body_el) if body_el is not None else full
            if len(body) < 15:
                continue
            extra: dict[str, Any] = {}
            r = self.rating_in(b)
            if r:
                extra["rating"] = r[0]
                extra["best_rating"] = 5.0
            author = self.review_author(b, body_el)
            if author:
                extra["author"] = author
            tm = b.find(".//time")
            if tm is not None:
                extra["date"] = tm.get("datetime") or self.text(tm)
            else:
                dm = _DATE_TEXT.search(full)
                if dm:
                    extra["date"] = dm.group(0)
            for h in b.iter(*_HEADINGS):
                if self.text(h) and self.text(h) not in body:
                    extra["title"] = self.text(h)[:200]
                    break
            subj = self.review_subject(b, full) or subject
            if not subj:
                continue
            self.result.review_blocks += 1
            self.fact(
                "review",
                subj,
                "review_sentiment_text",
                body[:2000],
                "dom_review",
                body,
                extra=extra,
            )

    # -- product page -----------------------------------------------------------------------
    def title_heading(self) -> HtmlElement | None:
        """The page's main heading: the only ``h1``; else the heading that repeats the document
        title ("Name — Brand"); else the only heading of the page."""
        heads = [h for h in self.body.iter(*_HEADINGS) if self.text(h)]
        h1s = [h for h in heads if h.tag == "h1"]
        if len(h1s) == 1:
            return h1s[0]
        if h1s:
            return None
        parts = [
            norm_space(x).casefold()
            for x in re.split(r"\s+(?:[|–—·:»›-]|::)\s+", self.title or "")
            if len(norm_space(x)) >= 3
        ]
        # a heading that is only a link to the home page is the site logo, not a title
        heads = [h for h in heads if not self.is_logo(h)]
        for part in parts if len(parts) >= 2 else []:
            same = [h for h in heads if norm_space(self.text(h)).casefold() == part]
            if len(same) == 1:
                return same[0]
        return heads[0] if len(heads) == 1 else None

    def in_chrome(self, el: HtmlElement) -> bool:
        """Inside the site's header, footer, navigation or sidebar."""
        for a in [el, *self.ancestors(el, 15)]:
            if a.tag in ("header", "footer", "nav", "aside"):
                return True
            if set(class_tokens(a)) & _CHROME_TOKENS:
                return True
        return False

    def is_logo(self, h: HtmlElement) -> bool:
        links = list(h.iter("a"))
        if len(links) != 1 or norm_space(self.text(links[0])) != norm_space(self.text(h)):
            return False
        href = (links[0].get("href") or "").strip()
        return (
            href in ("/", "./", "", "index.html", "/index.html")
            or href.rstrip("/").count("/") == 2
            and href.startswith("http")
        )

    def product_page(self, nodes: list[PriceNode], blog_like: bool) -> None:
        h1 = self.title_heading()
        if h1 is None or blog_like:
            return
        name = self.text(h1)
        if not self.name_ok(name) or _GENERIC_HEADINGS.match(name):
            return
        pos = self.order.get(id(h1), 0)
        heads_between = 0
        chars = 0
        chosen: list[PriceNode] = []
        by_el: dict[int, list[PriceNode]] = {}
        for n in nodes:
            by_el.setdefault(id(n.el), []).append(n)
        for el in self.elements[pos + 1 :]:
            if id(el) in self.card_of or id(el) in self.product_blocks:
                break  # other products come first: the heading is a listing title
            if el.tag in _HEADINGS:
                heads_between += 1
                if heads_between > 2:
                    break
            chars += len((el.text or "").strip()) + len((el.tail or "").strip())
            if chars > 1500:
                break
            for n in by_el.get(id(el), []):
                if (
                    n.el is el
                    and n.current
                    and id(el) not in self.used_prices
                    and (not chosen or (n.price.unit != chosen[0].price.unit and len(chosen) < 2))
                ):
                    chosen.append(n)
            if chosen and chars > 300:
                break
        if not chosen:
            return
        container = h1
        for a in self.ancestors(h1, 8):
            if chosen[0].el in a.iterdescendants():
                container = a
                break
        if _SALARY_CONTEXT.search(self.text(container)[:3000]):
            return
        if (
            container is not self.body
            and container.tag not in ("main", "html")
            and looks_like_injection(self.text(container))
        ):
            self.result.warnings.append(
                f"instruction-like text in the product block ignored: {name[:60]}"
            )
            return
        self.result.product_page_name = name
        self.result.names.append(name)
        old = [n.price.amount for n in nodes if not n.current and container in n.el.iterancestors()]
        for n in chosen:
            self.used_prices.add(id(n.el))
            extra: dict[str, Any] = {"layout": "product_page"}
            if old:
                extra["old_price"] = old[0]
            if self.allow_products:
                self.fact(
                    "product",
                    name,
                    "price",
                    n.price.amount,
                    "dom_product_page",
                    f"{name} {n.text}",
                    currency=n.price.currency,
                    unit=n.price.unit,
                    extra=extra,
                )
        r = self.rating_in(container) if container is not h1 else None
        if r:
            self.fact("rating", name, "rating", r[0], "dom_rating", r[2], extra=r[1])
        if container is not h1:
            self.emit_features(name, self.item_group([container], marked_only=True), name)

    # -- tables -----------------------------------------------------------------------------
    def grid(self, table: HtmlElement) -> list[list[HtmlElement]]:
        rows: list[list[HtmlElement]] = []
        for tr in table.iter("tr"):
            # skip rows of nested tables
            if next((a for a in tr.iterancestors("table")), None) is not table:
                continue
            row: list[HtmlElement] = []
            for cell in tr:
                if cell.tag not in ("td", "th"):
                    continue
                span = cell.get("colspan") or "1"
                n = int(span) if span.isdigit() and 0 < int(span) < 20 else 1
                row.extend([cell] * n)
            if row:
                rows.append(row)
        return rows

    def cell_checked(self, cell: HtmlElement) -> bool | None:
        t = norm_space(self.text(cell))
        if t and _CHECK_TEXT.match(t):
            return True
        if _CROSS_TEXT.match(t):
            for el in cell.iter():
                if not isinstance(el.tag, str):
                    continue
                toks = set(class_tokens(el))
                label = (el.get("aria-label") or el.get("title") or el.get("alt") or "").lower()
                if toks & _CROSS_TOKENS or re.search(r"not included|unavailable|\bno\b", label):
                    return False
                if toks & _CHECK_TOKENS or re.search(r"included|available|\byes\b|check", label):
                    return True
            return False
        if re.match(r"^[✓✔✅☑√]", t):
            return True
        return None

    def tables(self) -> None:
        for table in self.body.iter("table"):
            rows = self.grid(table)
            if len(rows) < 2 or looks_like_injection(self.text(table)):
                continue
            width = max(len(r) for r in rows)
            if width < 2 or table.find(".//table") is not None:
                continue  # layout tables (holding other tables) are not data
            hi = 0
            for i, r in enumerate(rows[:3]):
                if all(c.tag == "th" for c in r) or r[0].getparent().getparent().tag == "thead":
                    hi = i
                    break
            header = [self.text(c) for c in rows[hi]]
            body = rows[hi + 1 :]
            if not body:
                continue
            if _SALARY_CONTEXT.search(" ".join(header)):
                continue
            hdr_price = [j for j, h in enumerate(header) if _PRICE_HDR.search(h) and len(h) < 40]
            hdr_name = [j for j, h in enumerate(header) if _NAME_HDR.search(h) and len(h) < 40]
            header_has_prices = any(m.is_current for h in header[1:] for m in find_prices(h))
            row_labels = [self.text(r[0]) for r in body if r]
            price_label_rows = [
                i for i, lab in enumerate(row_labels) if _PRICE_HDR.search(lab) and len(lab) < 40
            ]
            cells = [c for r in body for c in r[1:]]
            marks = sum(1 for c in cells if self.cell_mark(c) is not None)
            comparison = bool(
                header_has_prices or price_label_rows or (cells and marks / len(cells) >= 0.3)
            )
            if hdr_price and not comparison:
                self.table_rows(header, body, hdr_price[0], hdr_name)
            elif comparison and width >= 3 or header_has_prices or price_label_rows:
                done = self.table_columns(header, body, price_label_rows)
                if not done and hdr_price:
                    self.table_rows(header, body, hdr_price[0], hdr_name)
            elif self.table_reviews(header, body, hdr_name):
                pass
            elif width == 2:
                # two columns, no header words: name | price pairs
                col_prices = sum(
                    1 for r in body if len(r) > 1 and self.cell_price(r[1], self.currency, False)
                )
                if col_prices >= max(2, len(body) * 0.6):
                    self.table_rows(header, rows, 1, [0], header_is_data=True)

    def cell_mark(self, cell: HtmlElement) -> bool | None:
        """A check (True) or cross (False) mark in a cell; None for any other content."""
        t = norm_space(self.text(cell))
        if t and _CHECK_TEXT.match(t) and not t.isalpha():
            return True
        if t and re.fullmatch(r"[✗✘×✕❌⨯–—-]+", t):
            return False
        if t and t.lower() in ("yes", "no", "included", "not included", "ja", "nein", "oui", "non"):
            return t.lower() in ("yes", "included", "ja", "oui")
        if not t:
            for el in cell.iter():
                if not isinstance(el.tag, str) or el is cell:
                    continue
                toks = set(class_tokens(el))
                if toks & _CROSS_TOKENS:
                    return False
                if toks & _CHECK_TOKENS:
                    return True
        return None

    def table_reviews(
        self, header: list[str], body: list[list[HtmlElement]], hdr_name: list[int]
    ) -> bool:
        """A table of reviews: a long-text column, a rating column, a product column."""
        width = max(len(r) for r in body)
        if width < 2 or len(body) < 2:
            return False
        cols = range(width)

        def col(j: int) -> list[HtmlElement]:
            return [r[j] for r in body if j < len(r)]

        text_col = next(
            (j for j in cols if sum(len(self.text(c)) for c in col(j)) / len(body) >= 40), None
        )
        rating_col = next(
            (
                j
                for j in cols
                if j != text_col and sum(1 for c in col(j) if self.rating_in(c)) >= 0.6 * len(body)
            ),
            None,
        )
        if text_col is None or rating_col is None:
            return False
        name_col = next((j for j in hdr_name if j not in (text_col, rating_col)), None)
        author_col = next(
            (
                j
                for j, h in enumerate(header)
                if _AUTHOR_HDR.search(h) and j not in (text_col, rating_col, name_col)
            ),
            None,
        )
        for r in body:
            if len(r) <= max(text_col, rating_col):
                continue
            text_cell = r[text_col]
            paras = [p for p in text_cell.iter("p") if self.text(p)]
            lines = el_text(text_cell, lines=True).split("\n")
            body_text = max([self.text(p) for p in paras] or lines, key=len)
            if len(body_text) < 15 or looks_like_injection(self.text(text_cell)):
                continue
            subj = None
            if name_col is not None and name_col < len(r) and self.name_ok(self.text(r[name_col])):
                subj = norm_space(self.text(r[name_col]))
            subj = subj or self.review_subject(r[0].getparent(), self.text(r[0].getparent()))
            subj = subj or self.subject_hint
            if not subj:
                continue
            extra: dict[str, Any] = {"layout": "table"}
            rr = self.rating_in(r[rating_col])
            if rr:
                extra["rating"] = rr[0]
                extra["best_rating"] = 5.0
            if author_col is not None and author_col < len(r):
                a = el_text(r[author_col], lines=True).split("\n")[0]
                a = norm_space(_DATE_TEXT.sub(" ", a))
                if 1 < len(a) <= 60:
                    extra["author"] = a
            dm = _DATE_TEXT.search(self.text(r[0].getparent()))
            if dm:
                extra["date"] = dm.group(0)
            if len(lines) > 1 and lines[0] != body_text and len(lines[0]) <= 120:
                extra["title"] = lines[0]
            self.result.review_blocks += 1
            self.fact(
                "review",
                subj,
                "review_sentiment_text",
                body_text[:2000],
                "dom_review",
                body_text,
                extra=extra,
            )
        return True

    def cell_price(self, cell: HtmlElement, currency: str | None, bare: bool) -> Price | None:
        t = self.text(cell)
        if not t or len(t) > 80:
            return None
        ms = [m for m in find_prices(t, default_currency=currency, bare_numbers=bare)]
        for m in ms:
            if m.is_current and self.prominent(t, m) and not self.is_struck(cell):
                struck = [d for d in cell.iter("del", "s", "strike") if m.price.raw in self.text(d)]
                if struck:
                    continue
                return m.price
        return None

    def cell_name(self, cell: HtmlElement) -> str | None:
        for el in cell.iter("a", "strong", "b", "h2", "h3", "h4", "h5", "span"):
            if el is cell:
                continue
            t = self.text(el)
            if self.name_ok(t) and len(t) >= 3 and el.tag != "span":
                return t
        lines = el_text(cell, lines=True).split("\n")
        first = lines[0] if lines else ""
        return first if self.name_ok(first) else None

    def table_rows(
        self,
        header: list[str],
        body: list[list[HtmlElement]],
        pc: int,
        name_cols: list[int],
        header_is_data: bool = False,
    ) -> None:
        hdr_currency = None
        if not header_is_data and pc < len(header):
            ms = find_prices(header[pc] + " 1", default_currency=None)
            hdr_currency = ms[0].price.currency if ms else None
            m = re.search(r"\b([A-Z]{3})\b", header[pc])
            if m and not hdr_currency:
                from orchestration_project.research.extraction.prices import normalize_currency

                hdr_currency = normalize_currency(m.group(1))
        currency = hdr_currency or self.currency
        nc = next((j for j in name_cols if j != pc), None)
        if nc is None:
            nc = next(
                (
                    j
                    for j in range(len(header))
                    if j != pc
                    and sum(1 for r in body if j < len(r) and self.cell_name(r[j]))
                    >= len(body) * 0.5
                ),
                None,
            )
        if nc is None:
            return
        for r in body:
            if len(r) <= max(pc, nc) or r[nc] is r[pc]:
                continue
            name = self.cell_name(r[nc])
            price = self.cell_price(r[pc], currency, bare=not header_is_data)
            if not name or not price:
                continue
            if self.allow_products:
                self.fact(
                    "product",
                    name,
                    "price",
                    price.amount,
                    "dom_table",
                    " | ".join(self.text(c) for c in r),
                    currency=price.currency or currency,
                    unit=price.unit,
                    extra={"layout": "table"},
                )
            self.result.names.append(name)
            self.result.table_products += 1
            tbl = next(r[0].iterancestors("table"), None)
            if tbl is not None:
                self.product_blocks.add(id(tbl))
            rr = self.rating_in(r[0].getparent())
            if rr:
                self.fact("rating", name, "rating", rr[0], "dom_rating", rr[2], extra=rr[1])

    def table_columns(
        self, header: list[str], body: list[list[HtmlElement]], price_rows: list[int]
    ) -> bool:
        products: dict[int, str] = {}
        header_prices: dict[int, Price] = {}
        for j, h in enumerate(header):
            if j == 0:
                continue
            t = h
            ms = find_prices(t)
            if ms:
                cur = [m for m in ms if m.is_current]
                if cur:
                    header_prices[j] = cur[0].price
                for m in ms:
                    t = t.replace(m.price.raw, " ")
                t = re.sub(r"\b(?:per|/)\s*(?:month|mo|year|yr|user)\b", " ", t, flags=re.I)
                t = norm_space(re.sub(r"\s[/|]\s*$", "", t))
            if self.name_ok(t) and not _PRICE_HDR.fullmatch(t.strip()):
                products[j] = t
        if len(products) < 2:
            return False
        any_fact = False
        for j, p in header_prices.items():
            if j in products and self.allow_products:
                self.fact(
                    "product",
                    products[j],
                    "price",
                    p.amount,
                    "dom_table",
                    " | ".join(header),
                    currency=p.currency,
                    unit=p.unit,
                    extra={"layout": "comparison_table"},
                )
                any_fact = True
        for i, r in enumerate(body):
            if not r:
                continue
            label = norm_space(self.text(r[0]))
            if i in price_rows:
                unit_hint = None
                um = re.search(r"month|year|annual", label, re.I)
                if um:
                    unit_hint = "year" if um.group(0).lower() in ("year", "annual") else "month"
                for j, name in products.items():
                    if j < len(r) and r[j] is not r[0]:
                        price = self.cell_price(r[j], self.currency, bare=True)
                        if price and self.allow_products:
                            self.fact(
                                "product",
                                name,
                                "price",
                                price.amount,
                                "dom_table",
                                f"{label} | {name} | {self.text(r[j])}",
                                currency=price.currency,
                                unit=price.unit or unit_hint,
                                extra={"layout": "comparison_table"},
                            )
                            any_fact = True
                continue
            if not label or len(label) > 120 or looks_like_injection(label):
                continue
            for j, name in products.items():
                if j >= len(r) or r[j] is r[0]:
                    continue
                checked = self.cell_checked(r[j])
                if checked is True:
                    self.fact(
                        "feature",
                        name,
                        "feature",
                        label,
                        "dom_table",
                        f"{label} | {name} | {self.text(r[j]) or '✓'}",
                        extra={"layout": "comparison_table"},
                    )
                    self.result.feature_facts += 1
                    any_fact = True
                elif checked is None:
                    v = norm_space(self.text(r[j]))
                    if v and len(v) <= 60 and not find_prices(v):
                        self.fact(
                            "feature",
                            name,
                            "feature",
                            f"{label}: {v}",
                            "dom_table",
                            f"{label} | {name} | {v}",
                            extra={"layout": "comparison_table", "feature": label, "value": v},
                        )
                        self.result.feature_facts += 1
                        any_fact = True
        if any_fact:
            self.result.names.extend(products.values())
            tbl = next(body[0][0].iterancestors("table"), None) if body and body[0] else None
            if tbl is not None:
                self.product_blocks.add(id(tbl))
        return any_fact

    # -- definition lists and parallel columns --------------------------------------------------
    def definition_lists(self) -> None:
        for dl in self.body.iter("dl"):
            dts = [c for c in dl if c.tag == "dt"]
            if len(dts) < 2:
                continue
            for dt in dts:
                dd = dt.getnext()
                while dd is not None and not isinstance(dd.tag, str):
                    dd = dd.getnext()
                if dd is None or dd.tag != "dd":
                    continue
                name = self.text(dt)
                if _PRICE_HDR.search(name) or not self.name_ok(name):
                    continue
                price = self.cell_price(dd, self.currency, bare=False)
                if price is None:
                    inner = [
                        n
                        for n in self.all_nodes
                        if n.current and (n.el is dd or dd in n.el.iterancestors())
                    ]
                    if len(inner) == 1:
                        price = inner[0].price
                        self.used_prices.add(id(inner[0].el))
                if price:
                    self.product_blocks.add(id(dl))
                    for n in self.all_nodes:
                        if n.el is dd or dd in n.el.iterancestors():
                            self.used_prices.add(id(n.el))
                if price and self.allow_products:
                    self.fact(
                        "product",
                        name,
                        "price",
                        price.amount,
                        "dom_list",
                        f"{name}: {self.text(dd)}",
                        currency=price.currency,
                        unit=price.unit,
                        extra={"layout": "definition_list"},
                    )
                    self.result.names.append(name)

    def parallel_columns(self, nodes: list[PriceNode]) -> None:
        unused = {id(n.el): n for n in nodes if n.current and id(n.el) not in self.used_prices}
        if len(unused) < 2:
            return
        parents: dict[int, HtmlElement] = {}
        for n in unused.values():
            p = n.el.getparent()
            if p is not None:
                parents[id(p)] = p
        for col in parents.values():
            items = [c for c in col if isinstance(c.tag, str)]
            if len(items) < 2 or not all(id(c) in unused for c in items):
                continue
            # the sibling block with as many name-only items
            for other in (col.getprevious(), col.getnext()):
                if other is None or not isinstance(other.tag, str):
                    continue
                entries = [c for c in other if isinstance(c.tag, str)]
                if len(entries) != len(items):
                    continue
                names = []
                for e in entries:
                    if find_prices(self.text(e)) or len(self.sibs.similar_siblings(e)) < 2:
                        names = []
                        break
                    cands = self.name_candidates(e, None)
                    cands = [c for c in cands if c[0] >= 3]
                    if not cands:
                        names = []
                        break
                    names.append(min(cands, key=lambda c: (-c[0], c[1]))[2])
                if not names:
                    continue
                for nm, it in zip(names, items, strict=True):
                    pn = unused[id(it)]
                    self.used_prices.add(id(it))
                    if self.allow_products:
                        self.fact(
                            "product",
                            nm,
                            "price",
                            pn.price.amount,
                            "dom_columns",
                            f"{nm} … {pn.text}",
                            currency=pn.price.currency,
                            unit=pn.price.unit,
                            extra={"layout": "parallel_columns"},
                        )
                break

    features_page = False

    def run(self, blog_like: bool) -> DomResult:
        nodes = self.find_price_nodes()
        self.all_nodes = nodes
        self.cards(nodes)
        self.tables()
        self.definition_lists()
        self.parallel_columns(nodes)
        self.product_page(nodes, blog_like)
        subject = self.result.product_page_name or self.subject_hint
        self.section_features(subject)
        self.heading_lists(self.features_page)
        self.dl_features(subject, self.features_page)
        if self.features_page:
            self.feature_cards()
        self.reviews(subject)
        if self.result.product_page_name is None and self.subject_hint:
            pass
        return self.result


_SALARY_CONTEXT = re.compile(
    r"\b(?:salary|salaries|compensation|wage|wages|pay range|base pay|per annum|stipend|"
    r"full[- ]time|part[- ]time|apply now|job description|responsibilities|requirements|"
    r"years of experience|hiring)\b",
    re.IGNORECASE,
)


def extract_dom(
    root: HtmlElement,
    url: str,
    *,
    currency: str | None = None,
    subject_hint: str | None = None,
    blog_like: bool = False,
    allow_products: bool = True,
    known_products: Iterable[str] = (),
    features_page: bool = False,
    title: str = "",
) -> DomResult:
    """Run the layout layer on a cleaned document.

    Args:
        root: the cleaned document (hidden elements and ads already removed).
        url: the page URL (for the facts).
        currency: the page's dominant currency (for bare numbers under price headers).
        subject_hint: the page's product name when known (from structured data), used for
            feature sections and reviews.
        blog_like: the page looks like an article (no "one h1 + price" product reading).
        allow_products: emit product price facts (False on noise pages such as careers).
        known_products: product names known from elsewhere (review subjects, feature headings).
        features_page: the URL/title say this is a features page (a heading followed by a list
            then names a product and its features).
        title: the document title (finds the main heading of pages without an ``h1``).

    Returns:
        The facts and layout statistics.
    """
    dom = _Dom(
        root, url, currency, subject_hint, allow_products, tuple(known_products), title=title
    )
    dom.features_page = features_page
    return dom.run(blog_like)
