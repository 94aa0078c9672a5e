"""The competitor matrix: one row per competitor product, pivoted from the resolved facts.

Price, currency, unit and rating come from the resolved facts; features and review sentiment,
which have many values per product, are aggregated from the extracted facts. Each site is named
by its brand, read from its own page titles.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from orchestration_project.research.fact_rows import REVIEW_TEXT, subject_key

__all__ = ["CompetitorMatrix", "build_competitor_matrix", "duplicate_products", "site_brands"]

_TITLE_SEPARATORS = r"\s*(?:\|+|::|–|—|·|»|:|\s-\s)\s*"


def site_brands(snapshots: pd.DataFrame) -> dict[str, str]:
    """A display name per site: the title segment shared by most of its pages' titles (sites
    put their name in every title: "Pricing | Acme", "Acme – Blog").

    Args:
        snapshots: page snapshots (``site`` and ``title`` columns).

    Returns:
        site -> brand; the site's host when no segment of 2–40 characters appears in at least
        two titles (ties: the shorter segment).
    """
    out = {}
    for site, pages in snapshots.groupby("site"):
        counts: dict[str, int] = defaultdict(int)
        for title in pages["title"].dropna():
            for part in {p.strip() for p in re.split(_TITLE_SEPARATORS, str(title))}:
                if 1 < len(part) <= 40:
                    counts[part] += 1
        best = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])), default=None)
        out[site] = best[0] if best and best[1] >= 2 else site.split("//")[-1]
    return out


@dataclass(frozen=True)
class CompetitorMatrix:
    """The matrix and the features it tracks.

    Attributes:
        frame: one row per (site, product), sorted by brand and product: ``site``, ``brand``,
            ``product``, ``price``, ``currency``, ``unit``, ``price_confidence``, ``rating``,
            ``n_features``, ``reviews``, ``sentiment`` and one boolean ``feature:<name>``
            column per feature.
        features: the tracked feature names (lower case), sorted.
    """

    frame: pd.DataFrame
    features: list[str]


def build_competitor_matrix(
    resolved_facts: pd.DataFrame, extracted_facts: pd.DataFrame, brands: Mapping[str, str]
) -> CompetitorMatrix:
    """Pivot resolved facts into one row per product, with its features and review sentiment.

    Args:
        resolved_facts: one decided value per (site, product, attribute).
        extracted_facts: accepted fact rows (features, and reviews with ``extra["sentiment"]``
            as JSON); facts about products not in ``resolved_facts`` are ignored.
        brands: site -> display name (see :func:`site_brands`); a missing site names itself.

    Returns:
        The matrix (``sentiment`` is the mean review sentiment, None without reviews).
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in resolved_facts.itertuples():
        key = (r.site, subject_key(r.subject))
        row = rows.setdefault(
            key, {"site": r.site, "brand": brands.get(r.site, r.site), "product": r.subject}
        )
        if r.attribute == "price":
            row.update(
                price=r.value_num, currency=r.currency, unit=r.unit, price_confidence=r.confidence
            )
        elif r.attribute == "rating":
            row["rating"] = r.value_num
    features: dict[tuple[str, str], set[str]] = defaultdict(set)
    sentiments: dict[tuple[str, str], list[float]] = defaultdict(list)
    for f in extracted_facts.itertuples():
        key = (f.site, subject_key(f.subject))
        if key not in rows:
            continue
        if f.attribute == "feature":
            features[key].add(str(f.value).strip().lower())
        elif f.attribute == REVIEW_TEXT:
            s = json.loads(f.extra or "{}").get("sentiment")
            if s is not None:
                sentiments[key].append(float(s))
    all_features = sorted({x for s in features.values() for x in s})
    for key, row in rows.items():
        row["n_features"] = len(features[key])
        row["reviews"] = len(sentiments[key])
        row["sentiment"] = sum(sentiments[key]) / len(sentiments[key]) if sentiments[key] else None
        for feat in all_features:
            row[f"feature:{feat}"] = feat in features[key]
    df = pd.DataFrame(list(rows.values()))
    for col in ("price", "currency", "unit", "rating", "price_confidence"):
        if col not in df.columns:
            df[col] = None
    df = df.sort_values(["brand", "product"]).reset_index(drop=True)
    return CompetitorMatrix(frame=df, features=all_features)


def duplicate_products(matrix: pd.DataFrame) -> int:
    """How many rows repeat a (site, product) pair of an earlier row (0 for an empty matrix)."""
    return int(matrix.duplicated(["site", "product"]).sum()) if len(matrix) else 0
