"""Deterministic prose from a dict of facts, for the offline engine's ``write``.

Every fact value is flattened to one bounded line of plain text; every string value appears only
inside quotation marks (quotation marks inside it are neutralised), so scraped text is shown as
quoted data and never reads as part of the report's own voice. Known keys (``cheapest``,
``products`` …) get natural phrasing.
"""

from __future__ import annotations

import json
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def flat_fact(value: Any, limit: int = 300) -> str:
    """A fact value as one line of plain text (control characters removed, bounded length)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) >= 100 else f"{value:g}"
    elif isinstance(value, int):
        text = f"{value:,}" if abs(value) >= 10_000 else str(value)
    elif isinstance(value, dict | list | tuple):
        text = json.dumps(value, default=str, ensure_ascii=False)
    else:
        text = str(value)
    text = re.sub(r"\s+", " ", _CONTROL.sub("", text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quoted(text: str) -> str:
    """Text inside curly quotes, with any quotation mark inside it made straight-single."""
    return "“" + re.sub(r"[\"“”„«»]", "'", text) + "”"


def _render(value: Any) -> str:
    """A fact value for default prose: numbers bare, strings quoted, lists as quoted items."""
    if isinstance(value, str):
        return _quoted(flat_fact(value))
    if isinstance(value, bool | int | float):
        return flat_fact(value)
    if isinstance(value, list | tuple | set):
        items = [_render(v) for v in list(value)[:10] if v not in (None, "")]
        more = len(value) - 10
        if more > 0:
            items.append(f"{more} more")
        return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)
    if isinstance(value, dict):
        return "; ".join(f"{_key(k)} {_render(v)}" for k, v in list(value.items())[:10])
    return _quoted(flat_fact(value))


def _key(key: Any) -> str:
    """A fact key as words; keys that are not plain identifiers are quoted like values."""
    k = str(key)
    return (
        k.replace("_", " ")
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,40}", k)
        else _quoted(flat_fact(k, 60))
    )


_PHRASES = {
    "cheapest": "the lowest price is {v}",
    "most_expensive": "the highest price is {v}",
    "highest_rated": "the highest rated product is {v}",
    "best_reviewed": "customers speak most warmly of {v}",
}
_COUNT_PHRASES = {  # (one, many)
    "competitors": ("{v} competitor was compared", "{v} competitors were compared"),
    "products": ("{v} product was found", "{v} products were found"),
    "conflicts_resolved": (
        "{v} conflicting fact was reconciled",
        "{v} conflicting facts were reconciled",
    ),
    "escalated_for_review": (
        "{v} decision waits for human review",
        "{v} decisions wait for human review",
    ),
}


def default_prose(facts: dict[str, Any]) -> str:
    """One readable sentence from a facts dict (known keys get natural phrasing)."""
    topic = facts.get("topic")
    parts = []
    for key, value in facts.items():
        if key == "topic" or value is None or value == "" or value == [] or value == {}:
            continue
        phrase = _PHRASES.get(key)
        if key in _COUNT_PHRASES and isinstance(value, int | float) and not isinstance(value, bool):
            phrase = _COUNT_PHRASES[key][0 if value == 1 else 1]
        rendered = _render(value)
        parts.append(phrase.format(v=rendered) if phrase else f"{_key(key)}: {rendered}")
    body = "; ".join(parts)
    lead = f"In the market for {_render(topic)}, " if topic not in (None, "") else ""
    sentence = (lead + body) if body else (lead.rstrip(", ") or "No facts were available")
    return sentence[0].upper() + sentence[1:] + "."
