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

This module runs the passes in order; each part lives in its own module, as a mixin on
:class:`~orchestration_project.research.extraction.dom_base.DomBase` (shared state, fact
recording and name finding): ``dom_cards`` (price nodes and cards), ``dom_tables``,
``dom_lists`` (definition lists and parallel columns), ``dom_product_page``, ``dom_features``
and ``dom_ratings`` (ratings and reviews). Shared patterns and text tests are in ``dom_signals``.
"""

from __future__ import annotations

from collections.abc import Iterable

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom_base import DomBase, DomResult
from orchestration_project.research.extraction.dom_cards import CardsMixin, page_currency
from orchestration_project.research.extraction.dom_features import FeaturesMixin
from orchestration_project.research.extraction.dom_lists import ListsMixin
from orchestration_project.research.extraction.dom_product_page import ProductPageMixin
from orchestration_project.research.extraction.dom_ratings import RatingsMixin
from orchestration_project.research.extraction.dom_signals import (
    looks_like_injection,
    rating_from_text,
)
from orchestration_project.research.extraction.dom_tables import TablesMixin

__all__ = [
    "DomResult",
    "extract_dom",
    "looks_like_injection",
    "page_currency",
    "rating_from_text",
]


class _Dom(
    CardsMixin,
    TablesMixin,
    ListsMixin,
    ProductPageMixin,
    FeaturesMixin,
    RatingsMixin,
    DomBase,
):
    """The layout layer on one document: the mixins' passes, run in order."""

    features_page = False
    docs_page = False
    structured_listing = False  # structured data names several products: a listing page

    def run(self, blog_like: bool) -> DomResult:
        nodes = self.find_price_nodes()
        self.all_nodes = nodes
        self.cards(nodes)
        self.tables()
        self.definition_lists()
        self.parallel_columns(nodes)
        # a page whose structured data lists several products is a listing: its heading is
        # the listing's title, not a product
        self.product_page(nodes, blog_like or self.structured_listing)
        subject = self.result.product_page_name or self.subject_hint
        if not self.docs_page or self.result.product_page_name or self.result.card_count:
            # a documentation page's lists of commands and tools are not product features
            self.section_features(subject)
            self.heading_lists(self.features_page)
            self.dl_features(subject, self.features_page)
            if self.features_page:
                self.feature_cards()
        self.reviews(subject)
        return self.result


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
    docs_page: bool = False,
    structured_products: int = 0,
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
        docs_page: the page is documentation or help (code blocks, no product offer): its lists
            give no features unless the layout finds a product on it.
        structured_products: distinct products the page's structured data names (two or more:
            a listing, whose main heading names no product).

    Returns:
        The facts and layout statistics.
    """
    dom = _Dom(
        root, url, currency, subject_hint, allow_products, tuple(known_products), title=title
    )
    dom.features_page = features_page
    dom.docs_page = docs_page
    dom.structured_listing = structured_products >= 2
    return dom.run(blog_like)
