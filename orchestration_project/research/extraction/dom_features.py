"""Layout layer: feature lists.

List items in a product card, under a heading about features, under a heading naming a product,
in definition lists, and repeated feature cards on a features page.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import class_tokens
from orchestration_project.research.extraction.dom_base import DomBase
from orchestration_project.research.extraction.dom_signals import (
    CROSS_TOKENS,
    CTA,
    GENERIC_HEADINGS,
    HEADINGS,
    looks_like_injection,
)
from orchestration_project.research.extraction.dom_stars import in_code
from orchestration_project.research.extraction.facts import norm_space
from orchestration_project.research.extraction.prices import find_prices

__all__ = ["FeaturesMixin"]

_FEATURE_HEADING = re.compile(
    r"feature|what'?s included|includes|everything in|highlights|capabilit|key benefits|"
    r"specifications|tech specs|what you get|funktion|fonctionnalit|caracter[ií]stica|"
    r"caratteristich|leistungsmerkmale|ausstattung",
    re.IGNORECASE,
)


_MAX_FEATURES = 40  # a product's feature list is short; longer lists are indexes and catalogues


class FeaturesMixin(DomBase):
    """Feature facts from lists and sections."""

    def not_a_feature_list(self, items: list[HtmlElement]) -> bool:
        """An index rather than a product's feature list: very long, mostly bare links
        (navigation, a table of contents, a tool index), or inside code."""
        if len(items) > _MAX_FEATURES:
            return True
        if items and in_code(items[0]):
            return True
        links = 0
        for li in items:
            t = norm_space(self.text(li))
            a = next(li.iter("a"), None)
            if a is not None and t and norm_space(self.text(a)) == t:
                links += 1
        return len(items) >= 3 and links >= 0.6 * len(items)

    # -- features -------------------------------------------------------------------------------
    def is_excluded_item(self, li: HtmlElement) -> bool:
        t = self.text(li)
        if re.match(r"^\s*[✗✘×✕❌⨯]", t) or re.search(r"\bnot included\b|\bunavailable\b", t, re.I):
            return True
        for el in li.iter():
            if not isinstance(el.tag, str):
                continue
            toks = set(class_tokens(el))
            if toks & CROSS_TOKENS:
                return True
            if el.tag in ("del", "s", "strike") and norm_space(self.text(el)) == norm_space(t):
                return True
            label = (el.get("aria-label") or el.get("title") or el.get("alt") or "").lower()
            if label and re.search(r"not included|unavailable|\bno\b|excluded", label):
                return True
        return False

    def feature_text(self, el: HtmlElement) -> str | None:
        t = norm_space(self.text(el))
        t = re.sub(r"^[\s✓✔✅☑√•·*+–—-]+", "", t).strip()
        if not (2 <= len(t) <= 150) or not re.search(r"[^\W\d_]", t):
            return None
        if CTA.match(t) or looks_like_injection(t):
            return None
        ms = find_prices(t)
        if ms and self.prominent(t, ms[0]):
            return None
        return t

    def card_features(self, card: HtmlElement, name: str, price_els: list[HtmlElement]) -> None:
        for li in card.iter("li"):
            if any(
                p is li or li in p.iterancestors() or p in li.iterancestors() for p in price_els
            ):
                continue
            if li.find(".//li") is not None:
                continue
            if self.is_excluded_item(li):
                continue
            t = self.feature_text(li)
            if t:
                self.fact("feature", name, "feature", t, "dom_feature", self.text(card))
                self.result.feature_facts += 1

    def heading_lists(self, features_page: bool) -> None:
        """A heading naming a product followed by a list: the list items are its features.

        The heading must be a known product name (given by the caller or found on this page), or
        the page must be a features page (by URL/title); sections holding prices are cards, not
        feature lists.
        """
        names = {n.casefold(): n for n in (*self.known, *self.result.names)}
        main_heading = self.title_heading()
        for h in self.body.iter("h2", "h3", "h4", "h5", "h6"):
            if any(id(a) in self.card_of for a in self.ancestors(h, 10)):
                continue
            ht = norm_space(self.text(h))
            if not ht or _FEATURE_HEADING.search(ht):
                continue
            if self.in_chrome(h):
                continue
            subj = names.get(ht.casefold())
            if (
                subj is None
                and features_page
                and h is not main_heading
                and self.name_ok(ht)
                and not GENERIC_HEADINGS.match(ht)
                and len(ht) <= 80
            ):
                subj = ht
            if not subj:
                continue
            section = self.section_after(h)
            if any(find_prices(self.text(b)) for b in section):
                continue
            self.emit_features(subj, self.item_group(section), ht)

    def emit_features(self, subject: str, items: list[HtmlElement], context: str) -> None:
        if self.not_a_feature_list(items):
            return
        for li in items:
            if self.is_excluded_item(li):
                continue
            t = self.feature_text(li)
            if t:
                self.fact("feature", subject, "feature", t, "dom_list", f"{context}: {t}")
                self.result.feature_facts += 1

    def item_group(
        self, blocks: list[HtmlElement], *, marked_only: bool = False
    ) -> list[HtmlElement]:
        """The feature-like items among ``blocks``: the items of the first list, else the first
        group of at least two similar short siblings without prices or headings.

        With ``marked_only`` only groups whose items start with a check mark or whose classes
        say feature/benefit/badge/tag/chip/pill qualify (used inside a product block, where other
        repeated elements abound).
        """
        if not marked_only:
            for blk in blocks:
                for x in [blk, *blk.iterdescendants("ul", "ol")]:
                    if x.tag in ("ul", "ol"):
                        items = [li for li in x.iter("li") if li.find(".//li") is None]
                        if items:
                            return items
        for blk in blocks:
            for x in [blk, *blk.iterdescendants()]:
                if not isinstance(x.tag, str) or x.tag in ("a", "br", "img", "button", "dt", "dd"):
                    continue
                sibs = self.sibs.similar_siblings(x)
                if len(sibs) < 2:
                    continue
                texts = [self.text(s) for s in sibs]
                if not all(0 < len(t) <= 100 for t in texts):
                    continue
                if any(find_prices(t) for t in texts) or any(
                    s.find(".//h1") is not None or s.tag in HEADINGS for s in sibs
                ):
                    continue
                if marked_only:
                    marked = all(re.match(r"^\s*[✓✔✅☑√]", t) for t in texts) or bool(
                        set(class_tokens(x))
                        & {
                            "feature",
                            "features",
                            "benefit",
                            "badge",
                            "tag",
                            "chip",
                            "pill",
                            "highlight",
                            "spec",
                            "usp",
                        }
                    )
                    if not marked:
                        continue
                return sibs
        return []

    def feature_cards(self) -> None:
        """On a features page: repeated blocks, each a product name plus its feature items."""
        done: set[int] = set()
        for el in self.elements:
            if id(el) in done or el.tag in ("li", "a", "span", "tr", "td", "dt", "dd"):
                continue
            sibs = self.sibs.similar_siblings(el)
            if len(sibs) < 2:
                continue
            for b in sibs:
                done.add(id(b))
                if find_prices(self.text(b)) or len(self.text(b)) > 1500 or self.in_chrome(b):
                    continue
                cands = [c for c in self.name_candidates(b, None) if c[0] >= 1]
                if not cands:
                    continue
                name = min(cands, key=lambda c: (-c[0], c[1]))[2]
                if not self.text(b).startswith(name):
                    continue  # the name opens a feature card
                if GENERIC_HEADINGS.match(name) or _FEATURE_HEADING.search(name):
                    continue
                items = [i for i in self.item_group(list(b)) if norm_space(self.text(i)) != name]
                if len(items) >= 2:
                    self.emit_features(name, items, name)

    def dl_features(self, subject: str | None, features_page: bool) -> None:
        """``<dt>Features</dt><dd>a, b, c</dd>`` and ``<dt>Product</dt><dd>feature</dd>...``."""
        names = {n.casefold(): n for n in (*self.known, *self.result.names)}
        for dl in self.body.iter("dl"):
            group: list[tuple[HtmlElement, list[HtmlElement]]] = []
            for c in dl:
                if c.tag == "dt":
                    group.append((c, []))
                elif c.tag == "dd" and group:
                    group[-1][1].append(c)
            for dt, dds in group:
                label = norm_space(self.text(dt))
                if _FEATURE_HEADING.search(label) and subject and len(dds) == 1:
                    for item in re.split(r"\s*[,;•·]\s*", self.text(dds[0])):
                        t = item.strip(" .")
                        if 2 <= len(t) <= 80 and re.search(r"[^\W\d_]", t):
                            self.fact("feature", subject, "feature", t, "dom_list", f"{label}: {t}")
                            self.result.feature_facts += 1
                    continue
                subj = names.get(label.casefold())
                if subj is None and features_page and len(dds) >= 2 and self.name_ok(label):
                    subj = label
                if subj and len(dds) >= 2 and not any(find_prices(self.text(d)) for d in dds):
                    self.emit_features(subj, dds, label)

    def section_after(self, heading: HtmlElement) -> list[HtmlElement]:
        """Elements following a heading up to the next heading of the same or higher level."""
        level = int(heading.tag[1]) if heading.tag in HEADINGS else 2
        anchor = heading
        # a heading alone in a header wrapper: the section follows the wrapper
        while (
            anchor.getparent() is not None
            and anchor.getparent() is not self.body
            and len([c for c in anchor.getparent() if isinstance(c.tag, str)]) <= 2
            and anchor.getnext() is None
        ):
            anchor = anchor.getparent()
        out = []
        sib = anchor.getnext()
        while sib is not None:
            if isinstance(sib.tag, str):
                hs = [h for h in sib.iter(*HEADINGS)]
                if sib.tag in HEADINGS and int(sib.tag[1]) <= level:
                    break
                if hs and any(int(h.tag[1]) <= level for h in hs):
                    break
                out.append(sib)
            sib = sib.getnext()
        return out

    def section_features(self, subject: str | None) -> None:
        for h in self.body.iter(*HEADINGS):
            ht = self.text(h)
            if not _FEATURE_HEADING.search(ht) or len(ht) > 80:
                continue
            if any(id(a) in self.card_of for a in self.ancestors(h, 10)) or self.in_chrome(h):
                continue
            subj = subject
            m = re.search(r"(?:features of|features for|included in)\s+(.+)$", ht, re.I)
            if m and self.name_ok(m.group(1)):
                subj = m.group(1)
            if not subj:
                continue
            section = self.section_after(h)
            subheads = [x for block in section for x in block.iter("h3", "h4", "h5", "h6", "dt")]
            nested = any(len(self.item_group(self.section_after(x))) >= 2 for x in subheads)
            if nested:
                continue  # product headings each followed by their own items: not one product
            for block in section:
                items = [block] if block.tag == "li" else list(block.iter("li"))
                if not items:
                    items = [x for x in block.iter("h3", "h4", "h5", "dt")]
                if self.not_a_feature_list(items):
                    continue
                for li in items:
                    if li.find(".//li") is not None or self.is_excluded_item(li):
                        continue
                    if any(id(a) in self.card_of for a in self.ancestors(li, 10)):
                        continue
                    t = self.feature_text(li)
                    if t:
                        self.fact("feature", subj, "feature", t, "dom_list", ht + ": " + t)
                        self.result.feature_facts += 1
