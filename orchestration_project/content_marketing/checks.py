"""Content checks: the facts about each channel output that decide whether it may be
published, as columns a Great Expectations suite validates (:func:`expectations`).

* length within the channel's limits; the e-mail subject within 78 characters;
* the call to action: its link always, its text on blog and e-mail;
* hashtags within the channel's allowed count;
* no banned words (the brief's and :data:`ALWAYS_BANNED`);
* readability (Flesch reading ease, ``textstat``) within the channel's range;
* no personal data (e-mail addresses, phone numbers);
* no unresolved placeholders (``$name``, ``{{x}}``, ``[TODO]``, lorem ipsum);
* every price stated is a price in the resolved market facts (same currency, to the cent):
  no invented numbers.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import textstat

from orchestration_project.common.quality import expectation
from orchestration_project.content_marketing.briefs import Brief
from orchestration_project.content_marketing.channels import RULES, SUBJECT_MAX, ChannelOutput

ALWAYS_BANNED = ("guaranteed", "risk-free", "100% free", "click here")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<![\w.])\+?\d[\d ().-]{7,}\d(?!\d)")
_PLACEHOLDER = re.compile(
    r"\$\{?[A-Za-z_]\w*\}?|\{\{.*?\}\}|\[(?:TODO|TBD|PLACEHOLDER)\]|lorem ipsum", re.I
)
_PRICE = re.compile(
    r"(?P<sym>[$€£])\s?(?P<a>\d[\d,]*(?:\.\d{1,2})?)|(?P<b>\d[\d,]*(?:\.\d{1,2})?)\s?(?P<code>USD|EUR|GBP)\b"
)
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_URL = re.compile(r"https?://\S+")


def prices_stated(text: str) -> list[tuple[float, str]]:
    """Every price in ``text`` as ``(amount, currency)``; URLs are ignored."""
    out = []
    for m in _PRICE.finditer(_URL.sub(" ", text)):
        amount = m.group("a") or m.group("b")
        currency = _SYMBOLS.get(m.group("sym") or "", m.group("code") or "")
        out.append((float(amount.replace(",", "")), currency))
    return out


def known_prices(matrix: pd.DataFrame) -> set[tuple[float, str]]:
    """The resolved prices, rounded to the cent, with their currency."""
    if matrix.empty or "price" not in matrix:
        return set()
    rows = matrix.dropna(subset=["price"])
    return {
        (round(float(p), 2), str(c or ""))
        for p, c in zip(rows["price"], rows["currency"], strict=True)
    }


def check_row(out: ChannelOutput, brief: Brief, prices: set[tuple[float, str]]) -> dict[str, Any]:
    """The check columns of one output (True/0/"" is good)."""
    rules = RULES[out.channel]
    text = out.text
    lower = text.lower()
    banned = sorted({w for w in (*brief.banned_words, *ALWAYS_BANNED) if w.lower() in lower})
    tags = re.findall(r"(?<!\w)#\w+", text) if out.channel == "social" else []
    readability = float(textstat.flesch_reading_ease(_URL.sub("", text))) if text else 0.0
    invented = [f"{a:,.2f} {c}" for a, c in prices_stated(text) if (round(a, 2), c) not in prices]
    pii = _EMAIL.findall(_URL.sub(" ", text)) + _PHONE.findall(_URL.sub(" ", text))
    low, high = rules.readability or (-1e9, 1e9)
    return {
        "chars": len(text),
        "length_ok": rules.min_chars <= len(text) <= rules.max_chars
        and (out.channel != "email" or len(out.title) <= SUBJECT_MAX),
        "has_cta": brief.cta_url in text and (not rules.needs_cta_text or brief.cta_text in text),
        "hashtags_ok": rules.hashtags[0] <= len(tags) <= rules.hashtags[1],
        "banned_words": ", ".join(banned),
        "readability": round(readability, 1),
        "readability_ok": low <= readability <= high,
        "personal_data": ", ".join(pii),
        "placeholders": ", ".join(m.group(0) for m in _PLACEHOLDER.finditer(text)),
        "invented_prices": ", ".join(invented),
    }


def check_outputs(
    outputs: list[ChannelOutput], briefs: dict[str, Brief], matrix: pd.DataFrame
) -> pd.DataFrame:
    """One row per output: its identity, text and check columns, and ``passed`` overall."""
    prices = known_prices(matrix)
    rows = []
    for o in outputs:
        c = check_row(o, briefs[o.brief_id], prices)
        passed = (
            c["length_ok"]
            and c["has_cta"]
            and c["hashtags_ok"]
            and c["readability_ok"]
            and not (
                c["banned_words"] or c["personal_data"] or c["placeholders"] or c["invented_prices"]
            )
        )
        rows.append(
            {
                "brief_id": o.brief_id,
                "strategy": o.strategy,
                "channel": o.channel,
                "title": o.title,
                "text": o.text,
                "html": o.html,
                **c,
                "passed": bool(passed),
            }
        )
    return pd.DataFrame(rows)


def expectations() -> list[tuple[str, dict[str, Any]]]:
    """The Great Expectations suite over :func:`check_outputs`' columns."""

    def true(col: str) -> tuple[str, dict[str, Any]]:
        return expectation("ExpectColumnValuesToBeInSet", column=col, value_set=[True])

    def empty(col: str) -> tuple[str, dict[str, Any]]:
        return expectation("ExpectColumnValuesToBeInSet", column=col, value_set=[""])

    return [
        true("length_ok"),
        true("has_cta"),
        true("hashtags_ok"),
        true("readability_ok"),
        empty("banned_words"),
        empty("personal_data"),
        empty("placeholders"),
        empty("invented_prices"),
        expectation("ExpectColumnValuesToNotBeNull", column="text"),
    ]


__all__ = [
    "ALWAYS_BANNED",
    "check_outputs",
    "check_row",
    "expectations",
    "known_prices",
    "prices_stated",
]
