"""Shared state and helpers of the layout layer: the result record, price nodes, names.

:class:`DomBase` holds one document's state (cached texts, element order, the prices and blocks
already used) and the helpers every part of the layer needs: fact recording, ancestors, struck
prices, name checks and the name-like elements of a block. The ``dom_*`` mixins add the layouts
(cards, tables, lists, product page, features, ratings and reviews) and call each other's
methods through ``self``; ``dom_facts._Dom`` combines them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import (
    CANONICAL_ATTR,
    SiblingIndex,
    class_tokens,
    el_text,
    iter_elements,
)
from orchestration_project.research.extraction.dom_signals import (
    CTA,
    FILLER,
    HEADINGS,
    looks_like_injection,
    rating_from_text,
)
from orchestration_project.research.extraction.facts import (
    CONFIDENCE,
    IDENTIFIER_KEYS,
    ExtractedFact,
    is_truncated,
    make_fact,
    norm_space,
    normalize_product_url,
    strip_ellipsis,
)
from orchestration_project.research.extraction.prices import Price, PriceMatch, find_prices

__all__ = ["FULL_NAME_MAX", "DomBase", "DomResult", "PriceNode"]

FULL_NAME_MAX = 300
"""The longest full name read from a link ``title`` or image ``alt`` behind a shortened card
name (marketplace titles run to 150–250 characters)."""

_OLD_CLASS = re.compile(
    r"(?:^|[-_])(?:old|was|strike|striked|strike[-_]?through|crossed|"
    r"line[-_]?through|compare-?at|compareat|original|previous|before|retail)(?:[-_]|$)",
    re.IGNORECASE,
)
_BADGE = re.compile(
    r"^(?:most popular|popular|best value|discount \d+ ?%|-?\d+ ?% (?:off|discount)|best price!?|best seller|bestseller|recommended|"
    r"new|sale|hot|limited(?: offer)?|featured|on sale|save \d+%|-?\d+% off|top rated|"
    r"editor'?s choice|staff pick|deal|special offer|exclusive|trending|in stock|"
    r"out of stock|sold out|free (?:shipping|delivery|returns|one-day delivery)|new listing|"
    r"new arrivals?|just in|back in stock|"
    r"clearance|last chance)[\s!.]*$",
    re.IGNORECASE,
)

# Account and checkout actions written as sentences, never a product's name.
_ACCOUNT_ACTION = re.compile(
    r"^(?:sign|log)\s?(?:in|on|up|out)\b|^(?:create|open|register)\s+(?:an?\s+|your\s+)?account\b"
    r"|^(?:add|save)\s+to\s+(?:cart|basket|bag|wish\s?list|list)\b|^(?:proceed|go)\s+to\s+checkout\b"
    # a buy-box line: "Buy New £48.44", "Save $5.00", "Rent it for €3"
    r"|^(?:buy|rent|order|pre-?order|save|get)\b(?:\s+[\w-]+){0,3}\s*[£$€¥]\s?\d",
    re.IGNORECASE,
)

# Link targets that are actions, not the product's page.
_ACTION_HREF = re.compile(
    r"(?:^|[/?&=_-])(?:cart|basket|checkout|add[-_]?to|wishlist|compare|login|signin|sign-in|"
    r"signup|sign-up|register|account|share|mailto|tel|javascript)(?:$|[/?&=_.-])",
    re.IGNORECASE,
)
# Words an image alt or link title adds that are about the picture, not the product.
_MEDIA_WORDS = re.compile(
    r"\b(?:image|images|photo|picture|pic|bild|foto|thumbnail|thumb|view|zoom|front|back|side|"
    r"detail|gallery|icon|logo|illustration|graphic|avatar|\d+\s+of\s+\d+)\b",
    re.IGNORECASE,
)
_ID_ATTR = re.compile(
    r"^data-(?:product[-_]?|item[-_]?)?"
    r"(?P<k>sku|gtin(?:8|12|13|14)?|ean|upc|mpn|product[-_]?id|item[-_]?id|id)$",
    re.IGNORECASE,
)
_ID_PROPS = {"sku": "sku", "mpn": "mpn", "gtin": "gtin", "gtin8": "gtin", "gtin12": "gtin"}
_ID_PROPS |= {"gtin13": "gtin", "gtin14": "gtin", "productid": "sku"}


def _struck_mark(a: HtmlElement) -> bool:
    """The element itself strikes its text through or marks an old price."""
    if a.tag in ("del", "s", "strike"):
        return True
    if "line-through" in (a.get("style") or "").replace(" ", ""):
        return True
    return any(_OLD_CLASS.search(c) for c in (a.get("class") or "").split())


def _struck_below(d: HtmlElement, top: HtmlElement) -> bool:
    """``d`` or an element between it and ``top`` (excluded) is struck through."""
    x: HtmlElement | None = d
    while x is not None and x is not top:
        if _struck_mark(x):
            return True
        x = x.getparent()
    return False


def _loose(text: str) -> str:
    """Lower case, punctuation as spaces: for comparing a shown name with a fuller one."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w]+", " ", text.casefold())).strip()


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


