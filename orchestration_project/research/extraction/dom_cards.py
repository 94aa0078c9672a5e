"""Layout layer: price nodes and product cards.

Price nodes are the smallest elements whose short text is mostly a price; a card is the lowest
ancestor of a price node that repeats among its siblings and holds a name-like element.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from typing import Any

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import iter_elements
from orchestration_project.research.extraction.dom_base import DomBase, PriceNode
from orchestration_project.research.extraction.dom_signals import (
    FILLER,
    SALARY_CONTEXT,
    looks_like_injection,
)
from orchestration_project.research.extraction.dom_tables import ATTRIBUTE_ROW
from orchestration_project.research.extraction.facts import IDENTIFIER_KEYS
from orchestration_project.research.extraction.price_kinds import from_before, seat_after
from orchestration_project.research.extraction.prices import (
    Price,
    PriceMatch,
    find_prices,
    unit_after,
)
from orchestration_project.research.extraction.unpriced import UnpricedMixin, price_model

__all__ = ["CardsMixin", "page_currency", "price_model"]

_FREE = re.compile(
    r"^\s*(?:free|gratis|kostenlos|gratuit|gratuito|0\s*,-)(?: forever| plan|\s*!)?\s*$", re.I
)
_PRICE_CLASS = re.compile(r"price|cost|amount|fee|preis|prix|precio|prezzo|tarif|rate", re.I)
# "price--discount-percentage", "price-saving": a number there is not an amount to pay
# "toolbar-amount" ("Items 1-4 of 4"), a pager or a results counter: a count, not an amount
_NOT_AMOUNT_CLASS = re.compile(
    r"percent|saving|rating|count|qty|quantity|toolbar|pager|pagination|results|limiter", re.I
)


def page_currency(text: str) -> str | None:
    """The most frequent explicit currency among the prices of a text (``$`` counts as USD)."""
    counts = Counter(
        m.price.currency for m in find_prices(text) if m.price.currency and "bare" not in m.flags
    )
    return counts.most_common(1)[0][0] if counts else None


class CardsMixin(UnpricedMixin, DomBase):
    """Price nodes and the product cards around them."""

    # -- price nodes ----------------------------------------------------------------------------
    def find_price_nodes(self) -> list[PriceNode]:
        cands: dict[int, tuple[HtmlElement, list[PriceMatch], str]] = {}
        for el in iter_elements(self.body):
            if el is self.body or el.tag in ("html", "table", "tbody", "thead", "ul", "ol", "dl"):
                continue
            t = self.text(el)
            if not t or len(t) > 120:
                continue
            cls = el.get("class") or ""
            bare = (bool(_PRICE_CLASS.search(cls)) and not _NOT_AMOUNT_CLASS.search(cls)) or el.get(
                "itemprop"
            ) == "price"
            ms = find_prices(t, default_currency=self.currency, bare_numbers=bare)
            if not ms and bare and _FREE.match(t):
                # a price element that just says "Free": a zero price
                ms = [
                    PriceMatch(Price(0.0, self.currency, None, t, "free"), 0, len(t), frozenset())
                ]
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
                added = re.sub(r"[^\w]+", "", FILLER.sub(" ", at.replace(best_t, " ", 1)))
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
                    price = replace(price, unit=m.price.unit)
                if price.unit is None:
                    price = self.unit_from_next(best_el, best_t, price)
                if price.kind == "fixed":
                    price = self.kind_from_label(best_el, best_t, price)
                current = (
                    mm.is_current and not self.is_struck(el) and not self.context_flags(best_el, mm)
                )
                lowest = abs(mm.price.amount - ms[0].price.amount) < 1e-9
                if mm.flags == {"range"} and lowest and len(ms) <= 2:
                    # "£12.00 through £18.00", "$12-25": the variants start at the lower end
                    price, current = replace(price, kind="from"), not self.is_struck(el)
                nodes.append(PriceNode(best_el if len(ms) == 1 else el, price, mm, current, best_t))
        nodes.sort(key=lambda n: self.order.get(id(n.el), 0))
        self.result.price_nodes = sum(1 for n in nodes if n.current)
        self.result.unit_prices = sum(1 for n in nodes if n.current and n.price.unit)
        return nodes

    def context_flags(self, el: HtmlElement, m: PriceMatch) -> frozenset[str]:
        """Flags the words around the price element give it ("Get a <b>£21.25</b> Gift Card",
        "You save <span>$5</span>"): the text of up to two ancestors, while it stays short,
        read again with the price in its sentence."""
        for a in self.ancestors(el, 2):
            t = self.text(a)
            if len(t) > 60:
                break  # a whole card: its other lines are not this price's sentence
            same = [
                x
                for x in find_prices(t, default_currency=self.currency)
                if abs(x.price.amount - m.price.amount) < 1e-9
            ]
            if len(same) == 1:
                bad = same[0].flags & {"discount", "old"}
                if bad:
                    return frozenset(bad)
        return frozenset()

    def kind_from_label(self, el: HtmlElement, text: str, price: Price) -> Price:
        """``<span class="label">As low as</span><span>$45.00</span>``: a starting-price label
        in the element just before the price makes it a "from" price."""
        for a in self.ancestors(el, 2):
            at = self.text(a)
            if len(at) > 80:
                break
            idx = at.find(text)
            if idx > 0 and from_before(at[max(0, idx - 25) : idx]):
                return replace(price, kind="from")
        return price

    def unit_from_next(self, el: HtmlElement, text: str, price: Price) -> Price:
        """``<span>$29</span><span>/month</span>``: the unit (and "per user") follows the price
        element, in its parent or, through wrappers, up to three levels up while the text
        stays short."""
        for a in self.ancestors(el, 3):
            pt = self.text(a)
            if len(pt) > 160:
                break
            idx = pt.find(text)
            if idx < 0:
                break
            rest = pt[idx + len(text) :]
            unit, _ = unit_after(rest, 0)
            if unit:
                per = price.per or seat_after(rest, 0)
                return replace(price, unit=unit, per=per)
        return price

    def prominent(self, text: str, m: PriceMatch) -> bool:
        if looks_like_injection(text):
            return False
        rest = text.replace(m.price.raw, " ")
        rest = re.sub(r"\d+(?:[.,]\d+)?\s*%", " ", rest)
        rest = FILLER.sub(" ", rest)
        rest = re.sub(r"[^\w]+", "", rest)
        return len(rest) <= 24

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
        for card, shown, pns in by_card.values():
            if looks_like_injection(self.text(card)):
                self.result.warnings.append(
                    f"instruction-like text in a card ignored: {shown[:60]}"
                )
                continue
            if SALARY_CONTEXT.search(self.text(card)):
                continue
            if ATTRIBUTE_ROW.search(shown) and (
                card.tag == "tr" or next(card.iterancestors("table"), None) is not None
            ):
                continue  # a plan comparison's row ("Cost per user/month"): not a product
            name, ident = self.card_identity(card, shown)
            self.remember_ids(name, {k: v for k, v in ident.items() if k in IDENTIFIER_KEYS})
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
                extra: dict[str, Any] = {"layout": "card", **ident, **price_model(pn.price)}
                if old:
                    extra["old_price"] = old[0]
                if i:
                    extra["alternative"] = True  # e.g. the yearly price next to the monthly one
                elif (top := self.range_top(pn.el, pn.price.amount)) is not None:
                    extra.update(price_kind="from", price_max=top)  # variants' price range
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
        self.unpriced_cards([card for card, _, _ in by_card.values()])

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
