"""Layout layer: products shown without an amount, and the price model of every product fact.

A product does not need a price node to be a product:

* a card among the priced cards of one grid that shows "Free", "Contact sales" or no price at all
  (the Enterprise plan, an out-of-stock item) is a product of its own;
* a grid of repeated cards, each with a name and a link to its own page, that says it holds
  products (class words such as ``product``/``plan``, ``itemtype=Product``, a buy or contact
  button, a price label without an amount) is a listing even when no card shows a price.

Such products become ``"offer"`` facts whose value is the price kind (``"contact"`` or
``"none"``); a free one becomes a price fact of 0 with kind ``"free"``.
"""

from __future__ import annotations

import re
from typing import Any

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import class_tokens
from orchestration_project.research.extraction.dom_base import DomBase
from orchestration_project.research.extraction.dom_signals import (
    GENERIC_HEADINGS,
    SALARY_CONTEXT,
    looks_like_injection,
)
from orchestration_project.research.extraction.facts import IDENTIFIER_KEYS
from orchestration_project.research.extraction.price_kinds import offer_kind
from orchestration_project.research.extraction.prices import Price

__all__ = ["UnpricedMixin", "price_model"]

_PRODUCT_TOKENS = frozenset(
    {
        "product",
        "products",
        "plan",
        "plans",
        "pricing",
        "tier",
        "tiers",
        "offer",
        "offers",
        "sku",
        "catalog",
        "catalogue",
        "listing",
        "produkt",
        "produit",
        "producto",
        "prodotto",
        "artikel",
        "article-product",
    }
)
_BUY_CTA = re.compile(
    r"^(?:add to (?:cart|basket|bag)|buy(?: now)?|order(?: now)?|in den warenkorb|warenkorb|"
    r"ajouter au panier|añadir al carrito|aggiungi al carrello|sold out|out of stock|"
    r"ausverkauft|épuisé|agotado|notify me|request (?:a )?quote|get (?:a )?quote|"
    r"contact sales|talk to sales|choose plan|select plan|get started)[\s!.]*$",
    re.IGNORECASE,
)


def price_model(price: Price) -> dict[str, Any]:
    """The price-model fields of a fact's ``extra`` for a parsed price.

    Args:
        price: the price.

    Returns:
        ``{"price_kind": ...}`` (``"free"`` for an amount of 0, else the price's kind) plus
        ``"per"`` when the price is charged per user, seat...
    """
    out: dict[str, Any] = {"price_kind": "free" if price.amount == 0 else price.kind}
    if price.per:
        out["per"] = price.per
    return out


class UnpricedMixin(DomBase):
    """Products without a price node: unpriced siblings of priced cards and priceless grids."""

    def unpriced_cards(self, cards: list[HtmlElement]) -> None:
        """Record the unpriced products of the page (call after the priced cards).

        Args:
            cards: the priced cards found on the page.
        """
        if not self.allow_products:
            return
        priced: set[int] = set()
        for n in self.all_nodes:
            if n.current:
                priced.update(id(a) for a in [n.el, *self.ancestors(n.el, 14)])
        done = {id(c) for c in cards}
        for card in cards:
            for sib in self.sibs.similar_siblings(card):
                if id(sib) in done or id(sib) in priced:
                    continue
                done.add(id(sib))
                self.unpriced_card(sib, require_link=False)
        self.priceless_grids(done, priced)

    def offer_label(self, block: HtmlElement) -> str | None:
        """The kind of the first amount-less price label of a block ("Free", "Contact sales")."""
        for el in block.iter():
            if not isinstance(el.tag, str) or el is block:
                continue
            kind = offer_kind(self.text(el))
            if kind:
                return kind
        return None

    def unpriced_card(self, card: HtmlElement, *, require_link: bool) -> bool:
        """Record one card without a price as a product; False when it names none.

        Args:
            card: the card.
            require_link: the card must link to its product's own page.

        Returns:
            Whether a product was recorded.
        """
        text = self.text(card)
        if (
            not text
            or len(text) > 1500
            or looks_like_injection(text)
            or SALARY_CONTEXT.search(text)
        ):
            return False
        cands = [c for c in self.name_candidates(card, None) if c[0] >= 2]
        if not cands:
            return False
        top = max(c[0] for c in cands)
        shown = min((c for c in cands if c[0] == top), key=lambda c: c[1])[2]
        if top == 2 and not text.startswith(shown[:20]):
            return False  # a link that does not open the card is an action, not a name
        if GENERIC_HEADINGS.match(shown):
            return False
        name, ident = self.card_identity(card, shown)
        if require_link and "product_url" not in ident:
            return False
        kind = self.offer_label(card) or "none"
        self.remember_ids(name, {k: v for k, v in ident.items() if k in IDENTIFIER_KEYS})
        extra: dict[str, Any] = {"layout": "card", **ident, "price_kind": kind}
        if kind == "free":
            self.fact(
                "product", name, "price", 0.0, "dom_card", text, currency=self.currency, extra=extra
            )
        else:
            self.fact("product", name, "offer", kind, "dom_card_weak", text, extra=extra)
        self.card_of[id(card)] = (card, name)
        self.result.names.append(name)
        self.result.card_count += 1
        self.card_features(card, name, [])  # type: ignore[attr-defined]
        r = self.rating_in(card)  # type: ignore[attr-defined]
        if r:
            self.fact("rating", name, "rating", r[0], "dom_rating", r[2], extra=r[1])
        return True

    def priceless_grids(self, done: set[int], priced: set[int]) -> None:
        """Grids of linked, named cards that say they hold products, none with a price."""
        groups: dict[tuple[int, ...], list[HtmlElement]] = {}
        for a in self.body.iter("a"):
            el = a
            for _ in range(5):
                sibs = self.sibs.similar_siblings(el)
                if len(sibs) >= 3:
                    groups.setdefault(tuple(id(s) for s in sibs), sibs)
                    break
                parent = el.getparent()
                if parent is None or parent is self.body:
                    break
                el = parent
        for members in groups.values():
            if any(id(m) in done or id(m) in priced or id(m) in self.card_of for m in members):
                continue
            if self.in_chrome(members[0]):  # type: ignore[attr-defined]
                continue
            if not self.says_products(members):
                continue
            links = [self.product_link(m, None) for m in members]
            hrefs = {(a.get("href") or "").strip() for a in links if a is not None}
            if len(hrefs) < max(3, 0.7 * len(members)):
                continue  # cards each lead to a page of their own
            for m in members:
                done.add(id(m))
                self.unpriced_card(m, require_link=True)

    def says_products(self, members: list[HtmlElement]) -> bool:
        """Whether a group of cards declares that it holds products (class words, item types,
        buy or contact buttons, amount-less price labels)."""
        parent = members[0].getparent()
        toks = set(class_tokens(parent)) if parent is not None else set()
        for m in members:
            toks |= set(class_tokens(m))
            if re.search(r"Product|Offer", m.get("itemtype") or ""):
                return True
        if toks & _PRODUCT_TOKENS:
            return True
        hits = 0
        for m in members:
            buttons = [
                self.text(b) or (b.get("value") or "")
                for b in m.iter("a", "button", "input")
                if isinstance(b.tag, str)
            ]
            if any(_BUY_CTA.match(t) for t in buttons) or self.offer_label(m):
                hits += 1
        return hits >= max(2, len(members) // 2)