class DomBase:
    """One document's state and the helpers shared by the layout mixins."""

    all_nodes: list[PriceNode]  # every price node of the page, set by ``run``

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
        # name -> identifiers of the products named so on this page (None: two differ)
        self.ids_of_name: dict[str, dict[str, str] | None] = {}

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
        subject = norm_space(subject)[:FULL_NAME_MAX]
        if not subject:
            return
        penalty = kw.pop("penalty", 0.0)
        ids = self.ids_of_name.get(subject)
        if ids and kind != "product":
            # a rating, review or feature of a product this page identified
            kw["extra"] = {**ids, **(kw.get("extra") or {})}
        self.result.facts.append(
            make_fact(
                kind,
                subject,
                attribute,
                value,
                source_url=self.url,
                confidence=round(CONFIDENCE[conf_key] - penalty, 3),
                method="dom",
                evidence=norm_space(evidence),
                **kw,
            )
        )

    # -- product identity and names -------------------------------------------------------
    def remember_ids(self, name: str, ids: dict[str, str]) -> None:
        """Note the identifiers of a product named ``name`` on this page (for its other facts);
        two products with one name and different identifiers leave the name unidentified."""
        name = norm_space(name)[:FULL_NAME_MAX]
        if name in self.ids_of_name and self.ids_of_name[name] != ids:
            self.ids_of_name[name] = None
        else:
            self.ids_of_name[name] = dict(ids)

    def page_product_url(self) -> str | None:
        """The page's own product URL: its canonical URL, else the URL it was fetched from."""
        canonical = self.root.get(CANONICAL_ATTR)
        return normalize_product_url(urljoin(self.url, canonical) if canonical else self.url)

    def element_named(self, block: HtmlElement, name: str) -> HtmlElement | None:
        """The smallest element of ``block`` whose text is ``name`` (the name as displayed)."""
        found = None
        for el in block.iter():
            if isinstance(el.tag, str) and norm_space(self.text(el)) == name:
                found = el  # document order: the last match is the innermost
            elif found is not None and not any(a is found for a in el.iterancestors()):
                break
        return found

    def product_link(self, card: HtmlElement, name_el: HtmlElement | None) -> HtmlElement | None:
        """The link to the card's product page: the link around or inside the name, else the
        one link target shared by the card's titled or image links (never a cart or sign-up
        action)."""

        def usable(a: HtmlElement) -> bool:
            href = (a.get("href") or "").strip()
            if not href or href.startswith("#") or _ACTION_HREF.search(href):
                return False
            return urlsplit(urljoin(self.url, href)).path.strip("/") != ""  # not the home page

        links = [a for a in card.iter("a") if usable(a)]
        if card.tag == "a" and usable(card):
            return card
        for a in card.iterancestors():
            if a.tag == "a" and usable(a):
                return a
            if a is self.body or len(a) > 1:
                break
        if name_el is not None:
            for a in [name_el, *name_el.iterancestors()]:
                if a is card:
                    break
                if a.tag == "a" and usable(a):
                    return a
            inner = [a for a in name_el.iter("a") if usable(a)]
            if inner:
                return inner[0]
        titled = [a for a in links if a.get("title") or a.find(".//img") is not None]
        if len({a.get("href") for a in titled}) == 1:
            return titled[0]
        return None

    def card_identity(self, card: HtmlElement, display: str) -> tuple[str, dict[str, Any]]:
        """The best name of a card's product and its identifiers.

        Names, strongest first: the product link's ``title``, the image ``alt``, the displayed
        text. A fuller name is taken only when it extends the displayed one (a display cut short
        with "…" is a prefix of it), so a caption such as "Photo of ..." never wins; a name that
        still ends with an ellipsis is marked ``truncated``.

        Args:
            card: the card element.
            display: the name as the card shows it.

        Returns:
            ``(name, extra)``: ``extra`` holds ``name_source``, ``product_url``, ``sku``,
            ``gtin``, ``mpn`` where found, and ``truncated`` when the name is cut short.
        """
        name_el = self.element_named(card, display)
        link = self.product_link(card, name_el)
        extra: dict[str, Any] = {}
        if link is not None:
            url = normalize_product_url(urljoin(self.url, (link.get("href") or "").strip()))
            if url:
                extra["product_url"] = url
        shown = _loose(strip_ellipsis(display))
        href = (link.get("href") or "").strip() if link is not None else None
        same = [a for a in card.iter("a") if href is None or (a.get("href") or "").strip() == href]
        if link is not None and not any(a is link for a in same):
            same.insert(0, link)
        fuller: list[tuple[str, str]] = [
            (norm_space(el.get("title") or ""), "link_title")
            for el in [*same, name_el]
            if el is not None and el.get("title")
        ]
        imgs = [i for a in same for i in a.iter("img")] or list(card.iter("img"))
        fuller += [(norm_space(i.get("alt") or ""), "image_alt") for i in imgs[:3]]
        name, source = display, "text"
        for cand, cand_source in fuller:
            c = _loose(cand)
            if (
                not c
                or is_truncated(cand)
                or not self.name_ok(cand, max_len=FULL_NAME_MAX)
                or not c.startswith(shown)
            ):
                continue
            added = c[len(shown) :]
            if added and (
                not is_truncated(display)
                and added[:1] not in (" ", "")
                or _MEDIA_WORDS.search(added)
            ):
                continue  # not a continuation of the shown name, or a picture caption
            if len(c) > len(_loose(name)) or is_truncated(name):
                name, source = cand, cand_source
        extra["name_source"] = source
        if is_truncated(name):
            extra["truncated"] = True
        extra.update(self.block_ids(card))
        return name, extra

    def block_ids(self, block: HtmlElement) -> dict[str, str]:
        """SKU, GTIN and MPN written on a block (``data-sku``, ``itemprop="sku"``...), each only
        when the block states a single value."""
        seen: dict[str, set[str]] = {}
        for el in block.iter():
            if not isinstance(el.tag, str):
                continue
            for attr, value in el.attrib.items():
                m = _ID_ATTR.match(attr)
                if m and value.strip():
                    k = re.sub(r"[-_]", "", m.group("k").lower())
                    if k == "id" and not re.match(r"data-(?:product|item)", attr, re.I):
                        continue  # a bare data-id names an element, not a product
                    key = {"productid": "id", "itemid": "id", "sku": "sku", "mpn": "mpn"}
                    seen.setdefault(key.get(k, "gtin"), set()).add(value.strip())
            prop = (el.get("itemprop") or "").lower()
            if prop in _ID_PROPS:
                value = (el.get("content") or self.text(el)).strip()
                if value and len(value) <= 40:
                    seen.setdefault(_ID_PROPS[prop], set()).add(value)
        if "sku" not in seen and "id" in seen:
            seen["sku"] = seen["id"]  # a shop's own product id stands in for a missing SKU
        return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1 and k in IDENTIFIER_KEYS}

    def range_top(self, el: HtmlElement, amount: float) -> float | None:
        """The upper end of a price range whose lower end is the price at ``el`` ("£12.00 –
        £18.00" across sibling elements: the variants of one product), else None."""
        for a in [el, *self.ancestors(el, 3)]:
            t = self.text(a)
            if len(t) > 120:
                break
            ms = find_prices(t, default_currency=self.currency)
            for lo, hi in zip(ms, ms[1:], strict=False):
                if (
                    "range" in lo.flags
                    and "range" in hi.flags
                    and abs(lo.price.amount - amount) < 1e-9
                    and hi.price.amount > amount
                    and lo.price.currency == hi.price.currency
                    and lo.price.unit == hi.price.unit
                ):
                    return hi.price.amount
        return None

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
        """Struck-through or marked as an old price: the element, a close ancestor, or the
        child that holds the amount's digits (``$<span class="line-through">4</span>``)."""
        for a in [el, *self.ancestors(el, 3)]:
            if _struck_mark(a):
                return True
        digits = [
            d
            for d in el.iterdescendants()
            if isinstance(d.tag, str) and re.search(r"\d", d.text or "")
        ]
        return bool(digits) and all(_struck_below(d, el) for d in digits)

    def name_ok(self, text: str, *, max_len: int = 160) -> bool:
        t = norm_space(text)
        if not (2 <= len(t) <= max_len) or not re.search(r"[^\W\d_]", t):
            return False
        if CTA.match(t) or _BADGE.match(t) or looks_like_injection(t):
            return False
        if _ACCOUNT_ACTION.match(t) or t.endswith(":"):
            return False  # "Sign in to turn on 1-click ordering"; a label such as "This item:"
        if find_prices(t) and len(FILLER.sub("", re.sub(r"[\d$€£¥.,/%\s-]", "", t))) < 3:
            return False
        return not rating_from_text(t) or len(t) > 30

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
                if id(el) in excl_anc and el.tag in HEADINGS:
                    # heading holding the price: name is the heading minus the price
                    t = self.text(el)
                    for m in find_prices(t):
                        t = t.replace(m.price.raw, " ")
                    t = norm_space(FILLER.sub(" ", t)) if len(t) > 60 else norm_space(t)
                    if self.name_ok(t):
                        out.append((4, self.order.get(id(el), 0), t))
                continue
            strength = 0
            toks = class_tokens(el)
            if el.get("itemprop") == "name":
                strength = 5
            elif el.tag in HEADINGS or el.get("role") == "heading":
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
            t = self.name_text(el)
            # headings, name-classed elements and links hold whole marketplace titles
            longest = FULL_NAME_MAX if strength >= 2 else 160
            if not self.name_ok(t, max_len=longest) and not (
                strength >= 4 and self.numeric_title(t)
            ):
                continue
            out.append((strength, self.order.get(id(el), 0), norm_space(t)))
        return out

    def name_text(self, el: HtmlElement) -> str:
        """The text of a name element without a badge glued to its start ("New Listing" in
        its own element before the name: ``<span>New Listing</span>Apple iPhone…``)."""
        t = self.text(el)
        kids = [c for c in el if isinstance(c.tag, str)]
        if kids and not (el.text or "").strip():
            first = self.text(kids[0])
            if first and _BADGE.match(first) and t.startswith(first) and len(t) > len(first):
                return t[len(first) :].strip()
        return t

    def numeric_title(self, text: str) -> bool:
        """A heading that is only a number ("2049", "7.1"): a product name when it titles a card
        (never a price, a percentage or a rating)."""
        t = norm_space(text)
        return bool(
            re.fullmatch(r"\d[\d.,:/ -]{0,10}", t)
            and not find_prices(t)
            and not rating_from_text(t)
            and "%" not in t
        )

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
