"""Star widgets: ratings that are not text.

A rating is read from what a star widget carries: ``data-rating``-style attributes (with
``data-max``/``aria-valuemax`` for other scales), ``aria-label``/``title``/``alt`` texts ("4.5 out of 5
stars", "Rated four stars"), ``role="img"`` + ``aria-valuenow``, classes naming the number of stars
(``star-rating Four``, ``stars-4-5``, ``rating-45``, ``a-star-4-5``, ``stars s4``; two digits are
an implied decimal only inside a star/rating class) and counted star icons (filled, half and
empty: ``fa-star``/``fa-star-half-o``/``fa-star-o``, ``star active``/``star``, ★/☆ spans, Material
``star``/``star_half``/``star_border``). Values are on the 0-5 scale; ``best_rating`` keeps the
page's scale. Form controls (a review form's "5 stars" option) are never ratings.
Also :func:`in_code` (code blocks never hold reviews or features), :func:`keep_star_icons` (star
icons survive cleaning) and :func:`structure_counts` (page-structure counts for classification).
"""

from __future__ import annotations

import re
from typing import Any

import lxml.html
from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import class_tokens
from orchestration_project.research.extraction.dom_signals import (
    NUMBER_WORDS,
    SALARY_CONTEXT,
    rating_from_text,
    words_to_digits,
)
from orchestration_project.research.extraction.facts import norm_space
from orchestration_project.research.extraction.prices import find_prices

__all__ = [
    "CODE_TAGS",
    "FORM_TAGS",
    "Rating",
    "class_rating",
    "code_like",
    "element_rating",
    "in_code",
    "keep_star_icons",
    "star_icon_state",
    "structure_counts",
]

Rating = tuple[float, dict[str, Any], str]

_DATA_RATING = re.compile(
    r"^data-(?:[\w-]*[-_])?(?:rating|ratings|stars?|score|rate|rated|average|avg)"
    r"(?:[-_](?:value|avg|average|score))?$",
    re.IGNORECASE,
)
_DATA_BEST = ("data-max", "data-best", "data-best-rating", "data-scale", "data-out-of", "data-of")
_LABEL_HINT = re.compile(r"star|rat|out of|/\s*(?:5|10)\b|von 5|sur 5|de 5|sterne|étoiles", re.I)
_STAR_KEY = re.compile(r"(?:^|[-_])(?:stars?|ratings?|rated|bubbles?|score)(?=$|[-_\d])", re.I)
_NUM_WORD = "|".join(w for w, v in NUMBER_WORDS.items() if v <= 5)
_CLASS_NUMBER = re.compile(
    rf"^(?:(?P<d>\d)(?:[-_.]?(?P<f>\d))?|(?P<w>{_NUM_WORD}))(?:[-_]?(?P<h>half|5\b))?$",
    re.IGNORECASE,
)
_LONE_CLASS_NUMBER = re.compile(rf"^(?:[a-z]?(\d{{1,2}})(?:[-_](\d|half))?|({_NUM_WORD}))$", re.I)
FORM_TAGS = frozenset({"form", "select", "option", "input", "textarea", "label", "button"})
CODE_TAGS = frozenset({"pre", "code", "kbd", "samp", "textarea"})
_CODE_TOKENS = frozenset(
    {
        "highlight",
        "highlighter",
        "hljs",
        "prism",
        "codehilite",
        "sourcecode",
        "syntax",
        "codeblock",
        "code",
        "gist",
        "codemirror",
        "console",
        "terminal",
        "shell",
    }
)
_ICON_FULL = frozenset(
    {"full", "fill", "filled", "active", "on", "checked", "selected", "solid", "fas", "rated"}
)
_ICON_EMPTY = frozenset(
    {
        "o",
        "empty",
        "outline",
        "outlined",
        "border",
        "off",
        "blank",
        "inactive",
        "unfilled",
        "unchecked",
        "grey",
        "gray",
        "disabled",
        "line",
        "regular",
        "far",
        "none",
        "unrated",
    }
)


_ICON_GLYPHS = frozenset({"★", "☆", "⭐", "✩", "✭", "✮", "½", "⯪"})
_MATERIAL_STARS = frozenset(
    {"star", "star_half", "star_border", "star_outline", "star_rate", "star_half_alt"}
)


