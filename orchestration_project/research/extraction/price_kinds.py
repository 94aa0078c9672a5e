"""The price model's kinds: how a product is priced, beyond an amount.

A product's price is an amount, a currency, a billing period (``unit``: month, year...), a
quantity it is charged per (``per``: user, seat...) and a *kind*:

* ``fixed``: one amount ("$49", "€12 per user per month");
* ``free``: a price of 0 ("Free", "Free forever");
* ``from``: a starting price ("from $99", "starting at $9/mo", "ab 49 €");
* ``tiered``: several amounts for one product (volume tiers, an offer range in structured data);
* ``contact``: no amount, ask the seller ("Contact sales", "Custom", "Price on request");
* ``none``: no price shown at all (a listing card without a price).

Everything here is pure string processing; :mod:`.prices` uses it to mark the prices it finds.
"""

from __future__ import annotations

import re

__all__ = [
    "AMOUNT_KINDS",
    "PRICE_KINDS",
    "UNPRICED_KINDS",
    "from_before",
    "offer_kind",
    "seat_after",
]

PRICE_KINDS = ("fixed", "free", "from", "tiered", "contact", "none")
"""Every price kind, from the most to the least specific."""
AMOUNT_KINDS = frozenset({"fixed", "free", "from", "tiered"})
"""Kinds that carry an amount (``free`` carries 0)."""
UNPRICED_KINDS = frozenset({"contact", "none"})
"""Kinds without an amount."""

_FROM_BEFORE = re.compile(
    # a word start, or a capital glued to the text before it ("Regular priceFrom $25": the
    # texts of two elements, one of them for screen readers, meet without a space)
    r"(?:\b|(?-i:(?<=[a-z])(?=[A-Z])))"
    r"(?:from|starting(?:\s+(?:at|from))?|starts\s+at|as\s+low\s+as|ab|à\s+partir\s+de"
    r"|desde|a\s+partire\s+da|vanaf)\s*(?:only\s*|just\s*)?$",
    re.IGNORECASE,
)
_SEAT_AFTER = re.compile(
    r"^\s*(?:/\s*(?:per\s+)?|per\s+|a\s+|an\s+|each\s+)"
    r"(?P<seat>user|seat|member|person|agent|editor|license|licence|host|device|employee|node|"
    r"server|instance|team|site|domain)s?\b",
    re.IGNORECASE,
)
_CONTACT = re.compile(
    r"^(?:contact(?:\s+(?:us|sales|our\s+sales(?:\s+team)?|for\s+(?:pricing|a\s+quote|price)))?"
    r"|talk\s+to\s+(?:us|sales)|let'?s\s+talk|get\s+(?:a\s+)?(?:quote|in\s+touch)"
    r"|request\s+(?:a\s+)?(?:quote|demo|pricing)|custom(?:\s+(?:pricing|quote|price|plan))?"
    r"|call\s+(?:us\s+)?for\s+(?:a\s+)?(?:price|pricing|quote)|price\s+on\s+(?:request|application)"
    r"|pricing\s+on\s+request|on\s+request|poa|quote\s+on\s+request|ask\s+for\s+(?:a\s+)?price"
    r"|preis\s+auf\s+anfrage|auf\s+anfrage|sur\s+demande|prix\s+sur\s+demande|bajo\s+pedido"
    r"|su\s+richiesta|op\s+aanvraag)[\s.!:]*$",
    re.IGNORECASE,
)
# A sentence that sends the reader to sales for the price: "Contact our sales team for pricing,
# support, and benefits.", "Talk to sales to get a quote."
_CONTACT_SENTENCE = re.compile(
    r"^(?:please\s+)?(?:contact|talk\s+to|speak\s+(?:to|with)|reach\s+out\s+to|get\s+in\s+touch"
    r"\s+with)\s+(?:us|sales|our\s+(?:sales(?:\s+team)?|team))\s+(?:for|to\s+get|to\s+discuss)"
    r"\s+(?:a\s+)?(?:custom\s+)?(?:pricing|price|quote)\b",
    re.IGNORECASE,
)
_FREE = re.compile(
    r"^(?:free|gratis|kostenlos|gratuit|gratuito|0\s*,-|\$?0(?:\.00)?)"
    r"(?:\s+forever|\s+plan|\s+for\s+ever|\s+for\s+life|\s+tier)?[\s!.]*$",
    re.IGNORECASE,
)


def from_before(before: str) -> bool:
    """Whether the text right before a price makes it a starting price ("from", "starting at").

    Args:
        before: the text that precedes the price (its end touches the price).

    Returns:
        True for "from $99", "starting at $9", "ab 49 €".
    """
    return bool(_FROM_BEFORE.search(before))


def seat_after(text: str, pos: int) -> str | None:
    """The quantity a price is charged per, written right after it ("per user", "/seat").

    Args:
        text: the text.
        pos: where the price (amount and currency) ends.

    Returns:
        ``"user"``, ``"seat"``, ``"agent"``... or None.
    """
    m = _SEAT_AFTER.match(text[pos : pos + 30])
    return m.group("seat").lower() if m else None


def offer_kind(text: str) -> str | None:
    """The kind of a short price label that holds no amount.

    Args:
        text: a short text such as a price element or a plan card's price line.

    Returns:
        ``"free"`` ("Free", "Free forever"), ``"contact"`` ("Contact sales", "Custom",
        "Price on request"), or None.
    """
    t = re.sub(r"\s+", " ", text or "").strip()
    if len(t) <= 100 and _CONTACT_SENTENCE.match(t):
        return "contact"
    if not t or len(t) > 40:
        return None
    if _FREE.match(t):
        return "free"
    if _CONTACT.match(t):
        return "contact"
    return None
