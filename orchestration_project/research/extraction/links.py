"""Links of a page and the relevance of a link before it is fetched.

URL canonicalisation of the links lives in :func:`extract_links`: resolve against ``<base href>``,
drop tab/newline characters and the fragment, keep http(s) only, percent-quote unsafe characters.
Why our own code: on the 1,009 hrefs of the demo world, ``w3lib.url.safe_url_string``,
``w3lib.url.canonicalize_url`` and ``courlan.normalize_url`` give exactly our URLs. They differ on
edge cases: both lower-case the host (we do not), and ``canonicalize_url`` / ``courlan`` also sort
query parameters (courlan drops ``utm_*`` ones), which changes a frontier URL's identity. Our part
is a few lines of ``urllib.parse``; what makes it a link (scheme filter, hidden elements) is ours.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import el_text
from orchestration_project.research.extraction.facts import norm_space

__all__ = ["extract_links", "relevance_score", "topic_words", "url_words"]

_SAFE = ":/?#[]@!$&'()*+,;=%~"
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "the",
        "to",
        "with",
        "your",
        "you",
        "we",
        "us",
        "this",
        "that",
        "these",
        "those",
        "what",
        "which",
        "who",
        "how",
        "why",
        "www",
        "com",
        "html",
        "htm",
        "php",
        "aspx",
        "index",
        "net",
        "org",
        "http",
        "https",
        "page",
        "pages",
        "en",
        "us",
        "uk",
        "de",
        "fr",
    ]
)


def _vocab(words: str) -> frozenset[str]:
    """A set of URL/title words from a space-separated string."""
    return frozenset(words.split())


_STRONG = _vocab(
    "pricing price prices pricelist plans plan tariffs tarif preise preisliste tarifs precios "
    "prix prezzi prijzen cost costs subscription subscriptions"
)
_COMMERCIAL = _vocab(
    "product products shop store catalog catalogue collection collections compare comparison "
    "features feature buy item items category categories editions models solutions offers "
    "deals sale packages package produkte produkt produits produit productos producto "
    "prodotti funktionen fonctionnalites vergleich boutique tienda range"
)
_REVIEWS = _vocab(
    "reviews review testimonials ratings customers bewertungen avis opiniones recensioni"
)
_CONTENT = _vocab(
    "blog news article articles post posts press announcements changelog releases updates "
    "insights stories journal aktuelles neuigkeiten actualites noticias"
)
_NOISE = _vocab(
    "careers career jobs job hiring vacancies legal privacy terms tos cookie cookies imprint "
    "impressum gdpr about contact login signin signup register account cart checkout "
    "password logout sitemap accessibility investors investor team policy disclaimer "
    "unsubscribe karriere stellenangebote datenschutz agb kontakt warenkorb recrutement "
    "carrieres emplois mentions legales confidentialite cgv panier empleo privacidad contacto"
)
_FILE_EXT = re.compile(
    r"\.(?:pdf|jpe?g|png|gif|webp|svg|ico|zip|gz|tar|rar|7z|exe|dmg|mp[34]|avi|mov|css|js|"
    r"json|xml|rss|woff2?|ttf|eot|csv|xlsx?|docx?|pptx?)$",
    re.IGNORECASE,
)


def _words(text: str) -> list[str]:
    out = []
    for w in re.split(r"[^0-9a-zA-Z\u00c0-\u024f]+|(?<=[a-z])(?=[A-Z])", text or ""):
        w = re.sub(r"\d+", "", w.lower())
        if len(w) >= 2 and w not in _STOP:
            out.append(w)
    return out


def url_words(url: str) -> list[str]:
    """Words of a URL's path and query (``/pricing-plans/2024`` gives pricing, plans)."""
    parts = urlsplit(url)
    return _words(f"{parts.path} {parts.query}")


def topic_words(topic: str | None) -> set[str]:
    """Content words of a research topic, with a crude plural/singular folding."""
    out: set[str] = set()
    for w in _words(topic or ""):
        if len(w) < 3:
            continue
        out.add(w)
        if w.endswith("s") and len(w) > 3:
            out.add(w[:-1])
        else:
            out.add(w + "s")
    return out


def relevance_score(url: str, anchor_text: str, topic: str | None) -> float:
    """Rank a link before fetching it, from its URL path words, anchor text and the topic.

    Pricing/plans links score highest, product/catalog/feature/comparison links next, reviews,
    then articles; careers/legal/privacy/login/cart links and files (images, PDFs, archives)
    score near zero. Words shared with the topic add up to 0.3.

    Args:
        url: the link target.
        anchor_text: the link's text (or label).
        topic: the research topic, if any.

    Returns:
        A score in [0, 1].
    """
    parts = urlsplit(url or "")
    if parts.scheme and parts.scheme not in ("http", "https"):
        return 0.0  # mailto:, javascript:, file:... are never fetched
    path = parts.path
    if _FILE_EXT.search(path):
        return 0.02
    words = set(url_words(url)) | set(_words(anchor_text))
    score = 0.4
    if words & _STRONG:
        score += 0.45
    elif words & _COMMERCIAL:
        score += 0.3
    elif words & _REVIEWS:
        score += 0.25
    elif words & _CONTENT:
        score += 0.1
    if path in ("", "/") and not urlsplit(url).query:
        score = max(score, 0.5)
    tw = topic_words(topic)
    if tw:
        overlap = len(words & tw) / max(1, min(len({w for w in tw if not w.endswith("s")}), 4))
        score += 0.3 * min(1.0, overlap)
    if words & _NOISE and not words & _STRONG:
        score = min(score, 0.05)
    return round(max(0.0, min(1.0, score)), 3)


def _anchor_text(a: HtmlElement) -> str:
    t = el_text(a)
    if not t:
        t = a.get("aria-label") or a.get("title") or ""
        if not t:
            img = a.find(".//img")
            if img is not None:
                t = img.get("alt") or ""
    return norm_space(t)[:300]


def extract_links(
    root: HtmlElement, url: str, *, base: str | None = None
) -> tuple[list[str], list[str], dict[str, str]]:
    """Collect a page's links.

    Args:
        root: the (cleaned) document: links in hidden elements and ads are not collected.
        url: the page URL.
        base: the document's ``<base href>``, if any.

    Returns:
        ``(links, other_links, anchors)``: absolute http(s) URLs without fragments, de-duplicated
        in document order; hrefs with any other scheme (mailto:, tel:, javascript:, file:...),
        reported and never followed; anchor text per link.
    """
    base_url = url
    if base:
        try:
            candidate = urljoin(url, base.strip())
        except ValueError:
            candidate = url
        if urlsplit(candidate).scheme in ("http", "https"):
            base_url = candidate
    links: list[str] = []
    others: list[str] = []
    anchors: dict[str, str] = {}
    seen: set[str] = set()
    seen_other: set[str] = set()
    for a in root.iter("a", "area"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        href = re.sub(r"[\t\n\r]", "", href)
        m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*):", href)
        scheme = m.group(1).lower() if m else ""
        if scheme and scheme not in ("http", "https"):
            if href not in seen_other:
                seen_other.add(href)
                others.append(href)
            continue
        try:
            absolute = urljoin(base_url, href)
        except ValueError:
            continue
        absolute = urldefrag(absolute)[0]
        if urlsplit(absolute).scheme not in ("http", "https"):
            if absolute not in seen_other:
                seen_other.add(absolute)
                others.append(href)
            continue
        absolute = quote(absolute, safe=_SAFE)
        if absolute in seen:
            continue
        seen.add(absolute)
        links.append(absolute)
        anchors[absolute] = _anchor_text(a)
    return links, others, anchors
