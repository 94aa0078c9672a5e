"""Layout layer: ratings and review blocks.

Ratings come from star widgets (attributes, classes, counted icons: see
:mod:`~orchestration_project.research.extraction.dom_stars`), star widths and short rating lines;
review blocks are repeated blocks named like reviews, or repeated blocks that each carry one
rating and some text. Blocks inside code, navigation or site chrome are not reviews.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import class_tokens, el_text, iter_elements
from orchestration_project.research.extraction.dom_base import DomBase
from orchestration_project.research.extraction.dom_signals import (
    COUNT_RE,
    DATE_TEXT,
    HEADINGS,
    RATING_RE,
    STAR_GLYPHS,
    looks_like_injection,
    rating_from_text,
)
from orchestration_project.research.extraction.dom_stars import (
    FORM_TAGS,
    Rating,
    code_like,
    element_rating,
)
from orchestration_project.research.extraction.facts import norm_space

__all__ = ["RatingsMixin"]

_RATING_LINE = re.compile(r"out of|/\s*5\b|star|★|☆|⭐|rat|von 5|sur 5|de 5", re.I)
_SCORE_LINE = re.compile(r"\(?\d{1,2}(?:[.,]\d)?\s*/\s*10\)?")  # a line that is only "8.6/10"


class RatingsMixin(DomBase):
    """Ratings in a block and review blocks."""

    # -- ratings and reviews --------------------------------------------------------------------
    def element_rating_cached(self, d: HtmlElement) -> Rating | None:
        """:func:`element_rating`, computed once per element of this document."""
        cache: dict[int, Rating | None] | None = getattr(self, "_rating_cache", None)
        if cache is None:
            cache = {}
            self._rating_cache = cache
        k = id(d)
        if k not in cache:
            cache[k] = element_rating(d)
        return cache[k]

    def rating_in(self, el: HtmlElement) -> Rating | None:
        """The rating shown in a block: a star widget's attributes/classes/icons, a star width,
        else a short rating line ("4.5 out of 5", "★★★★☆ 4.4", "Rated 4.5")."""
        for d in el.iter():
            if not isinstance(d.tag, str):
                continue
            if d.tag in FORM_TAGS and d is not el:
                continue
            r = self.element_rating_cached(d)
            if r:
                if "review_count" not in r[1]:
                    c = COUNT_RE.search(self.text(el))
                    if c and re.sub(r"[,.]", "", c.group(1)).isdigit():
                        r = (
                            r[0],
                            {**r[1], "review_count": int(re.sub(r"[,.]", "", c.group(1)))},
                            r[2],
                        )
                return r
            if len(d) == 0 and d.text and _SCORE_LINE.fullmatch(d.text.strip()):
                r = rating_from_text(d.text)  # an element showing only "8.6/10"
                if r:
                    return r[0], r[1], d.text.strip()
            toks = " ".join(class_tokens(d))
            if re.search(r"star|rating", toks):
                style = " ".join((x.get("style") or "") for x in d.iter() if isinstance(x.tag, str))
                w = re.search(r"width\s*:\s*(\d{1,3}(?:\.\d+)?)%", style)
                if w and not rating_from_text(self.text(d)):
                    val = float(w.group(1)) / 100 * 5
                    if 0 <= val <= 5:
                        return round(val, 3), {"best_rating": 5.0, "raw_value": val}, style[:100]
        t = self.text(el)
        # only short rating-looking lines, not numbers inside descriptions; a run of lines that
        # differ only in their number ("5 stars", "4 stars"...) is a filter or a histogram
        lines = [ln for ln in el_text(el, lines=True).split("\n") if len(ln) <= 200]
        shapes = Counter(re.sub(r"\d+(?:[.,]\d+)?", "#", ln) for ln in lines)
        for line in lines:
            r = rating_from_text(line)
            if not r or shapes[re.sub(r"\d+(?:[.,]\d+)?", "#", line)] >= 3:
                continue
            if _RATING_LINE.search(line) or _SCORE_LINE.fullmatch(line):
                if "review_count" not in r[1]:
                    c = COUNT_RE.search(t)
                    if c and re.sub(r"[,.]", "", c.group(1)).isdigit():
                        r[1]["review_count"] = int(re.sub(r"[,.]", "", c.group(1)))
                return r[0], r[1], line
        return None

    def rating_signals(self, el: HtmlElement) -> int:
        """How many distinct ratings an element shows (0, 1, or 2 meaning several)."""
        values: set[float] = set()
        for d in el.iter():
            if not isinstance(d.tag, str) or d.tag in FORM_TAGS:
                continue
            r = self.element_rating_cached(d)
            if r:
                values.add(round(r[0], 2))
            if d.text and (STAR_GLYPHS.search(d.text) or RATING_RE.search(d.text)):
                r = rating_from_text(d.text)
                if r:
                    values.add(round(r[0], 2))
            if len(values) > 1:
                return 2
        return len(values)

    def excluded_ids(self) -> set[int]:
        """Elements that never hold reviews or features: code blocks and everything in them."""
        cached: set[int] | None = getattr(self, "_excluded", None)
        if cached is not None:
            return cached
        out: set[int] = set()
        for el in self.elements:  # document order: a parent is seen before its children
            parent = el.getparent()
            if (parent is not None and id(parent) in out) or code_like(el):
                out.add(id(el))
        self._excluded = out
        return out

    def review_author(self, b: HtmlElement, body_el: HtmlElement | None) -> str | None:
        """The author of a review block: an author/byline element, a cite, or a meta line."""
        for d in b.iter():
            if not isinstance(d.tag, str) or d is body_el or d is b:
                continue
            toks = set(class_tokens(d))
            if (
                toks & {"author", "reviewer", "byline", "user", "customer", "name", "meta", "by"}
                or d.get("itemprop") == "author"
                or d.tag in ("cite", "footer")
            ):
                t = self.text(d)
                for tm in d.iter("time"):
                    t = t.replace(self.text(tm), " ")
                t = DATE_TEXT.sub(" ", t)
                t = re.split(r"\s[·|•,]\s|\s[—–-]\s|,\s", norm_space(t).strip("—–-~·| "))[0]
                t = re.sub(r"^(?:by|von|par)\s+", "", t.strip("—–-~·| "), flags=re.I)
                if 1 < len(t) <= 60 and re.match(r"[^\W\d_]", t) and not rating_from_text(t):
                    return t
        return None

    def review_subject(self, b: HtmlElement, full: str) -> str | None:
        """The product a review block is about: a "Product: X" label or a known name in it."""
        for line in el_text(b, lines=True).split("\n"):
            m = re.match(
                r"^(?:product|item|model|plan|reviewed|produkt|produit|artikel)\s*:\s*(.{2,100})$",
                line,
                re.I,
            )
            if m and self.name_ok(m.group(1)):
                return norm_space(m.group(1))
        low = full.casefold()
        for name in sorted({*self.known, *self.result.names}, key=len, reverse=True):
            if len(name) >= 4 and name.casefold() in low:
                return name
        return None

    def reviews(self, subject: str | None) -> None:
        """Review facts from repeated review blocks (not in code, navigation or site chrome)."""
        seen: set[int] = set(self.excluded_ids())
        blocks: list[HtmlElement] = []
        for el in iter_elements(self.body):
            if id(el) in seen or el is self.body:
                continue
            toks = set(class_tokens(el))
            named = bool(toks & {"review", "testimonial", "comment", "feedback", "quote"}) or (
                el.get("itemprop") == "review"
            )
            if not named and el.tag != "blockquote":
                continue
            sibs = self.sibs.similar_siblings(el)
            if len(sibs) < 2 and el.get("itemprop") != "review":
                continue
            for s in sibs:
                if id(s) not in seen:
                    seen.add(id(s))
                    for d in s.iterdescendants():
                        seen.add(id(d))
                    blocks.append(s)
        # Unnamed review blocks: repeated siblings that each carry one rating and some text.
        for el in self.elements:
            if id(el) in seen or el is self.body or el.tag in ("li", "tr", "td", "a", "span"):
                continue
            sibs = self.sibs.similar_siblings(el)
            if len(sibs) < 2:
                continue
            good = [
                x
                for x in sibs
                if len(self.text(x)) >= 40
                and not any(
                    n.current and x in [n.el, *n.el.iterancestors()] for n in self.all_nodes
                )
                and self.rating_signals(x) == 1
            ]
            if len(good) >= 2 and len(good) >= 0.6 * len(sibs):
                for x in good:
                    seen.add(id(x))
                    for d in x.iterdescendants():
                        seen.add(id(d))
                    blocks.append(x)
        blocks.sort(key=lambda b: self.order.get(id(b), 0))
        for b in blocks:
            if any(id(a) in self.card_of for a in [b, *self.ancestors(b, 10)]):
                continue
            if self.in_chrome(b) and not {"review", "testimonial"} & set(class_tokens(b)):
                continue  # navigation, header, footer, sidebar
            full = self.text(b)
            if len(full) < 25 or looks_like_injection(full):
                continue
            body_el = None
            for d in b.iterdescendants():
                if not isinstance(d.tag, str) or d.tag in (*HEADINGS, "a", "time", "cite"):
                    continue
                t = self.text(d)
                if len(t) >= 0.9 * len(full) and len(d):
                    continue  # a wrapper around the whole block
                if body_el is None or len(t) > len(self.text(body_el)):
                    body_el = d
            body = self.text(body_el) if body_el is not None else full
            if len(body) < 15:
                continue
            extra: dict[str, Any] = {}
            r = self.rating_in(b)
            if r:
                extra["rating"] = r[0]
                extra["best_rating"] = 5.0
            author = self.review_author(b, body_el)
            if author:
                extra["author"] = author
            tm = b.find(".//time")
            if tm is not None:
                extra["date"] = tm.get("datetime") or self.text(tm)
            else:
                dm = DATE_TEXT.search(full)
                if dm:
                    extra["date"] = dm.group(0)
            for h in b.iter(*HEADINGS):
                if self.text(h) and self.text(h) not in body:
                    extra["title"] = self.text(h)[:200]
                    break
            subj = self.review_subject(b, full) or subject
            if not subj:
                continue
            self.result.review_blocks += 1
            self.fact(
                "review",
                subj,
                "review_sentiment_text",
                body[:2000],
                "dom_review",
                body,
                extra=extra,
            )
