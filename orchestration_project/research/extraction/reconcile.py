"""Shown against declared: when a product page's visible buy box and its structured data
disagree about the page's own product.

Structured data is usually the strongest source (it names products exactly), but it is written
for search engines and can drift from what the shopper sees: a price declared before tax while
the page shows it with VAT, a rating rounded to half stars while the page shows two decimals.
Two rules, both about the page's main product only (the product named by the page's main
heading, matched to the structured product by name or identifier):

* **Price: what is shown wins over what is only declared.** When the buy box shows a price in
  the same currency that differs from the structured offer, and the structured amount appears
  nowhere in the page's visible text, the structured price is kept but downgraded (half its
  confidence, ``extra["not_shown"]``), so the resolver takes the shown price and records both.
* **Rating: the finer of two consistent values wins.** A rating rounded to a coarser step
  (whole or half stars) is downgraded when the other value rounds to it (4.5 against a shown
  4.75; a screen-reader "5 of 5" against a declared 4.83).

Nothing is dropped: the downgraded fact stays, with the reason in ``extra["superseded"]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from orchestration_project.research.extraction.facts import (
    STRUCTURED_METHODS,
    ExtractedFact,
    norm_key,
)
from orchestration_project.research.extraction.prices import find_prices

__all__ = ["STRUCTURED", "rating_step", "reconcile_main_product"]

STRUCTURED = frozenset(STRUCTURED_METHODS)
"""Extraction methods that read structured data."""

_STEPS = (1.0, 0.5, 0.25, 0.1, 0.05, 0.01, 0.001, 0.0001)
_DOWNGRADE = 0.5


def rating_step(value: float) -> float:
    """The coarsest step of the rating grid ``value`` lies on (5 → 1, 4.5 → 0.5, 4.75 → 0.25,
    4.83 → 0.01); values finer than 0.0001 count as 0.0001."""
    d = Decimal(str(round(float(value), 4)))
    for step in _STEPS:
        if d % Decimal(str(step)) == 0:
            return step
    return _STEPS[-1]


def _same_product(a: ExtractedFact, b: ExtractedFact) -> bool:
    if norm_key(a.subject) == norm_key(b.subject):
        return True
    ia, ib = a.identity(), b.identity()
    return any(ia.get(k) and ia.get(k) == ib.get(k) for k in ("gtin", "sku", "mpn"))


def _downgrade(f: ExtractedFact, reason: str, **more: object) -> ExtractedFact:
    return replace(
        f,
        confidence=round(f.confidence * _DOWNGRADE, 3),
        extra={**f.extra, "superseded": reason, **more},
    )


def _rounding_of(f: ExtractedFact, other: ExtractedFact) -> float | None:
    """The step of ``f``'s rating when it is ``other``'s rating rounded to a coarser grid
    (4.5 of 4.75, 5 of 4.83), else None."""
    mine, theirs = float(f.value), float(other.value)
    step = rating_step(mine)
    if step > rating_step(theirs) and abs(mine - theirs) <= step / 2 + 1e-9:
        return step
    return None


def _amount_shown(amount: float, shown: Iterable[float]) -> bool:
    return any(abs(amount - s) <= max(0.005 * amount, 0.005) for s in shown)


def reconcile_main_product(
    facts: list[ExtractedFact], main_name: str | None, visible_text: str
) -> list[ExtractedFact]:
    """Downgrade the structured price or rating of the page's main product where the visible
    page contradicts it (see the module docstring).

    Args:
        facts: the page's de-duplicated facts.
        main_name: the product named by the page's main heading (the product-page layout's
            name), or None when the page has none.
        visible_text: the page's visible text (to tell whether a declared amount is shown).

    Returns:
        The facts, in the same order, with superseded ones downgraded.
    """
    if not main_name:
        return facts
    shown_main = [
        f
        for f in facts
        if f.method not in STRUCTURED
        and norm_key(f.subject) == norm_key(main_name)
        and f.attribute in ("price", "rating")
    ]
    if not shown_main:
        return facts
    shown_prices = [f for f in shown_main if f.attribute == "price"]
    shown_ratings = [f for f in shown_main if f.attribute == "rating"]
    visible_amounts = [m.price.amount for m in find_prices(visible_text or "")]
    out = []
    for f in facts:
        if f.method in STRUCTURED and f.attribute == "price" and len(shown_prices) == 1:
            s = shown_prices[0]
            if (
                _same_product(f, s)
                and f.currency
                and f.currency == s.currency
                and f.unit == s.unit
                and not _amount_shown(float(f.value), [float(s.value)])
                and not _amount_shown(float(f.value), visible_amounts)
            ):
                reason = f"not shown on the page; the buy box shows {s.value} {s.currency}"
                f = _downgrade(f, reason, not_shown=True)
        elif f.method in STRUCTURED and f.attribute == "rating" and len(shown_ratings) == 1:
            s = shown_ratings[0]
            if _same_product(f, s) and (step := _rounding_of(f, s)):
                f = _downgrade(f, f"rounded to steps of {step}; the page shows {s.value}")
        elif f in shown_ratings and f.method not in STRUCTURED:
            declared = [
                g
                for g in facts
                if g.method in STRUCTURED and g.attribute == "rating" and _same_product(g, f)
            ]
            if len(declared) == 1 and (step := _rounding_of(f, declared[0])):
                f = _downgrade(f, f"rounded to steps of {step}; the data says {declared[0].value}")
        out.append(f)
    return out
