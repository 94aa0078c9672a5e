"""Whole-page extraction: the three layers, page kind and relevance.

Dates live in :mod:`~orchestration_project.research.extraction.dates` and JavaScript-shell
detection in :mod:`~orchestration_project.research.extraction.javascript`; their public names are
re-exported here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

import lxml.html
from lxml.html import HtmlElement

from orchestration_project.research.extraction.dates import find_published, parse_date
from orchestration_project.research.extraction.dom import (
    clean_tree,
    el_text,
    parse_html,
    visible_text,
)
from orchestration_project.research.extraction.dom_facts import (
    DomResult,
    extract_dom,
    looks_like_injection,
    page_currency,
)
from orchestration_project.research.extraction.dom_stars import keep_star_icons, structure_counts
from orchestration_project.research.extraction.facts import (
    ExtractedFact,
    PageExtraction,
    dedupe_facts,
    norm_space,
)
from orchestration_project.research.extraction.javascript import _needs_js, needs_javascript
from orchestration_project.research.extraction.links import (
    _vocab,
    _words,
    extract_links,
    topic_words,
    url_words,
)
from orchestration_project.research.extraction.prices import find_prices
from orchestration_project.research.extraction.reconcile import reconcile_main_product
from orchestration_project.research.extraction.structured import (
    ARTICLE_TYPES,
    PRODUCT_TYPES,
    StructuredResult,
    extract_structured,
    load_jsonld_blocks,
)
from orchestration_project.research.extraction.text import extract_text_facts

__all__ = [
    "PAGE_KINDS",
    "PageSignals",
    "classify_page",
    "extract_page",
    "find_published",
    "needs_javascript",
    "parse_date",
    "page_relevance",
]

PAGE_KINDS = (
    "product",
    "listing",
    "pricing",
    "features",
    "reviews",
    "blog",
    "home",
    "noise",
    "other",
)


# URL words per page kind (English plus common German/French/Spanish/Italian/Dutch words).
_NOISE_URL = _vocab(
    "careers career jobs job hiring vacancies vacancy legal privacy terms tos cookie cookies "
    "imprint impressum gdpr about contact login signin signup register account cart checkout "
    "password disclaimer accessibility investors sitemap "
    "karriere stellenangebote stellen datenschutz agb ueber uber kontakt anmelden warenkorb "
    "recrutement carrieres emplois mentions legales confidentialite propos apropos cgv cgu "
    "panier empleo trabaja privacidad aviso contacto carrera lavora contatti vacatures werken"
)
_NOISE_TITLE = re.compile(
    r"\b(?:careers?|jobs?|job openings|join (?:our|the) team|we'?re hiring|privacy(?: policy)?|"
    r"terms (?:of|and) (?:service|use|conditions)|terms & conditions|cookie policy|legal notice|"
    r"imprint|impressum|about us|contact us|log ?in|sign ?in|sign ?up|our story|work with us|"
    r"vacancies|open roles|open positions|join us|karriere|stellenangebote|datenschutz\w*|"
    r"über uns|agb|allgemeine geschäftsbedingungen|mentions légales|confidentialité|"
    r"recrutement|à propos|aviso legal|privacidad|trabaja con nosotros)\b",
    re.IGNORECASE,
)
_BLOG_URL = _vocab(
    "blog blogs news article articles post posts press insights stories changelog "
    "announcements updates journal magazine aktuelles neuigkeiten actualites actualite "
    "noticias notizie nieuws"
)
_LISTING_URL = _vocab(
    "category categories catalog catalogue collection collections shop store search products "
    "produkte produits productos prodotti producten sortiment boutique tienda negozio range"
)
_PRODUCT_URL = _vocab("product item dp sku produkt produit producto prodotto")
_FEATURES_URL = _vocab(
    "features feature compare comparison tour capabilities funktionen fonctionnalites "
    "caracteristiques caracteristicas funzionalita vergleich"
)
_REVIEWS_URL = _vocab(
    "reviews review testimonials ratings customers bewertungen avis opiniones recensioni resenas"
)
_PRICING_URL = _vocab(
    "pricing prices price pricelist plans plan tariffs preise preisliste tarifs tarif prix "
    "precios prezzi prijzen"
)
_URL_WEIGHT = 0.75
_KIND_BASE = {
    "pricing": 0.95,
    "product": 0.9,
    "listing": 0.85,
    "features": 0.8,
    "reviews": 0.75,
    "home": 0.6,
    "blog": 0.55,
    "other": 0.4,
    "noise": 0.05,
}


@dataclass
class PageSignals:
    """Evidence collected by the extraction layers that helps classify a page."""

    structured_products: int = 0
    structured_types: set[str] = field(default_factory=set)
    item_list: bool = False
    og_type: str = ""
    dom: DomResult | None = None
    facts: list[ExtractedFact] = field(default_factory=list)
    published: datetime | None = None
    cart_controls: int = 0
    feature_groups: int = 0
    code_blocks: int = 0
    salary_lines: int = 0


# -- classification ---------------------------------------------------------------------------
def _quick_signals(html_tree: HtmlElement) -> PageSignals:
    sig = PageSignals()
    for block in load_jsonld_blocks(html_tree):
        stack = [block]
        while stack:
            v = stack.pop()
            if isinstance(v, list):
                stack.extend(v)
            elif isinstance(v, dict):
                t = v.get("@type")
                for x in t if isinstance(t, list) else [t]:
                    if isinstance(x, str):
                        sig.structured_types.add(x.rsplit("/", 1)[-1])
                        if x.rsplit("/", 1)[-1] in PRODUCT_TYPES:
                            sig.structured_products += 1
                stack.extend(v.values())
    sig.item_list = "ItemList" in sig.structured_types
    for m in html_tree.iter("meta"):
        if (m.get("property") or "").lower() == "og:type":
            sig.og_type = (m.get("content") or "").lower()
    for el in html_tree.xpath("//*[@itemtype]"):
        if (el.get("itemtype") or "").rstrip("/").rsplit("/", 1)[-1] in PRODUCT_TYPES:
            sig.structured_products += 1
            sig.structured_types.add("Product")
    counts = structure_counts(html_tree)
    sig.cart_controls = counts["cart_controls"]
    sig.code_blocks = counts["code_blocks"]
    sig.feature_groups = counts["feature_groups"]
    sig.salary_lines = counts["salary_lines"]
    return sig


def classify_page(
    url: str,
    title: str,
    text: str,
    html_tree: HtmlElement | None,
    *,
    signals: PageSignals | None = None,
) -> tuple[str, float]:
    """Classify a page as product/listing/pricing/features/reviews/blog/home/noise/other.

    The content decides: schema.org types and ``og:type``, one main heading followed by a price
    (a product page, more so with an add-to-cart control, ratings or reviews), repeated product
    cards (a listing), prices with billing units (pricing), name + feature-list groups and
    comparison tables (features), review blocks, article dates, salary and job wording, and the
    title (careers, privacy, terms, about us... are ``noise``). Words in the URL path are only a
    weak tie-breaker (at most 1.0 against 2.5 for a product page's layout), so a product page at
    ``/shop/cookies/...`` or ``/about-time-watch`` is a product page.

    Args:
        url: the page URL.
        title: the document title.
        text: the visible text.
        html_tree: the parsed document (used for quick structured-data signals when ``signals``
            is not given).
        signals: evidence from the extraction layers (``extract_page`` passes it).

    Returns:
        ``(kind, confidence)``.
    """
    sig = signals or (_quick_signals(html_tree) if html_tree is not None else PageSignals())
    s: dict[str, float] = defaultdict(float)
    path = urlsplit(url).path.lower()
    words = set(url_words(url))
    segments = [p for p in path.split("/") if p]
    # URL words are a weak tie-breaker (at most 1.0): a page's content decides. A product page
    # whose address happens to say "cookies", "jobs" or "about" is still a product page.
    if path in ("", "/") or re.fullmatch(r"/(?:index|home|default)\.\w+", path):
        s["home"] += 2.5
    if words & _NOISE_URL:
        s["noise"] += 1.0
    if _NOISE_TITLE.search(title or ""):
        s["noise"] += 2.5
    if sig.salary_lines >= 2:
        s["noise"] += 1.0
    if words & _PRICING_URL:
        s["pricing"] += _URL_WEIGHT
    if words & _FEATURES_URL:
        s["features"] += _URL_WEIGHT
    if words & _REVIEWS_URL:
        s["reviews"] += _URL_WEIGHT
    if words & _BLOG_URL:
        s["blog"] += _URL_WEIGHT
    if words & _PRODUCT_URL:
        s["product"] += _URL_WEIGHT / 2
    if words & _LISTING_URL:
        last = re.sub(r"\.\w+$", "", segments[-1]) if segments else ""
        if "products" in words and last not in ("products", "shop", "store") and len(segments) > 1:
            s["product"] += _URL_WEIGHT / 2
        else:
            s["listing"] += _URL_WEIGHT / 2
    if sig.feature_groups >= 2:
        s["features"] += 1.0
    tw = set(_words(title or ""))
    if tw & (_PRICING_URL - {"plan"}):
        s["pricing"] += 1.0
    if tw & (_FEATURES_URL | {"specifications", "specs"}):
        s["features"] += 1.0
    if tw & _REVIEWS_URL - {"customers"}:
        s["reviews"] += 1.0
    if tw & (_BLOG_URL - {"post", "posts", "updates", "press"}):
        s["blog"] += 1.0
    if tw & _LISTING_URL - {"search"}:
        s["listing"] += 1.0
    if sig.structured_products == 1 and not sig.item_list:
        s["product"] += 2.0
    elif sig.structured_products >= 3 or sig.item_list:
        s["listing"] += 2.0
    if sig.structured_types & ARTICLE_TYPES or sig.og_type == "article":
        s["blog"] += 2.0
    if sig.og_type == "product":
        s["product"] += 1.0
    if 1 <= sig.cart_controls <= 2:
        s["product"] += 1.0
    elif sig.cart_controls >= 3:
        s["listing"] += 0.5
    dom = sig.dom
    prices = [f for f in sig.facts if f.kind == "product"]
    unit_prices = [f for f in prices if f.unit]
    features = [f for f in sig.facts if f.kind == "feature"]
    reviews = [f for f in sig.facts if f.kind == "review"]
    if dom is not None:
        if dom.product_page_name:
            s["product"] += 2.5
            if dom.review_blocks or any(f.kind == "rating" for f in sig.facts):
                s["product"] += 0.5
        if dom.card_count >= 2 and len(unit_prices) >= 2:
            s["pricing"] += 2.0
        elif dom.card_count >= 3:
            s["listing"] += 1.5
        if dom.table_products >= 3:
            s["listing"] += 1.0
        if dom.review_blocks >= 2 and not dom.product_page_name:
            s["reviews"] += 1.5
    elif html_tree is not None:
        n = len([m for m in find_prices(text or "") if m.is_current])
        units = len([m for m in find_prices(text or "") if m.is_current and m.price.unit])
        if units >= 2:
            s["pricing"] += 1.5
        elif n >= 3:
            s["listing"] += 1.0
    if len(unit_prices) >= 2:
        s["pricing"] += 1.0
    if len(features) >= 5 and len(prices) <= 1:
        s["features"] += 1.5
    if len(reviews) >= 2 and not (dom is not None and dom.product_page_name):
        s["reviews"] += 1.0
    if sig.published and len(text or "") > 800:
        s["blog"] += 1.0
    elif sig.published and not (
        dom is not None and (dom.product_page_name or dom.card_count or dom.review_blocks)
    ):
        s["blog"] += 1.0  # a dated short page with no product, cards or reviews
    if not s:
        return "other", 0.4
    kind, best = max(s.items(), key=lambda kv: kv[1])
    if best < 1.0:
        return "other", 0.4
    total = sum(s.values())
    conf = 0.5 + 0.45 * (best / total) * min(1.0, best / 3.0)
    return kind, round(min(0.95, conf), 3)


def page_relevance(kind: str, title: str, text: str, topic: str | None, has_facts: bool) -> float:
    """Relevance of a fetched page to a market-research topic (0-1; noise pages low)."""
    base = _KIND_BASE.get(kind, 0.4)
    if has_facts and kind not in ("noise",):
        base = min(1.0, base + 0.05)
    tw = topic_words(topic)
    if not tw:
        return round(base, 3)
    words = set(_words(f"{title} {text[:5000]}"))
    core = {w for w in tw if not w.endswith("s")} or tw
    overlap = len(words & tw) / max(1, min(len(core), 5))
    score = 0.7 * base + 0.3 * min(1.0, overlap)
    if kind == "noise":
        score = min(score, 0.1)
    return round(max(0.0, min(1.0, score)), 3)


# -- the page ---------------------------------------------------------------------------------
def _title(raw: HtmlElement, clean: HtmlElement) -> str:
    t = raw.find(".//title")
    if t is not None and norm_space(t.text_content()):
        return norm_space(t.text_content())
    for m in raw.iter("meta"):
        if (m.get("property") or "").lower() == "og:title" and m.get("content"):
            return norm_space(m.get("content") or "")
    h1 = clean.find(".//h1")
    return el_text(h1) if h1 is not None else ""


_ABOUT_RE = re.compile(
    r"(?:reviews? (?:of|for)|testimonials? (?:of|for)|(?:say|said|think) about|features of|"
    r"introducing|meet)\s+(?:the\s+)?([A-Z0-9][\w .&+'-]{1,60}?)\s*[.!?:]?$"
    r"|^([A-Z0-9][\w .&+'-]{1,60}?)\s+(?:reviews?|testimonials?|features|customer stories)\b",
    re.IGNORECASE,
)


def _subject_from_heading(*texts: str) -> str | None:
    """ "Reviews of Acme Pro" / "Acme Pro features" / "What customers say about Acme Pro"."""
    for t in texts:
        m = _ABOUT_RE.search(norm_space(t or ""))
        if m:
            name = norm_space(m.group(1) or m.group(2) or "")
            if 2 <= len(name) <= 60 and name.lower() not in ("our", "the", "customer", "product"):
                return name
    return None


def _brand_from_title(title: str) -> str | None:
    parts = [p.strip() for p in re.split(r"\s+[|–—·:-]\s+", title or "") if p.strip()]
    if len(parts) < 2:
        return None
    cand = parts[-1]
    if 2 <= len(cand) <= 40 and not re.search(r"pricing|plans|features|reviews|blog", cand, re.I):
        return cand
    return None


def _docs_like(quick: PageSignals, structured: StructuredResult) -> bool:
    """A documentation or help page: code blocks and no product offer (no structured product,
    no add-to-cart control)."""
    return quick.code_blocks >= 1 and not structured.product_names and not quick.cart_controls


def extract_page(
    html: str,
    url: str,
    *,
    topic: str | None = None,
    known_products: Iterable[str] = (),
) -> PageExtraction:
    """Extract facts, links, kind, relevance and date from one page. Pure: no network.

    Layers, in order, de-duplicated (same subject+attribute+value: the highest-confidence one
    is kept, distinct values are all kept): schema.org structured data, the layout (cards,
    product page, tables, lists, ratings, reviews), and sentences in the text that mention a
    product with a price. Hidden elements and advertisements never produce facts; text that
    reads like instructions to an automated reader is ignored and reported in ``warnings``.

    Args:
        html: the page HTML (as fetched, or as rendered by a browser).
        url: the page URL (base for links, ``source_url`` of the facts).
        topic: the research topic, for relevance.
        known_products: product names to look for in running text.

    Returns:
        The page extraction.
    """
    known_products = tuple(known_products)
    raw = parse_html(html)
    keep_star_icons(raw)
    clean = clean_tree(raw)
    text = visible_text(clean.root)
    title = _title(raw, clean.root)
    js, js_reason = _needs_js(raw, clean.root, text)
    base_el = raw.find(".//base")
    links, other_links, anchors = extract_links(
        clean.root, url, base=base_el.get("href") if base_el is not None else None
    )
    warnings: list[str] = []
    concealed = [h for h in clean.hidden_texts if looks_like_injection(h)]
    concealed += [
        c for c in re.findall(r"<!--(.*?)-->", html or "", re.S) if looks_like_injection(c)
    ]
    for m in raw.iter("meta"):
        if looks_like_injection(m.get("content") or ""):
            concealed.append(m.get("content") or "")
    for h in concealed:
        warnings.append(f"hidden instruction-like text ignored: {norm_space(h)[:80]}")
    untrusted = bool(concealed)
    if clean.hidden_removed:
        warnings.append(f"{clean.hidden_removed} hidden element(s) ignored")
    if clean.ads_removed:
        warnings.append(f"{clean.ads_removed} advertisement block(s) ignored")

    cleaned_html = lxml.html.tostring(clean.root, encoding="unicode")
    structured: StructuredResult = extract_structured(raw, cleaned_html, url, clean_root=clean.root)
    published = find_published(raw, clean.root, structured.published)
    currency = page_currency(text)
    quick = _quick_signals(raw)
    quick.published = published
    prelim_kind, _ = classify_page(url, title, text, None, signals=quick)
    blog_like = prelim_kind == "blog" or bool(structured.types & ARTICLE_TYPES)
    distinct_structured = list(dict.fromkeys(structured.product_names))
    h1 = clean.root.find(".//h1")
    subject_hint = (
        distinct_structured[0]
        if len(distinct_structured) == 1
        else _subject_from_heading(el_text(h1) if h1 is not None else "", title)
        or _brand_from_title(title)
    )
    # Every page's layout is read, whatever its address says: whether a page is noise (careers,
    # legal, about...) is decided below with the layout's evidence. The layout and text facts of
    # a noise page are then dropped: a salary or a registered-capital amount is not a price.
    dom = extract_dom(
        clean.root,
        url,
        currency=currency,
        subject_hint=subject_hint,
        blog_like=blog_like,
        allow_products=True,
        known_products=known_products,
        features_page=prelim_kind == "features",
        title=title,
        docs_page=_docs_like(quick, structured),
        structured_products=len(distinct_structured),
    )
    warnings.extend(dom.warnings)
    names = [*distinct_structured, *dom.names]
    text_facts, text_warn = extract_text_facts(
        text,
        url,
        names=names,
        known_products=known_products,
        published=published,
        currency=currency,
    )
    warnings.extend(text_warn)
    content = PageSignals(
        structured_products=len(distinct_structured),
        structured_types=structured.types,
        item_list=structured.item_list_size > 0,
        og_type=quick.og_type,
        dom=dom,
        facts=dedupe_facts([*structured.facts, *dom.facts, *text_facts]),
        published=published,
        cart_controls=quick.cart_controls,
        feature_groups=quick.feature_groups,
        code_blocks=quick.code_blocks,
        salary_lines=quick.salary_lines,
    )
    kind, _conf = classify_page(url, title, text, raw, signals=content)
    if kind == "noise":
        dom = replace(dom, facts=[])
        text_facts = []
    facts = dedupe_facts([*structured.facts, *dom.facts, *text_facts])
    facts = reconcile_main_product(facts, dom.product_page_name, text)
    if untrusted and facts:
        # Hidden instructions to automated readers: the page is adversarial. Its visible facts
        # are kept (the hidden text itself never produced any) but at half confidence, so any
        # other source wins.
        warnings.append(
            f"page hides instructions for automated readers: {len(facts)} fact(s) downgraded"
        )
        facts = [
            replace(
                f,
                confidence=round(f.confidence * 0.5, 3),
                extra={**f.extra, "untrusted_page": True},
            )
            for f in facts
        ]
    relevance = page_relevance(kind, title, text, topic, bool(facts))
    return PageExtraction(
        url=url,
        title=title,
        page_kind=kind,
        relevance=relevance,
        published=published,
        text=text,
        links=links,
        other_links=other_links,
        facts=facts,
        needs_javascript=js,
        js_reason=js_reason,
        anchors=anchors,
        warnings=list(dict.fromkeys(warnings)),
        untrusted=untrusted,
    )
