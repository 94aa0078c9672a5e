"""Layer 3: product prices mentioned in running text (low confidence).

A sentence that names a known product (given by the caller, or found on the page by the other
layers) together with a current price yields a product price fact with confidence ~0.45, and
the page's publication date in ``extra`` so a consumer can tell a stale blog price from a live
price page. Paragraphs that read like instructions to an automated reader are skipped whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from orchestration_project.research.extraction.dom_facts import looks_like_injection
from orchestration_project.research.extraction.facts import CONFIDENCE, ExtractedFact, norm_space
from orchestration_project.research.extraction.prices import find_prices

__all__ = ["extract_text_facts", "split_sentences"]

_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"”')\]]*\s+(?=[\"“(\[]?[A-Z0-9$€£])|\s*[\n\t]+\s*")
_HEDGE = re.compile(
    r"\b(?:if|could|might|may|rumou?red|expected|reportedly|would|should|estimated|"
    r"predict|speculat|competitor|compared to|versus|vs\.?)\b|\?",
    re.IGNORECASE,
)
_GENERIC_NAMES = frozenset(
    [
        "pro",
        "basic",
        "free",
        "plus",
        "premium",
        "standard",
        "starter",
        "business",
        "enterprise",
        "team",
        "personal",
        "professional",
        "advanced",
        "essential",
        "essentials",
        "growth",
        "scale",
        "ultimate",
        "lite",
        "home",
    ]
)


def split_sentences(text: str) -> list[str]:
    """Split visible text (one block per line) into sentences."""
    out = []
    for part in _SENT_SPLIT.split(text or ""):
        part = norm_space(part)
        if part:
            out.append(part)
    return out


def _usable_names(names: Iterable[str], trusted: Iterable[str]) -> list[str]:
    trusted_keys = {norm_space(n).casefold() for n in trusted}
    out: dict[str, str] = {}
    for n in names:
        n = norm_space(n)
        k = n.casefold()
        if not n or k in out:
            continue
        if k in trusted_keys:
            if len(n) >= 2:
                out[k] = n
            continue
        # names found on the page: skip one-word generic plan names ("Pro") in free text
        if len(n) < 4 or (k in _GENERIC_NAMES) or len(n) > 100:
            continue
        out[k] = n
    return sorted(out.values(), key=len, reverse=True)


def extract_text_facts(
    text: str,
    url: str,
    *,
    names: Iterable[str],
    known_products: Iterable[str] = (),
    published: datetime | None = None,
    currency: str | None = None,
) -> tuple[list[ExtractedFact], list[str]]:
    """Find "<product> ... <price>" sentences.

    Args:
        text: the page's visible text (one block per line).
        url: the page URL.
        names: product names found on the page by other layers.
        known_products: product names the caller knows (always used).
        published: the page's publication date, copied into each fact's ``extra``.
        currency: the page currency (resolves a bare ``$`` to a local dollar).

    Returns:
        The facts, and warnings about skipped instruction-like text.
    """
    known = list(known_products)
    usable = _usable_names([*known, *names], known)
    if not usable:
        return [], []
    canonical = {n.casefold(): n for n in usable}
    names_rx = re.compile(
        r"(?<![\w])(?:" + "|".join(re.escape(n) for n in usable) + r")(?![\w])", re.IGNORECASE
    )
    facts: list[ExtractedFact] = []
    warnings: list[str] = []
    for block in (text or "").split("\n"):
        if looks_like_injection(block):
            warnings.append(f"instruction-like text ignored: {norm_space(block)[:80]}")
            continue
        for sent in split_sentences(block):
            if len(sent) > 500:
                continue
            prices = [m for m in find_prices(sent, default_currency=currency) if m.is_current]
            if not prices:
                continue
            mentions: list[tuple[int, int, str]] = [
                (m.start(), m.end(), canonical.get(m.group(0).casefold(), m.group(0)))
                for m in names_rx.finditer(sent)
            ]
            if not mentions:
                continue
            mentions.sort()
            for pm in prices:
                before = [x for x in mentions if x[1] <= pm.start]
                if before:
                    subject = before[-1][2]
                elif len({x[2] for x in mentions}) == 1:
                    subject = mentions[0][2]
                else:
                    continue
                conf = CONFIDENCE["text"] - (0.05 if _HEDGE.search(sent) else 0.0)
                extra: dict[str, Any] = {
                    "published": published.isoformat() if published else None,
                    "layout": "sentence",
                }
                facts.append(
                    ExtractedFact(
                        kind="product",
                        subject=subject,
                        attribute="price",
                        value=pm.price.amount,
                        currency=pm.price.currency,
                        unit=pm.price.unit,
                        source_url=url,
                        confidence=round(conf, 3),
                        method="text",
                        evidence=sent[:200],
                        extra=extra,
                    )
                )
    return facts, warnings
