"""Text signals shared by the layout-layer modules: patterns, instruction-like text, ratings.

The regular expressions used by more than one ``dom_*`` module live here, with the two text
tests the rest of the extraction package also uses: :func:`looks_like_injection` and
:func:`rating_from_text`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "COUNT_RE",
    "CROSS_TOKENS",
    "CTA",
    "DATE_TEXT",
    "FILLER",
    "GENERIC_HEADINGS",
    "RESULTS_HEADING",
    "HEADINGS",
    "PRICE_HDR",
    "RATING_RE",
    "SALARY_CONTEXT",
    "NUMBER_WORDS",
    "STAR_GLYPHS",
    "looks_like_injection",
    "number_name_ok",
    "rating_from_text",
    "words_to_digits",
]

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
FILLER = re.compile(
    r"\b(?:from|starting|starts|start|at|only|now|just|price|prices|pricing|per|month|monthly|"
    r"year|yearly|annually|annual|user|users|seat|seats|billed|incl|excl|including|excluding|"
    r"vat|tax|taxes|plus|net|gross|sale|our|today|each|mo|yr|total|cost|costs|you|pay|"
    r"onetime|one-time|forever|free|trial|days?|unit|best|deal|offer|special|new|was|"
    r"discount|save|off|regular|list|rrp|msrp|reg|min|max|the|a|an|for|of|and|or|in|on|"
    r"eur|usd|gbp|chf|jpy|cad|aud|inkl|mwst|zzgl|ttc|ht)\b",
    re.IGNORECASE,
)
CTA = re.compile(
    r"^(?:buy|buy now|add to (?:cart|basket|bag)|add|shop now|order|order now|sign up|signup|"
    r"get started|start(?: now| free)?(?: trial)?|start your free trial|try (?:it )?(?:free|now)|"
    r"learn more|read more|more|details|view|view details|see details|see more|choose|"
    r"choose plan|select|select plan|subscribe|contact(?: us| sales)?|talk to sales|book a demo|"
    r"request a demo|get a demo|upgrade|download|compare|quick view|wishlist|share|"
    r"get (?:it|this|plan)|continue|next|previous|prev|close|menu|home|login|log in|sign in)"
    r"[\s!.»›→>]*$",
    re.IGNORECASE,
)
GENERIC_HEADINGS = re.compile(
    r"^(?:pricing|prices?|price list|plans?(?: (?:&|and) pricing)?|our plans|choose (?:a|your) "
    r"plan|products?|our products|shop|store|catalog(?:ue)?|home|welcome|features?|compare|"
    r"comparison|reviews?|blog|news|about(?: us)?|contact(?: us)?|careers|jobs|search results?|"
    r"results|categories|category|collections?|all products|menu|cart|checkout)\b",
    re.IGNORECASE,
)
RESULTS_HEADING = re.compile(
    r"^\s*(?:\d[\d,.]*\s*(?:-|–|to)\s*\d[\d,.]*\s+(?:of|von|de|sur|di)\b"
    r"|(?:about\s+|over\s+)?\d[\d,.]*\s+(?:results?|items?|products?|matches|treffer|"
    r"résultats|resultados|risultati|articles?|artikel)\b)"
    r"|\bresults?\s+(?:for|found)\b|\bsearch results\b",
    re.IGNORECASE,
)
"""A results-count heading ("1-48 of over 9,000 results for …", "2,345 results"): a listing's
title, never a product's."""
_INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier|preceding) "
    r"(?:instructions|prompts?|directions|rules)"
    r"|disregard (?:all |any )?(?:the )?(?:previous|prior|above|earlier)"
    r"|system prompt|you are (?:now )?(?:an? )?(?:ai|assistant|language model|llm|chatbot)"
    r"|as an ai|(?:ai|llm|gpt) (?:agents?|assistants?|models?|crawlers?|scrapers?)"
    r"|language models?|new instructions|(?:^|\W)instructions?:|jailbreak"
    r"|do not (?:tell|reveal|report)|report (?:that|to your)|override (?:your|the) "
    r"|when summari[sz]ing|note to (?:ai|bots?|crawlers?|scrapers?|llms?)",
    re.IGNORECASE,
)
CROSS_TOKENS = frozenset(
    {
        "cross",
        "times",
        "no",
        "unavailable",
        "excluded",
        "minus",
        "dash",
        "unchecked",
        "disabled",
        "not-included",
        "x",
        "close",
        "missing",
        "inactive",
    }
)
PRICE_HDR = re.compile(
    r"\b(?:price|prices|pricing|cost|costs|fee|fees|amount|rate|preis|prix|precio|prezzo|"
    r"monthly|per month|/\s*mo|annual|per year)\b|[$€£¥₹]",
    re.IGNORECASE,
)
RATING_RE = re.compile(
    r"(?<![\d.])(\d{1,2}(?:[.,]\d{1,2})?)\s*(?:out of|of|/|von|sur|de|su)\s*"
    r"(5|10|100)(?:[.,]0+)?(?!\d|[.,]\d)"
    r"(?:\s*(?:stars?|points?))?",
    re.IGNORECASE,
)
_RATED_RE = re.compile(
    r"\b(?:rated|rating|score|average|avg\.?)\s*:?\s*(\d(?:[.,]\d{1,2})?)\b(?!\s*(?:%|/\s*\d{2,}))",
    re.IGNORECASE,
)
_STAR_NUMBER_RE = re.compile(r"[★⭐]\s*(\d(?:[.,]\d{1,2})?)(?![\d.,])(?!\s*(?:%|/\s*\d{2,}))")
_STARS_WORD_RE = re.compile(r"(?<![\d.])(\d(?:[.,]\d{1,2})?)\s*stars?\b", re.IGNORECASE)
STAR_GLYPHS = re.compile(r"[★☆⭐✩✭✮✰🌟½⯪]{3,}")
COUNT_RE = re.compile(
    r"(\d[\d,.]*)\s*(?:customer\s+|verified\s+|user\s+)?(?:reviews?|ratings?|votes?|opinions?|"
    r"customers|bewertungen|rezensionen|avis|valoraciones|recensioni)\b",
    re.IGNORECASE,
)
DATE_TEXT = re.compile(
    r"\b(?:\d{4}-\d{2}-\d{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
    r"\s+\d{1,2},?\s+\d{4}|\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)"
    r"[a-z]*\.?\s+\d{4})\b",
    re.IGNORECASE,
)
SALARY_CONTEXT = re.compile(
    r"\b(?:salary|salaries|compensation|wage|wages|pay range|base pay|per annum|stipend|"
    r"full[- ]time|part[- ]time|apply now|job description|responsibilities|requirements|"
    r"years of experience|hiring)\b",
    re.IGNORECASE,
)


NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
"""English number words as star widgets spell them (``star-rating Four``, "Rated four stars")."""
_NUMBER_WORD_RE = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
_HALF_WORD_RE = re.compile(r"\b(\d+) and (?:a )?half\b", re.IGNORECASE)
_NUMBER_NAME = re.compile(
    r"(?:[#№]\s?)?\d{1,6}(?:[.,]\d{1,3})?(?:\s?[+/-]\s?\d{1,4})?(?:\s?[+*#])?", re.IGNORECASE
)
_NOT_A_NAME_NUMBER = re.compile(
    r"^\d{1,2}[:.h]\d{2}$"  # a time of day
    r"|^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$"  # a numeric date
    r"|^\d{4}-\d{2}-\d{2}"  # an ISO date
    r"|^0\d{5,}"  # a phone or article number with a leading zero
)


def words_to_digits(text: str) -> str:
    """Spell out-of-five texts with digits: "Rated four and a half out of five" -> "4.5 … 5"."""
    t = _NUMBER_WORD_RE.sub(lambda m: str(NUMBER_WORDS[m.group(1).lower()]), text or "")
    return _HALF_WORD_RE.sub(lambda m: f"{m.group(1)}.5", t)


def number_name_ok(text: str) -> bool:
    """Whether a text made only of digits may be a product name *when it sits in a name position*.

    Titles such as "2049", "7.1" or "#9" are real product names (a film, a speaker layout, a
    perfume); the caller decides the position (a product card's heading or title link, a product
    page's main heading). Times, numeric dates ("05.03.2024", "2024-03-05") and long numbers with a
    leading zero (phone and article numbers) are never names. Texts with letters are not judged
    here: dates written with month names are rejected by
    :func:`~orchestration_project.research.extraction.dates.looks_like_date`.

    Args:
        text: the candidate name (whitespace-normalised).

    Returns:
        True for a number-only text that can be a name.
    """
    t = re.sub(r"\s+", " ", text or "").strip()
    if not t or len(t) > 16 or re.search(r"[^\W\d_]", t):
        return False
    if _NOT_A_NAME_NUMBER.search(t):
        return False
    return bool(_NUMBER_NAME.fullmatch(t))