def _class_number(part: str) -> float | None:
    """``4``/``45``/``4-5``/``4_half``/``four``/``four-half`` -> 4 / 4.5 (0-5 only)."""
    m = _CLASS_NUMBER.match(part)
    if not m:
        return None
    if m.group("w"):
        v = float(NUMBER_WORDS[m.group("w").lower()])
    else:
        v = float(m.group("d"))
        if m.group("f"):
            v += int(m.group("f")) / 10  # 45 -> 4.5: an implied decimal inside a star class
    if m.group("h"):
        if m.group("f"):
            return None
        v += 0.5
    return v if 0 <= v <= 5 else None


def class_rating(classes: str) -> float | None:
    """The number of stars a class attribute names, on the 0-5 scale.

    The class must name stars or a rating: ``star-rating Four``, ``stars-4-5``, ``rating-45``,
    ``a-star-4-5``, ``stars_4_half``, ``bubble_45``, ``four-stars``, ``stars s4``. Other classes
    with digits (``col-4``, ``mt-5``) are never read.

    Args:
        classes: the ``class`` attribute.

    Returns:
        The rating, or None.
    """
    words = [w.lower() for w in (classes or "").split()]
    keyed = False
    for w in words:
        keys = list(_STAR_KEY.finditer(w))
        if not keys:
            continue
        keyed = True
        after = w[keys[-1].end() :].strip("-_")
        if re.search(r"count|total|num|votes?|reviews?|qty|amount|id\b", after):
            continue
        if after:
            # "4-5", or a size/variant word first: "regular-3-half", "small-45"
            tail = re.search(
                r"(?:^|[-_])([0-5](?:[-_.]?\d)?(?:[-_]half)?|[a-z]+(?:[-_]half)?)$", after
            )
            v = _class_number(after)
            if v is None and tail and re.fullmatch(r"[a-z_-]*", after[: tail.start()]):
                v = _class_number(tail.group(1))
            if v is not None:
                return v
            continue
        before = re.split(r"[-_]+", w[: keys[-1].start()].strip("-_"))
        for cand in ("-".join(before[-2:]), before[-1]):
            v = _class_number(cand) if cand else None
            if v is not None:
                return v
    if not keyed:
        return None
    for w in words:
        if _STAR_KEY.search(w):
            continue
        m = _LONE_CLASS_NUMBER.match(w)
        if not m:
            continue
        if m.group(3):
            return float(NUMBER_WORDS[m.group(3)])
        digits, frac = m.group(1), m.group(2)
        v = float(digits[0]) + (int(digits[1]) / 10 if len(digits) == 2 else 0.0)
        if frac:
            v += 0.5 if frac == "half" else int(frac) / 10
        if 0 <= v <= 5:
            return v
    return None


def code_like(el: HtmlElement) -> bool:
    """The element itself is code: ``pre``/``code``/``kbd``/``samp`` or a highlighting wrapper."""
    if el.tag in CODE_TAGS:
        return True
    cls = (el.get("class") or "").lower()
    return bool(cls) and bool(
        set(class_tokens(el)) & _CODE_TOKENS or re.search(r"\b(?:language|lang)-\w", cls)
    )


def in_code(el: HtmlElement) -> bool:
    """Inside a code block (``pre``/``code``/``kbd``/``samp`` or a syntax-highlighting wrapper)."""
    return any(code_like(a) for a in [el, *el.iterancestors()])


def _icon_label(el: HtmlElement) -> str:
    src = el.get("src") or ""
    return " ".join(
        (
            el.get("class") or "",
            el.get("data-icon") or "",
            src.rsplit("/", 1)[-1].rsplit(".", 1)[0],
            el.get("alt") or "" if el.tag == "img" else "",
        )
    ).lower()


def star_icon_state(el: HtmlElement) -> str | None:
    """``"full"``, ``"half"`` or ``"empty"`` for one star icon; None for anything else.

    Icons are elements whose class (or ``data-icon``, image file name) names a star, a single
    ★/☆ glyph, or a Material-icons ligature (``star``, ``star_half``, ``star_border``).
    ``"marked_full"`` is returned for icons that carry an explicit "filled/active/on" class, so a
    caller can treat unmarked siblings as empty.
    """
    if not isinstance(el.tag, str) or el.tag not in ("i", "span", "img", "svg", "em", "b", "li"):
        return None
    text = (el.text_content() or "").strip()
    tl = text.lower()
    glyph = text in _ICON_GLYPHS
    if text and not glyph and tl not in _MATERIAL_STARS:
        return None  # one icon shows nothing, one glyph or one ligature
    label = _icon_label(el)
    if "star" not in label and not glyph and tl not in _MATERIAL_STARS:
        return None
    toks = set(re.split(r"[-_\s]+", label)) | set(class_tokens(el)) if "star" in label else set()
    if "half" in toks or "half" in label or tl.startswith("star_half") or text == "½":
        return "half"
    if toks & _ICON_EMPTY or text in ("☆", "✩") or tl in ("star_border", "star_outline"):
        return "empty"
    if toks & _ICON_FULL:
        return "marked_full"
    return "full"


