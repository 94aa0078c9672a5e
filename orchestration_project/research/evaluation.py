"""Scoring extraction against a ground truth: precision and recall of products and prices."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


def normalise_name(name: str) -> str:
    """Case, punctuation and whitespace-insensitive form of a product name."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", str(name).lower())).strip()


@dataclass
class Score:
    """Precision and recall of one comparison."""

    true_positives: int
    predicted: int
    expected: int

    @property
    def precision(self) -> float:
        """Share of predictions that are right (1.0 when nothing was predicted)."""
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Share of the truth that was found."""
        return self.true_positives / self.expected if self.expected else 1.0

    def as_dict(self) -> dict[str, Any]:
        """For printing."""
        return {
            "tp": self.true_positives,
            "predicted": self.predicted,
            "expected": self.expected,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def score_products(
    predicted: Iterable[dict[str, Any]], expected: Iterable[dict[str, Any]]
) -> dict[str, Score]:
    """Compare rows with keys site, name, price, currency.

    ``products``: (site, name) pairs; ``prices``: (site, name, price rounded to cents, currency).
    """

    def keys(rows: Iterable[dict[str, Any]]) -> tuple[set, set]:
        prods, prices = set(), set()
        for r in rows:
            k = (str(r["site"]), normalise_name(r["name"]))
            prods.add(k)
            if r.get("price") is not None:
                prices.add((*k, round(float(r["price"]), 2), (r.get("currency") or "").upper()))
        return prods, prices

    p_prod, p_price = keys(predicted)
    e_prod, e_price = keys(expected)
    return {
        "products": Score(len(p_prod & e_prod), len(p_prod), len(e_prod)),
        "prices": Score(len(p_price & e_price), len(p_price), len(e_price)),
    }
