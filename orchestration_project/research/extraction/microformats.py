"""Classic microformats for products (hProduct, hListing; microformats2 h-product): read into
schema.org-shaped nodes so the structured-data layer treats them like JSON-LD or microdata.

Older shop and price-comparison pages mark every offer with ``class="hlisting"`` or
``class="hproduct"``: the name in ``.fn`` (``.p-name``), the price in ``.price`` (``.p-price``),
the link in ``.url`` (``.u-url``), the brand in ``.brand``. ``mf2py`` (behind extruct) reads
only vcards among the classic formats on such pages, so the few product properties are read
here (microformats.org/wiki/hproduct, /hlisting).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from lxml.html import HtmlElement

from orchestration_project.research.extraction.facts import norm_space
from orchestration_project.research.extraction.prices import find_prices

__all__ = ["ROOT_CLASSES", "microformat_products"]

ROOT_CLASSES = frozenset({"hproduct", "hlisting", "h-product", "h-listing"})
_NAME = ("fn", "p-name")
_PRICE = ("price", "p-price")
_URL = ("url", "u-url")
_BRAND = ("brand", "p-brand")


def _classes(el: HtmlElement) -> set[str]:
    return set((el.get("class") or "").split())


def _first(root: HtmlElement, names: tuple[str, ...]) -> HtmlElement | None:
    for el in root.iterdescendants():
        if isinstance(el.tag, str) and _classes(el) & set(names):
            return el
    return None


def _text(el: HtmlElement | None) -> str:
    return norm_space(el.text_content()) if el is not None else ""


def microformat_products(root: HtmlElement, page_url: str) -> list[dict[str, Any]]:
    """Schema.org-shaped ``Product`` nodes of the page's hProduct/hListing items.

    Args:
        root: the cleaned document (hidden markup already removed).
        page_url: the page URL (base for relative links).

    Returns:
        One node per item with a name: ``name``, and where found ``offers`` (price and
        currency of the first price in ``.price``), ``url`` and ``brand``.
    """
    out = []
    for item in root.iter():
        if not isinstance(item.tag, str) or not (_classes(item) & ROOT_CLASSES):
            continue
        name = _text(_first(item, _NAME))
        if not name or len(name) > 300:
            continue
        node: dict[str, Any] = {"@type": "Product", "name": name}
        price_el = _first(item, _PRICE)
        if price_el is not None:
            value = price_el.get("content") or price_el.get("title") or _text(price_el)
            matches = [m for m in find_prices(value) if m.is_current]
            if matches:
                p = matches[0].price
                node["offers"] = {
                    "@type": "Offer",
                    "price": p.amount,
                    **({"priceCurrency": p.currency} if p.currency else {}),
                }
        url_el = _first(item, _URL)
        href = (url_el.get("href") or "").strip() if url_el is not None else ""
        if href and not re.match(r"(?i)javascript:", href):
            node["url"] = urljoin(page_url, href)
        brand = _text(_first(item, _BRAND))
        if brand:
            node["brand"] = {"@type": "Brand", "name": brand}
        out.append(node)
    return out