def _icons_rating(el: HtmlElement) -> Rating | None:
    """Counted star icons among the children (or grandchildren) of ``el``."""
    kids = [c for c in el if isinstance(c.tag, str)]
    if not 1 <= len(kids) <= 12:
        return None
    icons: list[str] = []
    for c in kids:
        st = star_icon_state(c)
        if st is None:
            inner = [g for g in c if isinstance(g.tag, str)]
            if len(inner) == 1:
                st = star_icon_state(inner[0])
        if st is not None:
            icons.append(st)
    n = len(icons)
    own = (el.get("class") or "").lower() + " " + (el.get("aria-label") or "").lower()
    # a lone icon is a decoration ("★ 4.6") or carries its own value, never a count of one
    if n < 2 or (n < 3 and not re.search(r"star|rating|rated|review", own)):
        return None
    if "marked_full" in icons:
        icons = ["full" if s == "marked_full" else "empty" if s == "full" else s for s in icons]
    full = icons.count("full")
    half = icons.count("half")
    empty = icons.count("empty")
    if n in (5, 10):
        value = (full + 0.5 * half) / n * 5.0
    elif n < 5 and not empty:
        value = full + 0.5 * half
    else:
        return None
    raw = full + 0.5 * half
    return (
        round(value, 3),
        {"best_rating": float(n if n == 10 else 5), "raw_value": raw},
        (f"{full} full, {half} half, {empty} empty star icons"),
    )


def _data_rating(d: HtmlElement) -> Rating | None:
    for attr, v in d.attrib.items():
        if not _DATA_RATING.match(attr) or not v:
            continue
        v = v.strip()
        if not re.fullmatch(r"\d{1,3}(?:[.,]\d{1,2})?", v):
            continue
        val = float(v.replace(",", "."))
        best = 5.0
        for b in (*_DATA_BEST, "aria-valuemax"):
            bv = (d.get(b) or "").strip()
            if re.fullmatch(r"\d{1,3}(?:\.\d+)?", bv) and float(bv) > 0:
                best = float(bv)
                break
        if best not in (5.0, 10.0, 100.0) or not 0 <= val <= best:
            continue
        return round(val / best * 5.0, 3), {"best_rating": best, "raw_value": val}, f"{attr}={v}"
    return None


def element_rating(d: HtmlElement) -> Rating | None:
    """The rating one element carries itself (attributes, classes, counted child icons).

    Text inside the element is not read here (see :meth:`RatingsMixin.rating_in`), except the
    ``aria-label``/``title``/``alt`` texts and the glyphs of star icons.

    Args:
        d: the element.

    Returns:
        ``(value 0-5, extra with best_rating/raw_value, evidence)`` or None.
    """
    if not isinstance(d.tag, str) or d.tag in FORM_TAGS:
        return None
    r = _data_rating(d)
    if r and not _numbered_icons(d):
        return r
    if d.get("role") in ("img", "meter", "progressbar", "slider") and d.get("aria-valuenow"):
        now, top = d.get("aria-valuenow") or "", d.get("aria-valuemax") or "5"
        if re.fullmatch(r"\d(?:\.\d+)?", now) and top in ("5", "10", "100"):
            val, best = float(now), float(top)
            if 0 <= val <= best:
                return round(val / best * 5, 3), {"best_rating": best, "raw_value": val}, now
    for attr in ("aria-label", "title", "alt"):
        v = d.get(attr)
        if v and len(v) <= 120 and _LABEL_HINT.search(v):
            lr = rating_from_text(words_to_digits(v))
            if lr:
                return lr[0], lr[1], v
    cls = d.get("class")
    if cls:
        cv = class_rating(cls)
        if cv is not None and not _indexed_icon(d, cv):
            return cv, {"best_rating": 5.0, "raw_value": cv}, f'class="{cls}"'
    return _icons_rating(d)


def _indexed_icon(d: HtmlElement, value: float) -> bool:
    """A numbered sibling among others (``star-1 … star-5`` icons, a histogram's rows)."""
    parent = d.getparent()
    if parent is None:
        return False
    for s in parent:
        if s is d or not isinstance(s.tag, str) or s.tag != d.tag:
            continue
        sv = class_rating(s.get("class") or "")
        if sv is not None and sv != value:
            return True
    return False


