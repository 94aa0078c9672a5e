"""Publication dates of pages: parse a date string, find the article date of a document.

:func:`parse_date` reads ISO dates and day/month/year spellings in English, German, French and
Spanish; :func:`find_published` looks in meta tags, JSON-LD ``datePublished``, ``itemprop``,
``<time>`` and finally the top lines of the visible text. Pure: no network.

Why our own code: ``htmldate.find_date`` finds the same date on all 16 dated pages we checked (the
13 demo-world blog posts and the 3 dated pages of ``test_extraction.py``), but by default it also
dates 31 of the 63 undated demo pages from their copyright footer ("© 2024" becomes 2024-01-01),
which would push pricing and product pages towards "blog"; with ``extensive_search=False`` it
agrees with us on all 87 demo pages but misses "Published March 5, 2024" in plain text. It would
also re-parse HTML we have already parsed, return a string, and bring dateparser with it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lxml.html import HtmlElement

from orchestration_project.common.time import aware
from orchestration_project.research.extraction.dom import el_text

__all__ = ["find_published", "looks_like_date", "parse_date"]

_MONTHS = {
    m: i + 1
    for i, ms in enumerate(
        [
            ("jan", "january", "januar", "janvier", "enero"),
            ("feb", "february", "februar", "février", "febrero"),
            ("mar", "march", "märz", "mars", "marzo"),
            ("apr", "april", "avril", "abril"),
            ("may", "mai", "mayo"),
            ("jun", "june", "juni", "juin", "junio"),
            ("jul", "july", "juli", "juillet", "julio"),
            ("aug", "august", "août", "agosto"),
            ("sep", "sept", "september", "septembre", "septiembre"),
            ("oct", "october", "oktober", "octobre", "octubre"),
            ("nov", "november", "novembre", "noviembre"),
            ("dec", "december", "dezember", "décembre", "diciembre"),
        ]
    )
    for m in ms
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_PATTERNS = [
    re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?"),
    re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I),
    re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I),
    re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b"),
]
_DATE_META = (
    "article:published_time",
    "og:published_time",
    "published_time",
    "datepublished",
    "publish-date",
    "publish_date",
    "publishdate",
    "pubdate",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.created",
    "dcterms.date",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
    "cxenseparse:recs:publishtime",
)


_BYLINE_WORDS = re.compile(
    r"\b(?:published|posted|updated|last updated|modified|created|written|on|at|am|le|el|"
    r"date|datum|veröffentlicht|aktualisiert|publié|publicado|publicat|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|"
    + _MONTH_RE
    + r")\b|\d{1,2}:\d{2}(?:\s?[ap]m)?|\b(?:utc|gmt|cet|cest|[ap]m)\b|[^\w]+",
    re.IGNORECASE,
)
_MONTH_YEAR = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{4}})\b", re.I)


def looks_like_date(text: str) -> bool:
    """Whether a short text is only a date, as in a byline ("Posted on March 5, 2024").

    Such a text is never a product name, even in a heading or a link. A number alone ("2049",
    a film or a vintage) is not a date here: whether it names a product depends on where it
    stands, which the caller knows.

    Args:
        text: the text.

    Returns:
        True when the text holds a full date (or a month and a year) and nothing but byline
        words around it.
    """
    t = (text or "").strip()
    if not t or len(t) > 60:
        return False
    found = [rx.search(t) for rx in [*_DATE_PATTERNS, _MONTH_YEAR]]
    if not any(found):
        return False
    rest = t
    for rx in [*_DATE_PATTERNS, _MONTH_YEAR]:
        rest = rx.sub(" ", rest)
    rest = _BYLINE_WORDS.sub("", rest)
    return not re.search(r"[^\W_]", rest)


def parse_date(value: str | None) -> datetime | None:
    """Parse an ISO or "March 5, 2024" / "5 March 2024" / "05.03.2024" date (UTC if naive).

    Args:
        value: the text.

    Returns:
        A timezone-aware datetime, or None.
    """
    if not value:
        return None
    v = value.strip()
    try:
        iso = v.replace("Z", "+00:00")
        if re.match(r"^\d{4}-\d{2}-\d{2}", iso):
            dt = datetime.fromisoformat(iso[:32])
            return aware(dt)
    except ValueError:
        pass
    for i, rx in enumerate(_DATE_PATTERNS):
        m = rx.search(v)
        if not m:
            continue
        try:
            if i == 0:
                y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
                hh = int(m.group(4) or 0)
                mm = int(m.group(5) or 0)
                return datetime(y, mo, d, hh, mm, tzinfo=UTC)
            if i == 1:
                mo, d, y = _MONTHS[m.group(1).lower()], int(m.group(2)), int(m.group(3))
            elif i == 2:
                d, mo, y = int(m.group(1)), _MONTHS[m.group(2).lower()], int(m.group(3))
            else:
                d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if 1900 <= y <= 2100:
                return datetime(y, mo, d, tzinfo=UTC)
        except (ValueError, KeyError):
            continue
    return None


def find_published(
    raw_root: HtmlElement, clean_root: HtmlElement, structured_date: str | None = None
) -> datetime | None:
    """The article date: meta tags, JSON-LD ``datePublished``, ``<time>``, or a date near the top.

    Args:
        raw_root: the original document (meta tags).
        clean_root: the cleaned document (visible ``<time>`` and text).
        structured_date: ``datePublished`` from structured data, if any.

    Returns:
        The date, or None.
    """
    metas: dict[str, str] = {}
    for m in raw_root.iter("meta"):
        key = (m.get("property") or m.get("name") or m.get("itemprop") or "").strip().lower()
        if key and m.get("content") and key not in metas:
            metas[key] = m.get("content") or ""
    for key in _DATE_META:
        if key in metas:
            d = parse_date(metas[key])
            if d:
                return d
    if structured_date:
        d = parse_date(structured_date)
        if d:
            return d
    for el in clean_root.iter():
        if not isinstance(el.tag, str):
            continue
        if el.get("itemprop") == "datePublished":
            d = parse_date(el.get("content") or el.get("datetime") or el_text(el))
            if d:
                return d
    scopes = list(clean_root.iter("article")) + list(clean_root.iter("main"))
    for scope in [*scopes, clean_root]:
        t = scope.find(".//time")
        if t is not None:
            d = parse_date(t.get("datetime") or el_text(t))
            if d:
                return d
    body = clean_root.find("body")
    top = el_text(body if body is not None else clean_root, lines=True)[:800]
    for line in top.split("\n"):
        if re.search(r"\b(?:published|posted|updated|on|by)\b", line, re.I) or len(line) < 60:
            d = parse_date(line)
            if d:
                return d
    return None
