"""Layout layer: definition lists (``dt`` name, ``dd`` price) and parallel columns.

Parallel columns: a block of repeated name-only items next to a block of as many price-only
items is zipped in order.
"""

from __future__ import annotations

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom_base import DomBase, PriceNode
from orchestration_project.research.extraction.dom_signals import PRICE_HDR
from orchestration_project.research.extraction.prices import find_prices

__all__ = ["ListsMixin"]


class ListsMixin(DomBase):
    """Prices from definition lists and parallel columns."""

    # -- definition lists and parallel columns --------------------------------------------------
    def definition_lists(self) -> None:
        for dl in self.body.iter("dl"):
            dts = [c for c in dl if c.tag == "dt"]
            if len(dts) < 2:
                continue
            for dt in dts:
                dd = dt.getnext()
                while dd is not None and not isinstance(dd.tag, str):
                    dd = dd.getnext()
                if dd is None or dd.tag != "dd":
                    continue
                name = self.text(dt)
                if PRICE_HDR.search(name) or not self.name_ok(name):
                    continue
                price = self.cell_price(dd, self.currency, bare=False)
                if price is None:
                    inner = [
                        n
                        for n in self.all_nodes
                        if n.current and (n.el is dd or dd in n.el.iterancestors())
                    ]
                    if len(inner) == 1:
                        price = inner[0].price
                        self.used_prices.add(id(inner[0].el))
                if price:
                    self.product_blocks.add(id(dl))
                    for n in self.all_nodes:
                        if n.el is dd or dd in n.el.iterancestors():
                            self.used_prices.add(id(n.el))
                if price and self.allow_products:
                    self.fact(
                        "product",
                        name,
                        "price",
                        price.amount,
                        "dom_list",
                        f"{name}: {self.text(dd)}",
                        currency=price.currency,
                        unit=price.unit,
                        extra={"layout": "definition_list"},
                    )
                    self.result.names.append(name)

    def parallel_columns(self, nodes: list[PriceNode]) -> None:
        unused = {id(n.el): n for n in nodes if n.current and id(n.el) not in self.used_prices}
        if len(unused) < 2:
            return
        parents: dict[int, HtmlElement] = {}
        for n in unused.values():
            p = n.el.getparent()
            if p is not None:
                parents[id(p)] = p
        for col in parents.values():
            items = [c for c in col if isinstance(c.tag, str)]
            if len(items) < 2 or not all(id(c) in unused for c in items):
                continue
            # the sibling block with as many name-only items
            for other in (col.getprevious(), col.getnext()):
                if other is None or not isinstance(other.tag, str):
                    continue
                entries = [c for c in other if isinstance(c.tag, str)]
                if len(entries) != len(items):
                    continue
                names = []
                for e in entries:
                    if find_prices(self.text(e)) or len(self.sibs.similar_siblings(e)) < 2:
                        names = []
                        break
                    cands = self.name_candidates(e, None)
                    cands = [c for c in cands if c[0] >= 3]
                    if not cands:
                        names = []
                        break
                    names.append(min(cands, key=lambda c: (-c[0], c[1]))[2])
                if not names:
                    continue
                for nm, it in zip(names, items, strict=True):
                    pn = unused[id(it)]
                    self.used_prices.add(id(it))
                    if self.allow_products:
                        self.fact(
                            "product",
                            nm,
                            "price",
                            pn.price.amount,
                            "dom_columns",
                            f"{nm} … {pn.text}",
                            currency=pn.price.currency,
                            unit=pn.price.unit,
                            extra={"layout": "parallel_columns"},
                        )
                break