def _numbered_icons(d: HtmlElement) -> bool:
    """One of three or more text-free siblings whose rating attributes count up by one
    (``data-rating="0" … "4"`` on each star of a widget): the number is a position."""
    parent = d.getparent()
    if parent is None or (d.text_content() or "").strip():
        return False
    values = []
    for s in parent:
        if not isinstance(s.tag, str) or s.tag != d.tag or (s.text_content() or "").strip():
            continue
        r = _data_rating(s)
        if r is not None:
            values.append(r[1]["raw_value"])
    values.sort()
    return len(values) >= 3 and all(b - a == 1 for a, b in zip(values, values[1:], strict=False))


_STAR_HINT = re.compile(r"star|rating|rated", re.IGNORECASE)


def keep_star_icons(raw: HtmlElement) -> None:
    """Keep star icons visible to the layout layer (in place, before cleaning).

    Cleaning drops ``<svg>`` and empty ``aria-hidden`` elements, which is how most star widgets
    are drawn: an ``aria-hidden`` icon is hidden from screen readers, not from the eye. Star
    icons lose ``aria-hidden``, and star ``<svg>`` elements become empty ``<i>`` elements with
    their class, label and referenced symbol, so filled and empty stars can be counted.
    """
    for el in raw.xpath("//*[@aria-hidden]"):
        if el.tag == "svg":
            continue
        label = f"{el.get('class', '')} {el.get('data-icon', '')}"
        if _STAR_HINT.search(label) and len(norm_space(el.text_content())) <= 12:
            del el.attrib["aria-hidden"]
    for svg in list(raw.iter("svg")):
        parent = svg.getparent()
        uses = [
            u.get("href") or u.get("{http://www.w3.org/1999/xlink}href") or u.get("xlink:href")
            for u in svg.iter("use")
        ]
        title = svg.find("title")
        label = " ".join(
            [svg.get("class", ""), svg.get("data-icon", ""), *(u or "" for u in uses)]
        ).replace("#", " ")
        aria = svg.get("aria-label") or (
            norm_space(title.text_content()) if title is not None else ""
        )
        if parent is None or not (_STAR_HINT.search(label) or _STAR_HINT.search(aria)):
            continue
        icon = lxml.html.Element("i")
        icon.set("class", norm_space(label))
        if aria:
            icon.set("aria-label", aria)
        for k, v in svg.attrib.items():
            if k.startswith("data-") or k in ("role", "aria-valuenow", "aria-valuemax"):
                icon.set(k, v)
        icon.tail = svg.tail
        parent.replace(svg, icon)


_CART = re.compile(
    r"^\W*(?:add to (?:cart|basket|bag|trolley)|buy(?: it)? now|in den (?:warenkorb|einkaufswagen)|"
    r"jetzt kaufen|ajouter au panier|añadir al carrito|aggiungi al carrello|"
    r"in winkelwagen|add to order|pre-?order(?: now)?)\W*$",
    re.IGNORECASE,
)


def structure_counts(root: HtmlElement) -> dict[str, int]:
    """Cheap page-structure counts for page classification.

    Args:
        root: the parsed document.

    Returns:
        ``cart_controls`` (add-to-cart/buy buttons), ``code_blocks`` (``pre``/``code``),
        ``feature_groups`` (definition-list names followed by two or more price-free items) and
        ``salary_lines`` (job-ad wording).
    """
    sig = {"cart_controls": 0, "code_blocks": 0, "feature_groups": 0, "salary_lines": 0}
    body = root.find("body")
    scope = body if body is not None else root
    for el in scope.iter("button", "input", "a"):
        label = el.get("value") if el.tag == "input" else norm_space(el.text_content())
        if label and len(label) <= 40 and _CART.match(label):
            sig["cart_controls"] += 1
    sig["code_blocks"] = len(scope.xpath(".//pre|.//code"))
    for dl in scope.iter("dl"):
        run = 0
        for c in dl:
            if c.tag == "dt":
                sig["feature_groups"] += int(run >= 2)
                run = 0
            elif c.tag == "dd" and not find_prices(norm_space(c.text_content())):
                run += 1
        sig["feature_groups"] += int(run >= 2)
    text = norm_space(scope.text_content()[:20000])
    sig["salary_lines"] = len(SALARY_CONTEXT.findall(text))
    return sig
