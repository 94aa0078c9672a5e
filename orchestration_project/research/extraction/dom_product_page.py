"""Layout layer: the product page (one main heading followed closely by a prominent price).

Also the page-structure helpers it needs: the main heading, site chrome and logo headings.
"""

from __future__ import annotations

import re
from typing import Any

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import class_tokens
from orchestration_project.research.extraction.dom_base import DomBase, PriceNode
from orchestration_project.research.extraction.dom_signals import (
    GENERIC_HEADINGS,
    HEADINGS,
    RESULTS_HEADING,
    SALARY_CONTEXT,
    looks_like_injection,
)
from orchestration_project.research.extraction.facts import norm_space
from orchestration_project.research.extraction.price_kinds import offer_kind
from orchestration_project.research.extraction.unpriced import price_model

__all__ = ["MAIN_HEADING_MAX", "ProductPageMixin"]

MAIN_HEADING_MAX = 300
"""The longest product name read from a product page's main heading. Marketplace titles run
long (keyword-stuffed listing titles of 150–250 characters); a card's name stays capped lower,
where a long text is more likely a description than a name."""

_PAGE_CTA = re.compile(
    r"^(?:add to (?:cart|basket|bag)|buy(?: it)? now|order now|in den warenkorb|ajouter au panier|"
    r"añadir al carrito|aggiungi al carrello|sold out|out of stock|currently unavailable|"
    r"ausverkauft|épuisé|agotado|notify me(?: when available)?|request (?:a )?quote|"
    r"get (?:a )?quote)[\s!.]*$",
    re.IGNORECASE,
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


class ProductPageMixin(DomBase):
    """The single product of a product page and its main heading."""

    # -- product page -----------------------------------------------------------------------
    def title_heading(self) -> HtmlElement | None:
        """The page's main heading: the only ``h1``; else the heading that repeats the document
        title ("Name — Brand"); else the only heading of the page."""
        heads = [h for h in self.body.iter(*HEADINGS) if self.text(h)]
        h1s = [h for h in heads if h.tag == "h1"]
        if len(h1s) == 1:
            return h1s[0]
        if len({norm_space(self.text(h)).casefold() for h in h1s}) == 1:
            return h1s[0]  # one title in two layouts (mobile and desktop copies)
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

    def heading_name(self, h1: HtmlElement) -> str:
        """The product's name in the main heading: the heading's own name element when it has
        one (``<h1><span id="productTitle">Name</span> <span>Hardcover</span> <span>– 1 Feb
        2007</span></h1>``: the format and date beside it are not the name), else its text."""
        whole = self.text(h1)
        for d in h1.iterdescendants():
            if not isinstance(d.tag, str):
                continue
            marks = f"{d.get('id') or ''} {d.get('class') or ''} {d.get('itemprop') or ''}"
            if re.search(r"title|name", marks, re.IGNORECASE):
                t = self.text(d)
                if t and len(t) < len(whole) and whole.startswith(t):
                    return t
        return whole

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
        name = self.heading_name(h1)
        if (
            not self.name_ok(name, max_len=MAIN_HEADING_MAX)
            or GENERIC_HEADINGS.match(name)
            or RESULTS_HEADING.search(name)
        ):
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
            if el.tag in HEADINGS:
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
            self.unpriced_product_page(h1, name)
            return
        container = h1
        for a in self.ancestors(h1, 8):
            if chosen[0].el in a.iterdescendants():
                container = a
                break
        if SALARY_CONTEXT.search(self.text(container)[:3000]):
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
        ident = self.page_identity(container)
        self.remember_ids(name, ident)
        old = [n.price.amount for n in nodes if not n.current and container in n.el.iterancestors()]
        for n in chosen:
            self.used_prices.add(id(n.el))
            extra: dict[str, Any] = {
                "layout": "product_page",
                "name_source": "heading",
                **ident,
                **price_model(n.price),
            }
            if old:
                extra["old_price"] = old[0]
            if n is chosen[0] and (top := self.range_top(n.el, n.price.amount)) is not None:
                extra.update(price_kind="from", price_max=top)  # variants' price range
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

    # -- product page without a price ---------------------------------------------------------
    def page_identity(self, container: HtmlElement) -> dict[str, str]:
        """The identifiers of the page's product: its canonical URL and the SKU/GTIN/MPN the
        product block states."""
        ids = self.block_ids(container) if container is not self.body else {}
        url = self.page_product_url()
        return {**ids, "product_url": url} if url else ids

    def unpriced_product_page(self, h1: HtmlElement, name: str) -> None:
        """A product page that shows no amount: one main heading, no cards, and a buy, quote or
        contact button (or a "Price on request" label) in the heading's block."""
        if not self.allow_products or self.card_of or self.result.table_products:
            return
        if getattr(self, "features_page", False):
            return
        if self.in_chrome(h1):
            return
        block = h1
        for a in self.ancestors(h1, 5):
            if len(self.text(a)) > 4000 or a is self.body:
                break
            block = a
        if block is h1 or looks_like_injection(self.text(block)):
            return
        labels = [
            self.text(b) or (b.get("value") or "")
            for b in block.iter("a", "button", "input")
            if isinstance(b.tag, str)
        ]
        # a label that is not a button ("Price on request", "Free"): the price, stated
        kind = next(
            (
                k
                for el in block.iter()
                if isinstance(el.tag, str)
                and el.tag not in ("a", "button")
                and not any(a.tag in ("a", "button") for a in el.iterancestors())
                and (k := offer_kind(self.text(el)))
            ),
            None,
        )
        ctas = [t for t in labels if _PAGE_CTA.match(t)]
        if kind is None and not ctas:
            return
        quote = any(re.search(r"quote", t, re.IGNORECASE) for t in ctas)
        kind = kind or ("contact" if quote else "none")
        ident = self.page_identity(block)
        self.remember_ids(name, ident)
        extra: dict[str, Any] = {
            "layout": "product_page",
            "name_source": "heading",
            **ident,
            "price_kind": kind,
        }
        self.result.product_page_name = name
        self.result.names.append(name)
        if kind == "free":
            self.fact(
                "product",
                name,
                "price",
                0.0,
                "dom_product_page",
                self.text(block),
                currency=self.currency,
                extra=extra,
            )
        else:
            self.fact(
                "product", name, "offer", kind, "dom_product_page", self.text(block), extra=extra
            )
