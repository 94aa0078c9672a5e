"""Layout layer: tables.

Name and price columns (by header words or by cells that parse as prices), comparison tables
(products as columns: prices and one feature fact per checked cell) and review tables.
"""

from __future__ import annotations

import re
from typing import Any

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import class_tokens, el_text
from orchestration_project.research.extraction.dom_base import DomBase
from orchestration_project.research.extraction.dom_signals import (
    CROSS_TOKENS,
    DATE_TEXT,
    PRICE_HDR,
    SALARY_CONTEXT,
    looks_like_injection,
)
from orchestration_project.research.extraction.facts import norm_space
from orchestration_project.research.extraction.prices import Price, find_prices

__all__ = ["TablesMixin"]

_CHECK_TEXT = re.compile(
    r"^(?:[✓✔✅☑✔️🗸√●•+]+|yes|y|included|include|true|available|supported|on|unlimited ✓)$",
    re.IGNORECASE,
)
_CROSS_TEXT = re.compile(
    r"^(?:[✗✘×✕❌⨯–—\-]+|no|n/?a|none|false|not included|not available|unavailable|"
    r"not supported|x|off|)$",
    re.IGNORECASE,
)
_CHECK_TOKENS = frozenset(
    {"check", "checked", "checkmark", "tick", "yes", "included", "available", "icon-check", "ok"}
)
_AUTHOR_HDR = re.compile(
    r"\b(?:author|reviewer|customer|kunde|client|user|name|autor|auteur|by|von|par|reviewed by)\b",
    re.IGNORECASE,
)
_NAME_HDR = re.compile(
    r"\b(?:name|product|products|plan|plans|item|items|model|title|package|tier|service|"
    r"edition|article|artikel|produkt|produit|producto|prodotto)\b",
    re.IGNORECASE,
)


ATTRIBUTE_ROW = re.compile(
    r"\b(?:per|/)\s*(?:user|seat|member|month|mo|year|yr|hour|day|week|gb|call|request|run)s?\b"
    r"|^(?:cost|price|fee|charge|rate)s?\b",
    re.IGNORECASE,
)
"""A row label that names a quantity or a rate ("Cost per user/month on annual plans", "Flow
steps per month"): a row of a plan comparison (its columns are the products), not a product."""


QUOTA_ROW = re.compile(
    r"\b(?:steps?|calls?|requests?|runs?|minutes?|hours?|credits?|messages?|emails?|events?|"
    r"users?|seats?|members?|projects?|items?|uploads?|downloads?|views?|gb|mb|tb|api\s+calls?)"
    r"\s+(?:per|/|a|each)\s+(?:month|mo|year|yr|day|week|hour)\b",
    re.IGNORECASE,
)
"""A row label that counts an allowance per period ("Flow steps per month", "API calls /
month"): its cells are quotas, not prices."""


