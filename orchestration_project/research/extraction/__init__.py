"""Generic, pure extraction of market facts (products, prices, features, ratings, reviews).

No site-specific selectors: only schema.org structured data, repeated layout structures,
headings, price patterns and text. No network, no Dagster. Scraped text is data: hidden
elements and advertisements are dropped before the layout and text layers run, and text that
reads like instructions to an automated reader never becomes a fact.

Main entry point: :func:`extract_page`.
"""

from orchestration_project.research.extraction.facts import (
    CONFIDENCE,
    ExtractedFact,
    PageExtraction,
    dedupe_facts,
)
from orchestration_project.research.extraction.links import extract_links, relevance_score
from orchestration_project.research.extraction.pages import (
    PAGE_KINDS,
    classify_page,
    extract_page,
    find_published,
    needs_javascript,
    parse_date,
)
from orchestration_project.research.extraction.prices import (
    Price,
    PriceMatch,
    find_prices,
    normalize_currency,
    parse_amount,
    parse_price,
)

__all__ = [
    "CONFIDENCE",
    "PAGE_KINDS",
    "ExtractedFact",
    "PageExtraction",
    "Price",
    "PriceMatch",
    "classify_page",
    "dedupe_facts",
    "extract_links",
    "extract_page",
    "find_prices",
    "find_published",
    "needs_javascript",
    "normalize_currency",
    "parse_amount",
    "parse_date",
    "parse_price",
    "relevance_score",
]
