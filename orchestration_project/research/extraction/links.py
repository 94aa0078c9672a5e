"""Links of a page and the relevance of a link before it is fetched.

URL canonicalisation of the links lives in :func:`extract_links`: resolve against ``<base href>``,
drop tab/newline characters and the fragment, keep http(s) only, percent-quote unsafe characters.
Why our own code: on the 1,009 hrefs of the demo world, ``w3lib.url.safe_url_string``,
``w3lib.url.canonicalize_url`` and ``courlan.normalize_url`` give exactly our URLs. They differ on
edge cases: both lower-case the host (we do not), and ``canonicalize_url`` / ``courlan`` also sort
query parameters (courlan drops ``utm_*`` ones), which changes a frontier URL's identity. Our part
is a few lines of ``urllib.parse``; what makes it a link (scheme filter, hidden elements) is ours.

URL words only *rank* links, they never exclude one: a link is treated as a noise page (careers,
privacy, login...) only when a whole path segment is made of noise words (``/careers``,
``/privacy-policy``, ``/shop/cart``) or its anchor says nothing else; a product slug that merely
contains such a word (``/products/job-tracker-pro``, ``/p/cookies-and-cream``) loses a little
priority and nothing more. Whether a fetched page is noise is decided by its content.

:func:`pagination_links` recognises links to the next/other pages of a listing (``rel="next"``,
"next"/"›"/"»" anchors, ``?page=N`` and ``/page/N`` URLs, numbered links in a pagination
container): the crawler lets them inherit the listing's depth instead of deepening the crawl.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import el_text
from orchestration_project.research.extraction.facts import norm_space

__all__ = [
    "extract_links",
    "is_pagination_url",
    "pagination_links",
    "relevance_score",
    "topic_words",
    "url_words",
]

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
# Words that make a path segment a noise page only beside a noise word ("terms-of-service",
# "contact-us", "job-openings"); alone, or beside a product word, they mean nothing.
_NOISE_COMPANIONS = _vocab(
    "service services conditions use notice statement policies information info settings "
    "preferences openings positions opportunities me my details"
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
    then articles; links to noise pages (a path segment or anchor made of careers/legal/privacy/
    login/cart words) and files (images, PDFs, archives) score near zero, while a slug that only
    contains such a word (``/products/job-tracker-pro``) loses 0.05. Words shared with the topic
    add up to 0.3. The score orders the crawl; it never excludes a link.

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
    if _noise_page(path, url_words(url), _words(anchor_text)):
        score = min(score, 0.05)
    elif words & _NOISE:
        score -= 0.05  # a slug such as job-tracker-pro: a little lower, never dropped
    return round(max(0.0, min(1.0, score)), 3)


def _noise_segment(words: list[str]) -> bool:
    """Whether one path segment (or an anchor) is made of noise words only, such as ``careers``,
    ``privacy-policy`` or ``terms-of-service`` (not ``job-tracker-pro``)."""
    return bool(words) and bool(set(words) & _NOISE) and set(words) <= _NOISE | _NOISE_COMPANIONS


def _noise_page(path: str, words_of_url: list[str], anchor_words: list[str]) -> bool:
    """Whether a link leads to a noise page (careers, legal, account, cart...), judged by whole
    path segments: its last segment is noise (``/careers``, ``/shop/cart``), or an earlier one is
    (``/jobs/senior-engineer``) and nothing in the URL names a product or a price. The anchor
    decides only for a slug without words (``/node/12`` labelled "Privacy policy"): a product
    called "Cookies" keeps its place."""
    segments = [_words(seg) for seg in path.split("/") if seg]
    last = segments[-1] if segments else []
    if _noise_segment(last):
        return True
    if set(words_of_url) & (_STRONG | _COMMERCIAL):
        return False
    if any(_noise_segment(seg) for seg in segments):
        return True
    return not last and _noise_segment(anchor_words)


def _anchor_text(a: HtmlElement) -> str:
    t = el_text(a)
    if not t:
        t = a.get("aria-label") or a.get("title") or ""
        if not t:
            img = a.find(".//img")
            if img is not None:
                t = img.get("alt") or ""
    return norm_space(t)[:300]


def _base_url(url: str, base: str | None) -> str:
    """The URL relative links resolve against: ``<base href>`` when it is http(s), else ``url``."""
    if base:
        try:
            candidate = urljoin(url, base.strip())
        except ValueError:
            return url
        if urlsplit(candidate).scheme in ("http", "https"):
            return candidate
    return url


def _absolute(base_url: str, href: str) -> str | None:
    """``href`` resolved against ``base_url`` without its fragment (None when unparseable)."""
    try:
        return urldefrag(urljoin(base_url, href))[0]
    except ValueError:
        return None


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
    base_url = _base_url(url, base)
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
        absolute = _absolute(base_url, href)
        if absolute is None:
            continue
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


# -- pagination -------------------------------------------------------------------------------
_PAGE_QUERY_KEYS = frozenset(["page", "pg", "paged", "pagina", "seite", "pagenum", "page_number"])
_PAGE_PATH = re.compile(r"/(?:page|seite|pagina)[/-]?\d{1,5}/?$", re.IGNORECASE)
_NEXT_WORDS = (
    r"next|next page|more results|older posts|older entries|nächste|nächste seite|weiter|"
    r"suivant|suivante|page suivante|siguiente|successivo|successiva|volgende|"
    r"prev|previous|previous page|newer posts|zurück|précédent|précédente|anterior|precedente|vorige"
)
_ARROWS = r"[›»→>‹«←<]{1,2}"
_NEXT_TEXT = re.compile(
    rf"^(?:{_ARROWS}\s*)?(?:{_NEXT_WORDS})(?:\s*{_ARROWS})?$|^{_ARROWS}$", re.IGNORECASE
)
_PAGER_CONTAINER = re.compile(r"pag(?:ination|inator|er|ing|es)|page-?numbers", re.IGNORECASE)
_PAGER_CLASS = re.compile(r"(?:^|[\s_-])(?:next|prev|previous)(?:$|[\s_-])", re.IGNORECASE)


def is_pagination_url(url: str) -> bool:
    """Whether a URL addresses a numbered page of a listing (``?page=3``, ``/page/3``).

    Args:
        url: an absolute or relative URL.

    Returns:
        True for a page-number query parameter or a trailing ``/page/N`` (``/seite/N``...).
    """
    parts = urlsplit(url or "")
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key.lower() in _PAGE_QUERY_KEYS and value.isdigit():
            return True
    return bool(_PAGE_PATH.search(parts.path))


def _in_pager(a: HtmlElement, levels: int = 4) -> bool:
    """Whether ``a`` sits in a pagination container (class, id, role or label says so)."""
    el = a.getparent()
    for _ in range(levels):
        if el is None or not isinstance(el.tag, str):
            return False
        label = " ".join(
            el.get(k) or "" for k in ("class", "id", "aria-label", "role", "data-role")
        )
        if _PAGER_CONTAINER.search(label):
            return True
        el = el.getparent()
    return False


def _is_pager_link(a: HtmlElement) -> bool:
    rel = (a.get("rel") or "").lower().split()
    if "next" in rel or "prev" in rel or "previous" in rel:
        return True
    if a.tag == "link":
        return False
    text = _anchor_text(a)
    if text and _NEXT_TEXT.match(text):
        return True
    if _PAGER_CLASS.search(a.get("class") or ""):
        return True
    return bool(re.fullmatch(r"\d{1,4}", text)) and _in_pager(a)


def pagination_links(root: HtmlElement, url: str, *, base: str | None = None) -> set[str]:
    """The links of a page that lead to other pages of the same listing.

    A link is pagination when it has ``rel="next"``/``"prev"`` (``<a>`` or a ``<link>`` in the
    head), its anchor is "next"/"previous" (a few languages) or an arrow such as "›" or "»",
    its class names next/prev, its URL is numbered (``?page=N``, ``/page/N``), or it is a
    numbered link inside a pagination container.

    Args:
        root: the parsed document.
        url: the page URL.
        base: the document's ``<base href>``, if any.

    Returns:
        The absolute URLs, canonicalised as :func:`extract_links` does.
    """
    base_url = _base_url(url, base)
    out: set[str] = set()
    for a in root.iter("a", "area", "link"):
        href = re.sub(r"[\t\n\r]", "", (a.get("href") or "").strip())
        if not href or href.startswith("#"):
            continue
        absolute = _absolute(base_url, href)
        if absolute is None or urlsplit(absolute).scheme not in ("http", "https"):
            continue
        if _is_pager_link(a) or (a.tag != "link" and is_pagination_url(absolute)):
            out.add(quote(absolute, safe=_SAFE))
    return out