class TablesMixin(DomBase):
    """Product, price, feature and review facts from tables."""

    # -- tables -----------------------------------------------------------------------------
    def grid(self, table: HtmlElement) -> list[list[HtmlElement]]:
        rows: list[list[HtmlElement]] = []
        for tr in table.iter("tr"):
            # skip rows of nested tables
            if next((a for a in tr.iterancestors("table")), None) is not table:
                continue
            row: list[HtmlElement] = []
            for cell in tr:
                if cell.tag not in ("td", "th"):
                    continue
                span = cell.get("colspan") or "1"
                n = int(span) if span.isdigit() and 0 < int(span) < 20 else 1
                row.extend([cell] * n)
            if row:
                rows.append(row)
        return rows

    def cell_checked(self, cell: HtmlElement) -> bool | None:
        t = norm_space(self.text(cell))
        if t and _CHECK_TEXT.match(t):
            return True
        if _CROSS_TEXT.match(t):
            for el in cell.iter():
                if not isinstance(el.tag, str):
                    continue
                toks = set(class_tokens(el))
                label = (el.get("aria-label") or el.get("title") or el.get("alt") or "").lower()
                if toks & CROSS_TOKENS or re.search(r"not included|unavailable|\bno\b", label):
                    return False
                if toks & _CHECK_TOKENS or re.search(r"included|available|\byes\b|check", label):
                    return True
            return False
        if re.match(r"^[✓✔✅☑√]", t):
            return True
        return None

    def tables(self) -> None:
        for table in self.body.iter("table"):
            rows = self.grid(table)
            if len(rows) < 2 or looks_like_injection(self.text(table)):
                continue
            width = max(len(r) for r in rows)
            if width < 2 or table.find(".//table") is not None:
                continue  # layout tables (holding other tables) are not data
            hi = 0
            for i, r in enumerate(rows[:3]):
                if all(c.tag == "th" for c in r) or r[0].getparent().getparent().tag == "thead":
                    hi = i
                    break
            header = [self.text(c) for c in rows[hi]]
            body = rows[hi + 1 :]
            if not body:
                continue
            if SALARY_CONTEXT.search(" ".join(header)):
                continue
            hdr_price = [j for j, h in enumerate(header) if PRICE_HDR.search(h) and len(h) < 40]
            hdr_name = [j for j, h in enumerate(header) if _NAME_HDR.search(h) and len(h) < 40]
            header_has_prices = any(m.is_current for h in header[1:] for m in find_prices(h))
            row_labels = [self.text(r[0]) for r in body if r]
            price_label_rows = [
                i
                for i, lab in enumerate(row_labels)
                if PRICE_HDR.search(lab) and len(lab) < 40 and not QUOTA_ROW.search(lab)
            ]
            cells = [c for r in body for c in r[1:]]
            marks = sum(1 for c in cells if self.cell_mark(c) is not None)
            comparison = bool(
                header_has_prices or price_label_rows or (cells and marks / len(cells) >= 0.3)
            )
            if hdr_price and not comparison:
                self.table_rows(header, body, hdr_price[0], hdr_name)
            elif comparison and width >= 3 or header_has_prices or price_label_rows:
                done = self.table_columns(header, body, price_label_rows)
                if not done and hdr_price:
                    self.table_rows(header, body, hdr_price[0], hdr_name)
            elif self.table_reviews(header, body, hdr_name):
                pass
            elif width == 2:
                # two columns, no header words: name | price pairs
                col_prices = sum(
                    1 for r in body if len(r) > 1 and self.cell_price(r[1], self.currency, False)
                )
                if col_prices >= max(2, len(body) * 0.6):
                    self.table_rows(header, rows, 1, [0], header_is_data=True)

    def cell_mark(self, cell: HtmlElement) -> bool | None:
        """A check (True) or cross (False) mark in a cell; None for any other content."""
        t = norm_space(self.text(cell))
        if t and _CHECK_TEXT.match(t) and not t.isalpha():
            return True
        if t and re.fullmatch(r"[✗✘×✕❌⨯–—-]+", t):
            return False
        if t and t.lower() in ("yes", "no", "included", "not included", "ja", "nein", "oui", "non"):
            return t.lower() in ("yes", "included", "ja", "oui")
        if not t:
            for el in cell.iter():
                if not isinstance(el.tag, str) or el is cell:
                    continue
                toks = set(class_tokens(el))
                if toks & CROSS_TOKENS:
                    return False
                if toks & _CHECK_TOKENS:
                    return True
        return None

    def table_reviews(
        self, header: list[str], body: list[list[HtmlElement]], hdr_name: list[int]
    ) -> bool:
        """A table of reviews: a long-text column, a rating column, a product column."""
        width = max(len(r) for r in body)
        if width < 2 or len(body) < 2:
            return False
        cols = range(width)

        def col(j: int) -> list[HtmlElement]:
            return [r[j] for r in body if j < len(r)]

        text_col = next(
            (j for j in cols if sum(len(self.text(c)) for c in col(j)) / len(body) >= 40), None
        )
        rating_col = next(
            (
                j
                for j in cols
                if j != text_col and sum(1 for c in col(j) if self.rating_in(c)) >= 0.6 * len(body)
            ),
            None,
        )
        if text_col is None or rating_col is None:
            return False
        name_col = next((j for j in hdr_name if j not in (text_col, rating_col)), None)
        author_col = next(
            (
                j
                for j, h in enumerate(header)
                if _AUTHOR_HDR.search(h) and j not in (text_col, rating_col, name_col)
            ),
            None,
        )
        for r in body:
            if len(r) <= max(text_col, rating_col):
                continue
            text_cell = r[text_col]
            paras = [p for p in text_cell.iter("p") if self.text(p)]
            lines = el_text(text_cell, lines=True).split("\n")
            body_text = max([self.text(p) for p in paras] or lines, key=len)
            if len(body_text) < 15 or looks_like_injection(self.text(text_cell)):
                continue
            subj = None
            if name_col is not None and name_col < len(r) and self.name_ok(self.text(r[name_col])):
                subj = norm_space(self.text(r[name_col]))
            subj = subj or self.review_subject(r[0].getparent(), self.text(r[0].getparent()))
            subj = subj or self.subject_hint
            if not subj:
                continue
            extra: dict[str, Any] = {"layout": "table"}
            rr = self.rating_in(r[rating_col])
            if rr:
                extra["rating"] = rr[0]
                extra["best_rating"] = 5.0
            if author_col is not None and author_col < len(r):
                a = el_text(r[author_col], lines=True).split("\n")[0]
                a = norm_space(DATE_TEXT.sub(" ", a))
                if 1 < len(a) <= 60:
                    extra["author"] = a
            dm = DATE_TEXT.search(self.text(r[0].getparent()))
            if dm:
                extra["date"] = dm.group(0)
            if len(lines) > 1 and lines[0] != body_text and len(lines[0]) <= 120:
                extra["title"] = lines[0]
            self.result.review_blocks += 1
            self.fact(
                "review",
                subj,
                "review_sentiment_text",
                body_text[:2000],
                "dom_review",
                body_text,
                extra=extra,
            )
        return True

    def cell_price(self, cell: HtmlElement, currency: str | None, bare: bool) -> Price | None:
        t = self.text(cell)
        if not t or len(t) > 80:
            return None
        ms = [m for m in find_prices(t, default_currency=currency, bare_numbers=bare)]
        for m in ms:
            if m.is_current and self.prominent(t, m) and not self.is_struck(cell):
                struck = [d for d in cell.iter("del", "s", "strike") if m.price.raw in self.text(d)]
                if struck:
                    continue
                return m.price
        return None

    def cell_name(self, cell: HtmlElement) -> str | None:
        for el in cell.iter("a", "strong", "b", "h2", "h3", "h4", "h5", "span"):
            if el is cell:
                continue
            t = self.text(el)
            if self.name_ok(t) and len(t) >= 3 and el.tag != "span":
                return t
        lines = el_text(cell, lines=True).split("\n")
        first = lines[0] if lines else ""
        return first if self.name_ok(first) else None

    def table_rows(
        self,
        header: list[str],
        body: list[list[HtmlElement]],
        pc: int,
        name_cols: list[int],
        header_is_data: bool = False,
    ) -> None:
        hdr_currency = None
        if not header_is_data and pc < len(header):
            ms = find_prices(header[pc] + " 1", default_currency=None)
            hdr_currency = ms[0].price.currency if ms else None
            m = re.search(r"\b([A-Z]{3})\b", header[pc])
            if m and not hdr_currency:
                from orchestration_project.research.extraction.prices import normalize_currency

                hdr_currency = normalize_currency(m.group(1))
        currency = hdr_currency or self.currency
        nc = next((j for j in name_cols if j != pc), None)
        if nc is None:
            nc = next(
                (
                    j
                    for j in range(len(header))
                    if j != pc
                    and sum(1 for r in body if j < len(r) and self.cell_name(r[j]))
                    >= len(body) * 0.5
                ),
                None,
            )
        if nc is None:
            return
        for r in body:
            if len(r) <= max(pc, nc) or r[nc] is r[pc]:
                continue
            name = self.cell_name(r[nc])
            price = self.cell_price(r[pc], currency, bare=not header_is_data)
            if not name or not price or ATTRIBUTE_ROW.search(name):
                continue
            if self.allow_products:
                self.fact(
                    "product",
                    name,
                    "price",
                    price.amount,
                    "dom_table",
                    " | ".join(self.text(c) for c in r),
                    currency=price.currency or currency,
                    unit=price.unit,
                    extra={"layout": "table"},
                )
            self.result.names.append(name)
            self.result.table_products += 1
            tbl = next(r[0].iterancestors("table"), None)
            if tbl is not None:
                self.product_blocks.add(id(tbl))
            rr = self.rating_in(r[0].getparent())
            if rr:
                self.fact("rating", name, "rating", rr[0], "dom_rating", rr[2], extra=rr[1])

    def table_columns(
        self, header: list[str], body: list[list[HtmlElement]], price_rows: list[int]
    ) -> bool:
        products: dict[int, str] = {}
        header_prices: dict[int, Price] = {}
        for j, h in enumerate(header):
            if j == 0:
                continue
            t = h
            ms = find_prices(t)
            if ms:
                cur = [m for m in ms if m.is_current]
                if cur:
                    header_prices[j] = cur[0].price
                for m in ms:
                    t = t.replace(m.price.raw, " ")
                t = re.sub(r"\b(?:per|/)\s*(?:month|mo|year|yr|user)\b", " ", t, flags=re.I)
                t = norm_space(re.sub(r"\s[/|]\s*$", "", t))
            if self.name_ok(t) and not PRICE_HDR.fullmatch(t.strip()):
                products[j] = t
        if len(products) < 2:
            return False
        any_fact = False
        for j, p in header_prices.items():
            if j in products and self.allow_products:
                self.fact(
                    "product",
                    products[j],
                    "price",
                    p.amount,
                    "dom_table",
                    " | ".join(header),
                    currency=p.currency,
                    unit=p.unit,
                    extra={"layout": "comparison_table"},
                )
                any_fact = True
        for i, r in enumerate(body):
            if not r:
                continue
            label = norm_space(self.text(r[0]))
            if i in price_rows:
                unit_hint = None
                um = re.search(r"month|year|annual", label, re.I)
                if um:
                    unit_hint = "year" if um.group(0).lower() in ("year", "annual") else "month"
                for j, name in products.items():
                    if j < len(r) and r[j] is not r[0]:
                        price = self.cell_price(r[j], self.currency, bare=True)
                        if price and self.allow_products:
                            self.fact(
                                "product",
                                name,
                                "price",
                                price.amount,
                                "dom_table",
                                f"{label} | {name} | {self.text(r[j])}",
                                currency=price.currency,
                                unit=price.unit or unit_hint,
                                extra={"layout": "comparison_table"},
                            )
                            any_fact = True
                continue
            if not label or len(label) > 120 or looks_like_injection(label):
                continue
            for j, name in products.items():
                if j >= len(r) or r[j] is r[0]:
                    continue
                checked = self.cell_checked(r[j])
                if checked is True:
                    self.fact(
                        "feature",
                        name,
                        "feature",
                        label,
                        "dom_table",
                        f"{label} | {name} | {self.text(r[j]) or '✓'}",
                        extra={"layout": "comparison_table"},
                    )
                    self.result.feature_facts += 1
                    any_fact = True
                elif checked is None:
                    v = norm_space(self.text(r[j]))
                    if v and len(v) <= 60 and not find_prices(v):
                        self.fact(
                            "feature",
                            name,
                            "feature",
                            f"{label}: {v}",
                            "dom_table",
                            f"{label} | {name} | {v}",
                            extra={"layout": "comparison_table", "feature": label, "value": v},
                        )
                        self.result.feature_facts += 1
                        any_fact = True
        if any_fact:
            self.result.names.extend(products.values())
            tbl = next(body[0][0].iterancestors("table"), None) if body and body[0] else None
            if tbl is not None:
                self.product_blocks.add(id(tbl))
        return any_fact