def looks_like_injection(text: str) -> bool:
    """Whether a text reads like instructions aimed at an automated reader.

    Such text is data: it never becomes a fact, and blocks containing it are skipped.
    """
    return bool(_INJECTION.search(text or ""))


def rating_from_text(text: str) -> tuple[float, dict[str, Any]] | None:
    """A rating on the 0-5 scale from texts such as "4.5 out of 5", "4.5/5", "★★★★☆".

    Args:
        text: a short text.

    Returns:
        ``(value, extra)`` with ``extra["best_rating"]`` and possibly ``review_count``; or None.
    """
    if not text:
        return None
    extra: dict[str, Any] = {}
    value: float | None = None
    m = RATING_RE.search(text)
    if m:
        v = float(m.group(1).replace(",", "."))
        best = float(m.group(2))
        if 0 <= v <= best:
            value = v / best * 5.0
            extra["best_rating"] = best
            extra["raw_value"] = v
    if value is None:
        g = STAR_GLYPHS.search(text)
        if g:
            s = g.group(0)
            full = sum(s.count(c) for c in "★⭐✭✮🌟")
            half = sum(s.count(c) for c in "½⯪")
            empty = sum(s.count(c) for c in "☆✩✰")
            total = full + half + empty
            if total in (5, 10) or (total < 5 and full):
                best = float(total) if total in (5, 10) else 5.0
                value = (full + 0.5 * half) / best * 5.0
                extra["best_rating"] = 5.0
                extra["raw_value"] = full + 0.5 * half
                # rounded stars next to the exact figure ("★★★★☆ 4.4"): use the figure
                near = re.search(
                    r"^\s*\(?(\d(?:[.,]\d{1,2})?)\)?(?![\d.,]*\s*(?:reviews?|ratings?|%))",
                    text[g.end() : g.end() + 12],
                ) or re.search(
                    r"(?<![\d.,])(\d(?:[.,]\d{1,2})?)\s*$", text[max(0, g.start() - 8) : g.start()]
                )
                if near:
                    v = float(near.group(1).replace(",", "."))
                    if 0 <= v <= 5 and abs(v - value) <= 1.0:
                        value = v
                        extra["raw_value"] = v
    if value is None:
        for rx in (_STAR_NUMBER_RE, _RATED_RE, _STARS_WORD_RE):
            m = rx.search(text)
            if m:
                v = float(m.group(1).replace(",", "."))
                if 0 <= v <= 5:
                    value = v
                    extra["best_rating"] = 5.0
                    extra["raw_value"] = v
                    break
    if value is None:
        return None
    c = COUNT_RE.search(text)
    if c:
        digits = re.sub(r"[,.]", "", c.group(1))
        if digits.isdigit():
            extra["review_count"] = int(digits)
    return round(value, 3), extra
