"""HTML tree utilities: parsing, removal of hidden and advertising elements, visible text.

Hidden elements (``hidden``, ``aria-hidden="true"``, inline ``display:none`` /
``visibility:hidden`` / ``opacity:0`` / ``font-size:0`` / off-screen positioning, classes hidden by
a simple page-level ``<style>`` rule, ``<input type=hidden>``, ``<template>``) and advertising
blocks (class/id/aria-label tokens such as ``ad``, ``ads``, ``advert``, ``sponsored``, or a block
labelled only "Advertisement"/"Sponsored") are removed before any DOM or text extraction, so text
a visitor cannot see never becomes a fact. One exception keeps check marks and star ratings
usable: an ``aria-hidden`` element whose text is only symbols (✓, ★, ✗...) is unwrapped rather
than removed, since a glyph cannot carry words.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from orchestration_project.research.extraction.facts import norm_space
from orchestration_project.research.extraction.prices import find_prices

__all__ = [
    "BLOCK_TAGS",
    "CANONICAL_ATTR",
    "CleanResult",
    "canonical_url",
    "class_tokens",
    "clean_tree",
    "el_text",
    "iter_elements",
    "parse_html",
    "signature",
    "similar",
    "similar_siblings",
    "visible_text",
]

BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "ul",
        "tr",
        "caption",
        "tbody",
        "thead",
        "tfoot",
        "summary",
        "center",
        "html",
    ]
)
CELL_TAGS = frozenset({"td", "th"})
_DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "svg",
    "canvas",
    "select",
    "head",
    "link",
)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*(?:hidden|collapse)|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$|!)"
    r"|font-size\s*:\s*0(?:px|em|rem|%)?\s*(?:;|$|!)"
    r"|(?:left|top|text-indent)\s*:\s*-\d{3,}(?:px|em|rem)",
    re.IGNORECASE,
)
_HIDDEN_CLASSES = frozenset({"hidden", "d-none", "is-hidden", "invisible", "hide", "display-none"})
_AD_TOKENS = frozenset(
    {
        "ad",
        "ads",
        "adv",
        "advert",
        "adverts",
        "advertisement",
        "advertisements",
        "advertising",
        "adsbygoogle",
        "adslot",
        "adunit",
        "adbox",
        "adbanner",
        "sponsored",
        "sponsor",
        "sponsors",
        "promoted",
        "dfp",
        "doubleclick",
    }
)
_AD_LABELS = re.compile(
    r"^(?:advertisement|advertisements|advert|ad|ads|sponsored|sponsored content|"
    r"sponsored link|sponsored links|promoted|anzeige|werbung|publicité|publicidad|pubblicità)"
    r"[\s:.!]*$",
    re.IGNORECASE,
)
_SYMBOL_ONLY = re.compile(r"^[\s\W_]*$")
_STATE_TOKENS = frozenset(
    [
        "active",
        "selected",
        "featured",
        "popular",
        "highlighted",
        "highlight",
        "recommended",
        "best",
        "primary",
        "current",
        "odd",
        "even",
        "first",
        "last",
        "new",
        "sale",
        "hot",
        "dark",
        "light",
        "focus",
        "hover",
        "open",
        "closed",
        "visible",
        "show",
        "shown",
        "is-active",
        "is-featured",
        "is-popular",
        "js",
        "clearfix",
        "left",
        "right",
        "center",
    ]
)


@dataclass
class CleanResult:
    """A cleaned copy of a document and what was removed from it."""

    root: HtmlElement
    hidden_removed: int = 0
    ads_removed: int = 0
    hidden_texts: list[str] = field(default_factory=list)
    canonical: str | None = None


CANONICAL_ATTR = "data-canonical-url"
"""Attribute of the cleaned document's root holding the page's canonical URL (``<link
rel=canonical>``, else ``og:url``), since the cleaned copy has no ``<head>``."""


def canonical_url(root: HtmlElement) -> str | None:
    """The canonical URL a document declares (``<link rel=canonical>``, else ``og:url``)."""
    for el in root.iter("link"):
        if "canonical" in (el.get("rel") or "").lower().split() and el.get("href"):
            return (el.get("href") or "").strip()
    for el in root.iter("meta"):
        if (el.get("property") or "").lower() == "og:url" and el.get("content"):
            return (el.get("content") or "").strip()
    return None


def parse_html(html: str | bytes) -> HtmlElement:
    """Parse HTML leniently into an lxml tree (never raises on junk input).

    Args:
        html: the document.

    Returns:
        The ``<html>`` root element.
    """
    data = html.encode("utf-8", errors="replace") if isinstance(html, str) else (html or b"")
    if not data.strip():
        data = b"<html><body></body></html>"
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True)
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError):
        root = lxml.html.document_fromstring(b"<html><body></body></html>", parser=parser)
    return root


def iter_elements(root: HtmlElement) -> Iterator[HtmlElement]:
    """All real elements under ``root`` (comments and processing instructions skipped)."""
    for el in root.iter():
        if isinstance(el.tag, str):
            yield el


def class_tokens(el: HtmlElement) -> list[str]:
    """Lower-cased class and id words of ``el``, split on ``-``/``_``/camelCase too.

    ``class="product-card adSlot"`` gives ``["product-card", "product", "card", "adslot", "ad",
    "slot"]``.
    """
    raw = f"{el.get('class', '')} {el.get('id', '')}"
    out: list[str] = []
    for word in raw.split():
        out.append(word.lower())
        parts = re.split(r"[-_]+|(?<=[a-z])(?=[A-Z])", word)
        if len(parts) > 1:
            out.extend(p.lower() for p in parts if p)
    return out


def _style_hidden_selectors(root: HtmlElement) -> tuple[set[str], set[str]]:
    """Classes and ids hidden by simple ``.x{display:none}`` rules outside ``@media`` blocks."""
    classes: set[str] = set()
    ids: set[str] = set()
    for style in root.iter("style"):
        css = style.text or ""
        css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
        # Drop @media/@supports blocks (responsive hiding is not hiding).
        out, depth, i = [], 0, 0
        while i < len(css):
            if css.startswith("@", i) and depth == 0:
                j = css.find("{", i)
                if j < 0:
                    break
                k, d = j + 1, 1
                while k < len(css) and d:
                    d += {"{": 1, "}": -1}.get(css[k], 0)
                    k += 1
                i = k
                continue
            out.append(css[i])
            i += 1
        for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", "".join(out)):
            if not _HIDDEN_STYLE.search(body):
                continue
            for part in sel.split(","):
                part = part.strip()
                m = re.fullmatch(r"\.([\w-]+)", part)
                if m:
                    classes.add(m.group(1))
                m = re.fullmatch(r"#([\w-]+)", part)
                if m:
                    ids.add(m.group(1))
    return classes, ids


def is_hidden(
    el: HtmlElement, hidden_classes: set[str] = frozenset(), hidden_ids: set[str] = frozenset()
) -> bool:  # noqa: B006
    """Whether ``el`` itself is hidden by an attribute, inline style or a known hiding class."""
    if el.get("hidden") is not None:
        return True
    if (el.get("aria-hidden") or "").strip().lower() == "true":
        return True
    if el.tag == "input" and (el.get("type") or "").lower() == "hidden":
        return True
    style = el.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    classes = set((el.get("class") or "").split())
    if classes & _HIDDEN_CLASSES or classes & hidden_classes:
        return True
    return bool(el.get("id") and el.get("id") in hidden_ids)


def _is_ad_container(el: HtmlElement) -> bool:
    toks = set(class_tokens(el))
    if toks & _AD_TOKENS:
        return True
    if any(t.startswith(("advert", "adsby", "sponsored")) for t in toks):
        return True
    label = (el.get("aria-label") or "").strip()
    if label and _AD_LABELS.match(label):
        return True
    return any(a.startswith("data-ad-") or a in ("data-ad", "data-ad-slot") for a in el.attrib)


def _show_selected_options(doc: HtmlElement) -> None:
    """Replace a ``<select>`` whose shown option states a price by that option's text: the
    selected option, else the first ("Med : $24.95" on a shop whose only price is in the size
    selector). Other selects (a quantity list, a country list, a review form's star choice)
    hold input values, not facts, and are dropped with the rest of the form controls."""
    for sel in list(doc.iter("select")):
        parent = sel.getparent()
        if parent is None:
            continue
        options = [o for o in sel.iter("option")]
        shown = next((o for o in options if o.get("selected") is not None), None)
        shown = shown if shown is not None else (options[0] if options else None)
        text = norm_space(shown.text_content()) if shown is not None else ""
        if not text or not any(m.price.currency for m in find_prices(text)):
            continue
        span = lxml.html.Element("span", {"class": "selected-option"})
        span.text = text
        span.tail = sel.tail
        parent.replace(sel, span)


def clean_tree(root: HtmlElement) -> CleanResult:
    """Copy ``root`` without scripts, styles, hidden elements, advertisements and comments.

    Args:
        root: a parsed document (left untouched).

    Returns:
        The cleaned copy and counts of what was removed (plus the removed hidden texts, so a
        caller can report instruction-like text that was ignored).
    """
    hidden_classes, hidden_ids = _style_hidden_selectors(root)
    doc = copy.deepcopy(root)
    result = CleanResult(root=doc, canonical=canonical_url(root))
    if result.canonical:
        doc.set(CANONICAL_ATTR, result.canonical)
    etree.strip_elements(doc, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    _show_selected_options(doc)
    for tag in _DROP_TAGS:
        for el in list(doc.iter(tag)):
            if el.getparent() is not None:
                el.drop_tree()
    body = doc.find("body")
    scope = body if body is not None else doc
    # Hidden elements: remove (unwrap pure-symbol aria-hidden glyphs such as ✓ or ★).
    for el in list(iter_elements(scope)):
        if el.getparent() is None or el is scope:
            continue
        if is_hidden(el, hidden_classes, hidden_ids):
            txt = el.text_content()
            only_aria = (
                (el.get("aria-hidden") or "").lower() == "true"
                and el.get("hidden") is None
                and not (el.get("style") and _HIDDEN_STYLE.search(el.get("style") or ""))
            )
            if only_aria and _SYMBOL_ONLY.match(txt) and not re.search(r"\d", txt):
                if txt.strip():
                    el.drop_tag()
                else:
                    el.drop_tree()
                continue
            if txt.strip():
                result.hidden_texts.append(norm_space(txt)[:300])
            el.drop_tree()
            result.hidden_removed += 1
    # Advertisements: containers by class/id/label, then blocks labelled only "Sponsored".
    for el in list(iter_elements(scope)):
        if el.getparent() is None or el is scope:
            continue
        if _is_ad_container(el) and len(norm_space(el.text_content())) < 2000:
            el.drop_tree()
            result.ads_removed += 1
    for el in list(iter_elements(scope)):
        if el.getparent() is None or el is scope:
            continue
        if len(el) > 2:
            continue
        if not _AD_LABELS.match(norm_space(el.text_content())):
            continue
        target = el
        anc = el.getparent()
        for _ in range(3):
            if anc is None or anc is scope:
                break
            if len(similar_siblings(anc)) >= 2 and len(norm_space(anc.text_content())) < 600:
                target = anc
                break
            anc = anc.getparent()
        if target.getparent() is not None:
            target.drop_tree()
            result.ads_removed += 1
    return result


def _walk_text(el: HtmlElement, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag == "br" or tag in BLOCK_TAGS:
        out.append("\n")
    elif tag in CELL_TAGS:
        out.append("\t")
    elif tag == "img":
        pass
    if tag and el.text:
        if (
            tag == "sup"
            and len(el) == 0
            and re.fullmatch(r"\d\d", el.text.strip())
            and out
            and out[-1][-1:].isdigit()
        ):
            out.append(".")  # "19<sup>99</sup>": cents written as a superscript
        out.append(el.text)
    for child in el:
        _walk_text(child, out)
    if tag in BLOCK_TAGS:
        out.append("\n")
    elif tag in CELL_TAGS:
        out.append("\t")
    if el.tail:
        out.append(el.tail)


def el_text(el: HtmlElement, *, lines: bool = False) -> str:
    """Rendered-like text of an element: blocks and ``<br>`` break lines, inline runs join.

    Args:
        el: the element.
        lines: keep line breaks (one line per block); otherwise collapse to single spaces.

    Returns:
        The text.
    """
    parts: list[str] = []
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag and el.text:
        parts.append(el.text)
    for child in el:
        _walk_text(child, parts)
    raw = "".join(parts)
    if not lines:
        return norm_space(raw)
    out_lines = []
    for line in raw.split("\n"):
        line = re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip()
        if line:
            out_lines.append(line)
    return "\n".join(out_lines)


def visible_text(root: HtmlElement) -> str:
    """Visible text of a cleaned document, one line per block."""
    body = root.find("body")
    return el_text(body if body is not None else root, lines=True)


def _norm_class_set(el: HtmlElement) -> frozenset[str]:
    toks = set()
    for c in (el.get("class") or "").split():
        c = re.sub(r"--.*$", "", c.lower())
        c = re.sub(r"\d+", "", c).strip("-_")
        if c and c not in _STATE_TOKENS and not c.startswith(("is-", "has-")):
            toks.add(c)
    return frozenset(toks)


def signature(el: HtmlElement) -> tuple[str, frozenset[str]]:
    """Tag plus normalised classes (digits, BEM modifiers and state classes removed)."""
    return (el.tag if isinstance(el.tag, str) else "", _norm_class_set(el))


def similar(a: HtmlElement, b: HtmlElement) -> bool:
    """Whether two elements look like repetitions of one template (same tag, similar classes)."""
    ta, ca = signature(a)
    tb, cb = signature(b)
    if ta != tb or not ta:
        return False
    if not ca and not cb:
        return True
    if not ca or not cb:
        return False
    return len(ca & cb) / len(ca | cb) >= 0.5


def similar_siblings(el: HtmlElement) -> list[HtmlElement]:
    """``el`` and its siblings that look like the same template (``[el]`` when alone)."""
    parent = el.getparent()
    if parent is None:
        return [el]
    return [c for c in parent if isinstance(c.tag, str) and (c is el or similar(c, el))]


class SiblingIndex:
    """Memoised :func:`similar_siblings` for one document (keeps the element proxies alive)."""

    def __init__(self) -> None:
        self._sig: dict[int, tuple[str, frozenset[str]]] = {}
        self._res: dict[int, list[HtmlElement]] = {}
        self._groups: dict[tuple[int, str, frozenset[str]], list[HtmlElement]] = {}
        self._keep: list[HtmlElement] = []

    def _signature(self, el: HtmlElement) -> tuple[str, frozenset[str]]:
        k = id(el)
        if k not in self._sig:
            self._keep.append(el)
            self._sig[k] = signature(el)
        return self._sig[k]

    def similar_siblings(self, el: HtmlElement) -> list[HtmlElement]:
        """Same as :func:`similar_siblings`, computed once per element."""
        k = id(el)
        if k in self._res:
            return self._res[k]
        self._keep.append(el)
        parent = el.getparent()
        if parent is None:
            self._res[k] = [el]
            return self._res[k]
        ta, ca = self._signature(el)
        group_key = (id(parent), ta, ca)
        if group_key in self._groups:
            out = self._groups[group_key]
            self._res[k] = out if any(x is el for x in out) else [el]
            return self._res[k]
        self._keep.append(parent)
        out = []
        for c in parent:
            if not isinstance(c.tag, str):
                continue
            if c is el:
                out.append(c)
                continue
            tb, cb = self._signature(c)
            if ta != tb or not ta:
                continue
            if (not ca and not cb) or (ca and cb and len(ca & cb) / len(ca | cb) >= 0.5):
                out.append(c)
        self._res[k] = out
        self._groups[group_key] = out
        return out
